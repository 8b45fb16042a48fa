"""launch.sh run for real: its checks, what it starts per MODE / ENGINE, and its signal and exit-status
handling around Isaac Sim's python.sh. Where Isaac Sim would be needed, a FAKE ``python.sh`` stands in for
Isaac Sim's (a bash wrapper that runs Python without ``exec``, as the real one does) and a fake generator
stands in for standalone/generate.py; launch.sh itself and mimicforge's checks are real."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.docker.tools import REPO

LAUNCH = str(REPO / "launch.sh")
pytestmark = pytest.mark.timeout(120)


def launch(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    base = {"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "HOME": os.environ.get("HOME", "/tmp"),
            "MIMICFORGE_PYTHON": sys.executable}
    return subprocess.run([LAUNCH, *args], env={**base, **env}, capture_output=True, text=True, timeout=timeout,
                          cwd=REPO)


def one_error_line(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    return lines[0]


@pytest.mark.parametrize("mode", ["bogus", "Standalone", "notebook"])
def test_bad_mode_lists_the_valid_values(mode):
    t0 = time.monotonic()
    line = one_error_line(launch({"MODE": mode}))
    assert line == f"launch.sh: error: MODE='{mode}' is not valid; valid values: standalone, jupyter"
    assert time.monotonic() - t0 < 5  # nothing slow was started


@pytest.mark.parametrize("value", ["ten", "0", "-1", "1.5", "5 6"])
def test_bad_num_trials(value):
    line = one_error_line(launch({"MODE": "standalone", "NUM_TRIALS": value}))
    assert line == f"launch.sh: error: NUM_TRIALS='{value}': expected a positive integer, e.g. NUM_TRIALS=10"


@pytest.mark.parametrize(("var", "value", "expected"), [
    ("SEED", "-3", "SEED='-3': expected an integer in [0, 9223372036854775807]"),
    ("KEEP_FAILED", "maybe", "KEEP_FAILED='maybe': expected a boolean"),
    ("MODALITIES", "rgb,xray", "MODALITIES='rgb,xray': expected a comma-separated list of rgb, depth"),
    ("ON_EXISTING", "clobber", "ON_EXISTING='clobber': expected one of error, resume, overwrite"),
    ("OUTPUT_FILE", "out.csv", "output file 'out.csv' must end in .hdf5"),
    ("ENGINE", "gpu", "ENGINE='gpu': expected one of auto, mujoco, isaaclab"),
    ("JUPYTER_PORT", "70000", "JUPYTER_PORT='70000': expected a port number in [1, 65535]"),
    ("JUPYTER_PASSWORD_HASH", "hunter2", "JUPYTER_PASSWORD_HASH must be a hash"),
])
def test_other_bad_settings_fail_fast_with_one_line(var, value, expected):
    line = one_error_line(launch({"MODE": "standalone", var: value}))
    assert expected in line


def test_standalone_twin_runs_the_generator_unbuffered():
    r = launch({"MODE": "standalone", "NUM_TRIALS": "5", "ENGINE": "mujoco", "LAUNCH_DRY_RUN": "1"}, "--json")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"launch.sh: would run: {sys.executable} -u -m mimicforge generate --json"


def test_jupyter_prints_a_token_and_binds_inside_the_container_only():
    r = launch({"LAUNCH_DRY_RUN": "1", "ENGINE": "mujoco"})
    assert r.returncode == 0, r.stderr
    url = [line for line in r.stderr.splitlines() if "token=" in line]
    assert len(url) == 1 and len(url[0].split("token=")[1]) == 48
    assert "-m jupyter lab --no-browser --ServerApp.ip=0.0.0.0 --ServerApp.port=8888" in r.stdout
    given = launch({"LAUNCH_DRY_RUN": "1", "ENGINE": "mujoco", "JUPYTER_TOKEN": "x" * 20})
    assert "token=" + "x" * 20 in given.stderr
    hashed = launch({"LAUNCH_DRY_RUN": "1", "ENGINE": "mujoco", "JUPYTER_PASSWORD_HASH": "argon2:$argon2id$v=19$abc"})
    assert "token=" not in hashed.stderr
    assert "--PasswordIdentityProvider.hashed_password=argon2:\\$argon2id\\$v=19\\$abc" in hashed.stdout


# ------------------------------------------------------------------------------------------ Isaac engine
FAKE_PYTHON_SH = """#!/usr/bin/env bash
# FAKE Isaac Sim python.sh: sets up the environment and runs Python without exec, as the real one does.
set -e
export PYTHONPATH="{stub}${{PYTHONPATH:+:$PYTHONPATH}}"
args=()
for a in "$@"; do
  if [[ "$a" == */standalone/generate.py ]]; then args+=("{generator}"); else args+=("$a"); fi
done
"{python}" "${{args[@]}}"
"""

FAKE_GENERATOR = """
import os, signal, sys, time
from pathlib import Path

here = Path(os.environ["FAKE_DIR"])
def finish_attempt(signum, frame):
    time.sleep(1.0)                       # the attempt in progress completes
    (here / "finished").write_text(str(signum))
    Path(os.environ["MIMICFORGE_STATUS_FILE"]).write_text("143\\n")
    sys.exit(0)                           # Kit's fast shutdown ends the process with 0
signal.signal(signal.SIGTERM, finish_attempt)
(here / "args").write_text(" ".join(sys.argv[1:]))
if os.environ.get("FAKE_STATUS"):
    Path(os.environ["MIMICFORGE_STATUS_FILE"]).write_text(os.environ["FAKE_STATUS"] + "\\n")
    sys.exit(0)
(here / "ready").write_text("1")
time.sleep(60)
"""


@pytest.fixture
def fake_isaac(tmp_path: Path) -> dict[str, str]:
    stub = tmp_path / "site"
    (stub / "isaaclab_mimic").mkdir(parents=True)
    (stub / "isaaclab_mimic" / "__init__.py").write_text("")
    generator = tmp_path / "fake_generator.py"
    generator.write_text(FAKE_GENERATOR)
    python_sh = tmp_path / "python.sh"
    python_sh.write_text(FAKE_PYTHON_SH.format(stub=stub, generator=generator, python=sys.executable))
    python_sh.chmod(0o755)
    return {"ISAACSIM_PYTHON": str(python_sh), "FAKE_DIR": str(tmp_path)}


def test_auto_engine_picks_isaac_lab_where_importable(fake_isaac):
    r = launch({**fake_isaac, "MODE": "standalone", "LAUNCH_DRY_RUN": "1"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == (f"launch.sh: would run: {fake_isaac['ISAACSIM_PYTHON']} -u "
                                f"{REPO}/standalone/generate.py")
    twin = launch({**fake_isaac, "MODE": "standalone", "ENGINE": "mujoco", "LAUNCH_DRY_RUN": "1"})
    assert "-m mimicforge generate" in twin.stdout
    missing = launch({"MODE": "standalone", "ENGINE": "isaaclab", "ISAACSIM_PYTHON": "/nonexistent/python.sh"})
    assert "ENGINE=isaaclab but Isaac Lab is not importable here" in one_error_line(missing)


def test_status_written_by_the_generator_wins_over_kits_exit_0(fake_isaac):
    r = launch({**fake_isaac, "MODE": "standalone", "FAKE_STATUS": "1"}, "--num-trials", "3")
    assert r.returncode == 1, r.stderr
    assert Path(fake_isaac["FAKE_DIR"], "args").read_text() == "--num-trials 3"


def test_sigterm_reaches_python_through_python_sh_and_is_waited_for(fake_isaac):
    env = {"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "HOME": "/tmp", **fake_isaac,
           "MODE": "standalone", "MIMICFORGE_PYTHON": sys.executable}
    proc = subprocess.Popen([LAUNCH], env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ready = Path(fake_isaac["FAKE_DIR"], "ready")
    deadline = time.monotonic() + 30
    while not ready.exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err
    # launch.sh returned only after Python had finished its attempt (not when the wrapper died)
    assert Path(fake_isaac["FAKE_DIR"], "finished").read_text() == str(int(signal.SIGTERM))
