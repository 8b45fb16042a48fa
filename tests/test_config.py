from __future__ import annotations

from pathlib import Path

import pytest

from mimicforge.config import RunConfig, from_toml_text, load_config, to_toml
from mimicforge.errors import ConfigError


def test_defaults():
    cfg = load_config(env={})
    assert cfg.generation.num_trials == 10 and cfg.generation.stop_on == "successes"
    assert cfg.generation.select_source == "per_subtask" and cfg.on_existing == "error"
    assert cfg.workers.workers == 1 and cfg.cameras.cameras == ()


def test_precedence_flags_over_env_over_file(tmp_path):
    run = tmp_path / "run.toml"
    run.write_text('[generation]\nnum_trials = 7\nseed = 3\nkeep_failed = true\n[cameras]\ncameras = ["table_cam"]\n')
    cfg = load_config(config_file=run, env={})
    assert (cfg.generation.num_trials, cfg.generation.seed, cfg.generation.keep_failed) == (7, 3, True)
    cfg = load_config(config_file=run, env={"NUM_TRIALS": "12", "SEED": "9"})
    assert (cfg.generation.num_trials, cfg.generation.seed) == (12, 9)
    cfg = load_config(config_file=run, env={"NUM_TRIALS": "12"}, flags={"num_trials": 20, "seed": None})
    assert (cfg.generation.num_trials, cfg.generation.seed) == (20, 3)
    assert cfg.cameras.cameras == ("table_cam",)


def test_empty_env_var_means_unset():
    assert load_config(env={"NUM_TRIALS": ""}).generation.num_trials == 10


@pytest.mark.parametrize("value", ["0", "-3", "ten", "2.5", "1e3", "5 demos"])
def test_bad_num_trials_quoted(value):
    with pytest.raises(ConfigError) as exc:
        load_config(env={"NUM_TRIALS": value})
    assert f"NUM_TRIALS={value!r}" in str(exc.value) and "positive integer" in str(exc.value)


def test_bad_values_name_their_origin(tmp_path):
    with pytest.raises(ConfigError, match=r"--num-trials 0: expected a positive integer, e.g. --num-trials 10"):
        load_config(env={}, flags={"num_trials": 0})
    with pytest.raises(ConfigError, match=r"ENGINE='gpu': expected one of auto, mujoco, isaaclab"):
        load_config(env={"ENGINE": "gpu"})
    with pytest.raises(ConfigError, match=r"MODALITIES='rgb,xray': expected a comma-separated list of rgb"):
        load_config(env={"MODALITIES": "rgb,xray"})
    with pytest.raises(ConfigError, match=r"CAMERA_MESH_DETAIL='2'"):
        load_config(env={"CAMERA_MESH_DETAIL": "2"})
    assert load_config(env={"CAMERA_MESH_DETAIL": "1"}).cameras.mesh_detail == 1.0
    bad = tmp_path / "bad.toml"
    bad.write_text("[generation]\nnum_trails = 4\n")
    with pytest.raises(ConfigError, match=r"unknown key 'num_trails' in \[generation\]"):
        load_config(config_file=bad, env={})
    bad.write_text("[generation\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(config_file=bad, env={})
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(config_file=tmp_path / "none.toml", env={})


def test_consistency_checks():
    with pytest.raises(ConfigError, match="same file"):
        load_config(env={"INPUT_FILE": "datasets/x.hdf5", "OUTPUT_FILE": "datasets/x.hdf5"})
    with pytest.raises(ConfigError, match="must end in .hdf5"):
        load_config(env={"OUTPUT_FILE": "datasets/x.txt"})


def test_saved_config_round_trips():
    cfg = load_config(env={"NUM_TRIALS": "5", "CAMERAS": "table_cam,table_high_cam", "KEEP_FAILED": "yes",
                           "INPUT_FILE": "datasets/in.hdf5"})
    back = from_toml_text(to_toml(cfg), "saved")
    assert back.generation == cfg.generation and back.cameras == cfg.cameras and back.workers == cfg.workers
    assert back.generation.input_file == Path("datasets/in.hdf5")
    assert load_config(env={}, base=back).generation.num_trials == 5
    assert RunConfig().generation.num_trials == 10


def test_randomization_ranges():
    cfg = load_config(env={"CUBE_X": "0.45, 0.55", "MIN_SEPARATION": "0.12"})
    assert cfg.randomization.cube_x == (0.45, 0.55) and cfg.randomization.min_separation == 0.12
    assert cfg.randomization.cube_yaw == (-1.0, 1.0)
    with pytest.raises(ConfigError, match=r"CUBE_YAW='1,-1': expected two numbers low,high"):
        load_config(env={"CUBE_YAW": "1,-1"})
    with pytest.raises(ConfigError, match=r"CUBE_Y='0.1': expected two numbers"):
        load_config(env={"CUBE_Y": "0.1"})
    back = from_toml_text(to_toml(cfg), "saved")
    assert back.randomization == cfg.randomization
