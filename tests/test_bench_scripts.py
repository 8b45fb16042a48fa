"""Every ``bench/`` script starts as documented (``python bench/NAME.py``) from any folder: nothing it needs
depends on the repository being on ``PYTHONPATH``."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

SCRIPTS = sorted(p.name for p in (REPO / "bench").glob("*.py"))


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


@pytest.mark.parametrize("script", SCRIPTS)
def test_bench_script_starts_as_documented(script, tmp_path):
    r = subprocess.run([sys.executable, str(REPO / "bench" / script), "--help"], capture_output=True, text=True,
                       cwd=tmp_path, env=_env(), timeout=300)
    assert r.returncode == 0, r.stderr
    assert "usage:" in r.stdout


def test_isaac_parity_finds_the_harness_without_pythonpath(tmp_path):
    """The Isaac Lab side of bench/isaac_parity.py runs on the tests' harness: its environment is built without
    the checkout on PYTHONPATH (a fresh clone's ``python bench/isaac_parity.py``)."""
    code = ("import json, runpy, sys; m = runpy.run_path(sys.argv[1]); "
            "print(json.dumps(m['harness_env']('2.3.2.post1', {'PATH': '/usr/bin'})[1]))")
    r = subprocess.run([sys.executable, "-c", code, str(REPO / "bench" / "isaac_parity.py")], capture_output=True,
                       text=True, cwd=tmp_path, env=_env(), timeout=300)
    assert r.returncode == 0, r.stderr
    env = json.loads(r.stdout)
    parts = env["PYTHONPATH"].split(os.pathsep)
    assert parts[0].endswith("tests/backends/isaaclab/harness/site") and str(REPO) in parts
    assert env["MIMICFORGE_ISAAC_HARNESS"] and env["PATH"] == "/usr/bin"
