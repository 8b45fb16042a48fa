"""One engine resolver and dispatch: ENGINE=auto means the same everywhere; settings an engine cannot honour."""

from __future__ import annotations

import logging

import pytest

from mimicforge.backends import isaaclab_available, resolve_engine
from mimicforge.config import check_engine, load_config
from mimicforge.errors import ConfigError
from mimicforge.run import dispatch


def test_auto_is_isaac_lab_only_where_it_is_importable():
    assert resolve_engine("auto") == ("isaaclab" if isaaclab_available() else "mujoco")
    cfg = load_config(env={})
    assert dispatch.choose_engine(cfg) == resolve_engine("auto")


@pytest.mark.parametrize("env, engine, named", [
    ({"NUM_ENVS": "4"}, "mujoco", "NUM_ENVS=4"),
    ({"SETTLE_STEPS": "5"}, "isaaclab", "SETTLE_STEPS=5"),
    ({"CAMERA_WIDTH": "640"}, "isaaclab", "CAMERA_WIDTH=640"),
])
def test_a_setting_the_engine_cannot_honour_is_named(env, engine, named):
    cfg = load_config(env=env)
    with pytest.raises(ConfigError, match=f"^{named} cannot apply on the {engine} engine"):
        check_engine(cfg, engine)


@pytest.mark.parametrize("env", [{"WORKERS": "2"}, {"RAY": "1"}, {"WORKERS": "2", "DEVICES": "cuda:0,cuda:1"}])
def test_workers_and_ray_are_settings_of_both_engines(env):
    """On Isaac Lab each worker (or Ray task) is one Kit process (backends.isaaclab.workers)."""
    for engine in ("mujoco", "isaaclab"):
        assert check_engine(load_config(env=env), engine) == ([] if engine == "isaaclab" or "DEVICES" not in env
                                                              else ["DEVICES=cuda:0,cuda:1 has no effect on the "
                                                                    "mujoco engine; ignored"])


def test_harmless_ones_are_one_warning_line(caplog):
    cfg = load_config(env={"ISAAC_PARITY": "1", "CAMERA_MESH_DETAIL": "0.5", "ENGINE": "isaaclab"})
    with caplog.at_level(logging.WARNING):
        assert dispatch.choose_engine(cfg) == "isaaclab"
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["ISAAC_PARITY=1 has no effect on the isaaclab engine; ignored",
                     "CAMERA_MESH_DETAIL=0.5 has no effect on the isaaclab engine; ignored"]
    assert check_engine(load_config(env={"NUM_ENVS": "1"}), "mujoco") == []  # defaults are fine everywhere


def test_cli_refuses_what_the_engine_cannot_do_in_one_line(cli, real_dataset, tmp_path):
    out = tmp_path / "g.hdf5"
    r = cli("generate", "--input", str(real_dataset), "--output", str(out), "--engine", "mujoco", "--num-envs", "8")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "NUM_ENVS=8 cannot apply on the mujoco engine" in r.stderr and not out.exists()
    if not isaaclab_available():
        r = cli("generate", "--input", str(real_dataset), "--output", str(out), "--engine", "isaaclab")
        assert r.returncode == 2 and "standalone/generate.py" in r.stderr and not out.exists()


def test_config_check_names_what_the_engine_cannot_do(cli):
    r = cli("config", "--check", env={"ENGINE": "mujoco", "NUM_ENVS": "4"})
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith("mimicforge: error: NUM_ENVS=4 cannot apply on the mujoco engine")
    for engine in ("isaaclab", "mujoco"):  # several workers are both engines' (Isaac Lab: one Kit process each)
        assert cli("config", "--check", env={"ENGINE": engine, "WORKERS": "4"}).returncode == 0


@pytest.mark.parametrize("env", [{"WORKERS": "2"}, {"RAY": "1"}])
def test_the_one_process_loop_refuses_settings_for_several(env, real_dataset, tmp_path):
    """Settings for workers or Ray must reach the dispatch: the one-process loop given them would quietly run on
    one core (a benchmark once measured '2 workers' that way)."""
    from mimicforge.run.generate import run_generation

    out = tmp_path / "g.hdf5"
    cfg = load_config(env={"INPUT_FILE": str(real_dataset), "OUTPUT_FILE": str(out), "NUM_TRIALS": "1", **env})
    with pytest.raises(ValueError, match="run.dispatch.generate"):
        run_generation(cfg)
    assert not out.exists()
