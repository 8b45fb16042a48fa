"""standalone/generate.py's entry (``mimicforge.standalone.main``): exit codes, the status file for
launch.sh, and Kit closed last. Isaac Sim is replaced by the FAKE boundary of ``fake_isaac``. A generator that
dies inside NVIDIA's real ``DataGenerator`` (exit 1, one line) is tested in ``test_real_mimic.py``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mimicforge import standalone
from mimicforge.backends.isaaclab import kit
from tests.backends.isaaclab.fake_isaac import Attempt, FakeIsaac

pytestmark = pytest.mark.timeout(60)
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def fake(monkeypatch):
    made: list[FakeIsaac] = []

    def install(*attempts: Attempt) -> list[FakeIsaac]:
        def factory() -> FakeIsaac:
            made.append(FakeIsaac("2.3", attempts))
            return made[-1]

        monkeypatch.setattr(kit, "RealIsaac", factory)
        return made

    return install


def args(tmp_path: Path, real_dataset: Path, *extra: str) -> list[str]:
    return ["--input", str(real_dataset), "--output", str(tmp_path / "gen.hdf5"), "--device", "cpu", "--engine",
            "isaaclab", *extra]


def test_success_writes_status_0_and_closes_kit_last(fake, tmp_path, real_dataset, monkeypatch):
    made = fake(Attempt(), Attempt())
    status = tmp_path / "status"
    monkeypatch.setenv(standalone.STATUS_FILE_ENV, str(status))
    assert standalone.main(args(tmp_path, real_dataset, "--num-trials", "2")) == 0
    assert status.read_text() == "0\n"
    isaac = made[0]
    assert isaac.log[-1] == ("close_app", 0)  # after the run, outputs already closed
    assert (tmp_path / "gen.hdf5").is_file()
    assert not (tmp_path / ".gen.isaaclab").exists() and not (tmp_path / ".gen.hdf5.shadow").exists()


def test_bad_input_fails_before_kit_starts(fake, tmp_path, real_dataset):
    made = fake()
    assert standalone.main(args(tmp_path, real_dataset, "--num-trials", "0")) == 2
    assert standalone.main(["--input", str(tmp_path / "missing.hdf5")]) == 2
    assert made == []  # no simulator was launched


def test_script_is_thin_and_imports_nothing_heavy():
    code = ("import sys, runpy; sys.argv = ['standalone/generate.py', '--num-trials', 'zero']\n"
            "try:\n    runpy.run_path('standalone/generate.py', run_name='__main__')\n"
            "except SystemExit as e:\n    print('exit', e.code)\n"
            "heavy = [m for m in sys.modules if m.split('.')[0] in "
            "('isaaclab', 'isaaclab_mimic', 'isaacsim', 'omni', 'torch', 'nest_asyncio', 'gymnasium')]\n"
            "print('heavy', heavy)")
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert "exit 2" in r.stdout and "heavy []" in r.stdout, r.stdout + r.stderr
    assert r.stderr.strip() == "standalone/generate.py: error: --num-trials 'zero': expected a positive integer, " \
                               "e.g. --num-trials 10"


def test_plain_process_gets_no_nest_asyncio():
    code = ("import asyncio, sys\nfrom mimicforge.backends.isaaclab import prepare_event_loop\n"
            "print(prepare_event_loop(), 'nest_asyncio' in sys.modules)\n"
            "print(asyncio.get_event_loop().run_until_complete(asyncio.sleep(0, 'ok')))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.stdout.split() == ["False", "False", "ok"], r.stderr
