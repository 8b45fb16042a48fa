"""Camera images stored in each demo's obs under Isaac Lab's Visuomotor names (IMAGE_OBS).

A short episode is recorded on the real twin, its image observations drawn from the recorded states, and
the result written, validated and merged as real HDF5 files."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from mimicforge.backends.mujoco import deps
from mimicforge.errors import BackendUnavailable, ConfigError

try:
    deps.import_mujoco()
except BackendUnavailable as exc:
    pytest.skip(str(exc), allow_module_level=True)

from mimicforge.backends.base import EpisodeRecorder, state_at  # noqa: E402
from mimicforge.backends.mujoco.params import CameraParams, TwinParams  # noqa: E402
from mimicforge.config import IMAGE_OBS_KEYS, load_config  # noqa: E402
from mimicforge.datasets import DatasetWriter, image_obs, merge_datasets, validate  # noqa: E402
from mimicforge.run.images import image_observations  # noqa: E402
from tests.conftest import REPO, run_cli  # noqa: E402

H, W = 40, 48


@pytest.fixture(scope="module")
def twin():
    from mimicforge.backends.mujoco.env import FrankaStackTwin

    with FrankaStackTwin(TwinParams(image_obs=CameraParams(height=H, width=W)), seed=0) as env:
        yield env


@pytest.fixture(scope="module")
def episode(twin):
    twin.reset(seed=4)
    rec = EpisodeRecorder(twin)
    rec.start()
    rng = np.random.default_rng(0)
    for _ in range(6):
        rec.step(np.concatenate([rng.uniform(-0.5, 0.5, 6), [1.0]]))
    ep = rec.episode()
    ep["obs"].update(image_observations(twin, ep, IMAGE_OBS_KEYS))
    return ep


def test_isaac_names_shapes_and_dtypes(episode) -> None:
    obs = episode["obs"]
    t = len(episode["actions"])
    expected = {"table_cam": (np.uint8, 3), "wrist_cam": (np.uint8, 3), "table_cam_segmentation": (np.uint8, 4),
                "table_cam_normals": (np.float32, 3), "table_cam_depth": (np.float32, 1)}
    for key, (dtype, channels) in expected.items():
        assert obs[key].dtype == dtype and obs[key].shape == (t, H, W, channels), key
    assert 0.0 <= obs["table_cam_normals"].min() and obs["table_cam_normals"].max() <= 1.0
    depth = obs["table_cam_depth"]
    assert np.isfinite(depth).all() and depth.max() <= 2.0 and (depth > 0.5).mean() > 0.5
    assert not np.array_equal(obs["wrist_cam"][0], obs["wrist_cam"][-1])  # the wrist camera moves with the hand


def test_row_t_shows_the_scene_before_action_t_like_the_low_dim_obs(twin, episode) -> None:
    for t in (0, 3, len(episode["actions"]) - 1):
        twin.reset_to(state_at(episode["initial_state"], 0) if t == 0 else state_at(episode["states"], t - 1))
        np.testing.assert_allclose(twin.observations()["eef_pos"], episode["obs"]["eef_pos"][t], atol=1e-6)
        frames = twin.render_visuomotor("table_cam", ("rgb", "depth"))
        assert np.array_equal(episode["obs"]["table_cam"][t], frames["rgb"])
        assert np.array_equal(episode["obs"]["table_cam_depth"][t], image_obs.stored("depth", frames["depth"]))


def test_wrist_cam_rides_on_the_hand_at_isaacs_offset(twin) -> None:
    twin.reset(seed=1)
    m, d = twin.model, twin.data
    cam, hand = m.camera("wrist_cam").id, m.body("panda_hand").id
    np.testing.assert_allclose(d.cam_xpos[cam], d.xpos[hand] + d.xmat[hand].reshape(3, 3) @ [0.13, 0.0, -0.15],
                               atol=1e-9)


def test_written_file_validates_and_merges_with_images_intact(episode, tmp_path) -> None:
    paths = []
    for i in range(2):
        p = tmp_path / f"shard{i}.hdf5"
        with DatasetWriter(p, env_name="Isaac-Stack-Cube-Franka-IK-Rel-Visuomotor-v0") as w:
            w.write_demo(episode, True)
        paths.append(p)
    assert validate(paths[0]) == []
    merge_datasets(tmp_path / "merged.hdf5", paths)
    assert validate(tmp_path / "merged.hdf5") == []
    with h5py.File(tmp_path / "merged.hdf5", "r") as f:
        assert sorted(f["data"]) == ["demo_0", "demo_1"]
        for key in IMAGE_OBS_KEYS:
            ds = f[f"data/demo_1/obs/{key}"]
            assert ds.dtype == episode["obs"][key].dtype and np.array_equal(ds[()], episode["obs"][key]), key


def test_validate_names_an_image_obs_stored_as_float(tmp_path) -> None:
    with h5py.File(tmp_path / "f.hdf5", "w") as f:
        f.create_dataset("x", data=0)
    with h5py.File(tmp_path / "f.hdf5", "r+") as f:
        obs = f.create_group("obs")
        obs.create_dataset("table_cam", data=np.zeros((2, 4, 4, 3), np.float32))
        obs.create_dataset("table_cam_depth", data=np.zeros((2, 4, 4, 1), np.float32))
        assert image_obs.problems("demo_0", obs) == [
            "demo_0/obs/table_cam is float32 (2, 4, 4, 3); Isaac Lab stores uint8 (T, H, W, 3)"]


def test_image_obs_settings() -> None:
    cfg = load_config(env={"IMAGE_OBS": "table_cam,wrist_cam", "IMAGE_OBS_WIDTH": "84"})
    assert cfg.cameras.image_obs == ("table_cam", "wrist_cam")
    assert (cfg.cameras.image_obs_width, cfg.cameras.image_obs_height) == (84, 200)
    with pytest.raises(ConfigError, match="IMAGE_OBS='table_cam,front_cam'"):
        load_config(env={"IMAGE_OBS": "table_cam,front_cam"})


def test_bad_image_obs_flag_is_one_line_and_exit_2(tmp_path) -> None:
    r = run_cli("generate", "--input", str(tmp_path / "in.hdf5"), "--output", str(tmp_path / "o.hdf5"),
                "--image-obs", "table_cam,depth_cam", cwd=REPO)
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "--image-obs 'table_cam,depth_cam'" in r.stderr
    assert not (tmp_path / "o.hdf5").exists()


@pytest.mark.slow
def test_generate_stores_images_through_workers_and_resume(real_dataset, tmp_path) -> None:
    """Two workers (shards merged at the end), then a resumed run: every demo carries its images.
    About a minute on 2 cores."""
    from mimicforge.run.dispatch import generate

    out = tmp_path / "vm.hdf5"
    env = {"INPUT_FILE": str(real_dataset), "OUTPUT_FILE": str(out), "NUM_TRIALS": "2", "SEED": "3",
           "WORKERS": "2", "RAY": "0", "IMAGE_OBS": "table_cam,wrist_cam", "IMAGE_OBS_WIDTH": "32",
           "IMAGE_OBS_HEIGHT": "24"}
    generate(load_config(env=env))
    generate(load_config(env={**env, "NUM_TRIALS": "3", "WORKERS": "1", "ON_EXISTING": "resume"}))
    assert validate(out) == []
    with h5py.File(out, "r") as f:
        demos = [f["data"][k] for k in sorted(f["data"])]
        assert len(demos) == 3
        for g in demos:
            t = g["actions"].shape[0]
            for key in ("table_cam", "wrist_cam"):
                assert g["obs"][key].dtype == np.uint8 and g["obs"][key].shape == (t, 24, 32, 3)
