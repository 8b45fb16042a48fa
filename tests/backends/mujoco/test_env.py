"""The twin as a MimicEnv: reset events, observations in the real file's layout, Mimic's action conversions."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from mimicforge.backends.mujoco.params import DEFAULT_JOINT_POS
from mimicforge.datasets.reader import read_tree


def test_observations_have_the_real_files_keys_shapes_and_dtypes(twin, source_path) -> None:
    obs = twin.reset(seed=0)
    with h5py.File(source_path, "r") as f:
        real = {k: v for k, v in f["data/demo_0/obs"].items() if isinstance(v, h5py.Dataset)}
        assert set(obs) == set(real)
        for key, ds in real.items():
            assert obs[key].shape == ds.shape[1:], key
            assert obs[key].dtype == ds.dtype == np.float32, key


def test_reset_events_follow_isaacs_distributions(twin) -> None:
    noise, positions, yaws = [], [], []
    for seed in range(60):
        twin.reset(seed=seed)
        state = twin.get_state()
        q = state["articulation"]["robot"]["joint_position"]
        noise.append(q[:7] - np.array(DEFAULT_JOINT_POS[:7]))
        np.testing.assert_array_equal(q[7:], np.float32([0.04, 0.04]))  # float32 states, as Isaac Lab
        cubes = [state["rigid_object"][c]["root_pose"] for c in ("cube_1", "cube_2", "cube_3")]
        pos = np.array([c[:3] for c in cubes])
        positions.append(pos)
        yaws += [2 * np.arctan2(c[6], c[3]) for c in cubes]
        dists = [np.linalg.norm(pos[i] - pos[j]) for i, j in ((0, 1), (0, 2), (1, 2))]
        assert min(dists) >= 0.1
    noise, positions = np.array(noise), np.array(positions)
    assert 0.015 < noise.std() < 0.025 and abs(noise.mean()) < 0.006
    assert positions[..., 0].min() >= 0.4 and positions[..., 0].max() <= 0.6
    assert positions[..., 1].min() >= -0.1 and positions[..., 1].max() <= 0.1
    np.testing.assert_allclose(positions[..., 2], 0.0203)
    assert min(yaws) >= -1.0 and max(yaws) <= 1.0 and max(yaws) - min(yaws) > 1.5


def test_same_seed_same_episode_different_seed_different(twin) -> None:
    actions = np.random.default_rng(5).uniform(-0.3, 0.3, size=(15, 7))

    def run(seed: int) -> np.ndarray:
        twin.reset(seed=seed)
        return np.stack([np.concatenate(list(twin.step(a).values())) for a in actions])

    np.testing.assert_array_equal(run(11), run(11))
    assert not np.array_equal(run(11), run(12))


def test_reset_to_reproduces_the_recorded_first_observation(twin, source_path) -> None:
    with h5py.File(source_path, "r") as f:
        g = f["data/demo_3"]
        obs = twin.reset_to(read_tree(g["initial_state"]))
        for key in ("eef_pos", "eef_quat", "joint_pos", "cube_positions", "cube_orientations", "object",
                    "gripper_pos", "actions"):
            np.testing.assert_allclose(obs[key], g[f"obs/{key}"][0], atol=2e-6, err_msg=key)


def test_action_conversions_reproduce_the_annotations(twin, source_path) -> None:
    """action_to_target_eef_pose gives the file's target_eef_pose; target_eef_pose_to_action inverts it."""
    with h5py.File(source_path, "r") as f:
        g = f["data/demo_1"]
        twin.reset_to(read_tree(g["initial_state"]))
        actions = g["actions"][()]
        targets = g["obs/datagen_info/target_eef_pose/franka"][()]
        eef_poses = g["obs/datagen_info/eef_pose/franka"][()]
        for t in range(12):
            np.testing.assert_allclose(twin.get_robot_eef_pose("franka"), eef_poses[t], atol=3e-3)
            if t == 0:  # the twin's state is Isaac's exactly only before the first step
                np.testing.assert_allclose(twin.get_robot_eef_pose("franka"), eef_poses[0], atol=2e-6)
                np.testing.assert_allclose(twin.action_to_target_eef_pose(actions[0])["franka"], targets[0],
                                           atol=2e-6)
            target = twin.action_to_target_eef_pose(actions[t])["franka"]
            back = twin.target_eef_pose_to_action({"franka": target}, {"franka": actions[t, 6:]})
            np.testing.assert_allclose(back, actions[t], atol=1e-6)
            twin.step(actions[t])


def test_action_noise_clamp_and_determinism(twin) -> None:
    twin.reset(seed=0)
    pose = twin.get_robot_eef_pose("franka")
    grip = {"franka": np.array([-1.0])}
    clean = twin.target_eef_pose_to_action({"franka": pose}, grip)
    np.testing.assert_array_equal(clean, [0, 0, 0, 0, 0, 0, -1.0])
    draws = np.array([twin.target_eef_pose_to_action({"franka": pose}, grip, {"franka": 0.03},
                                                     np.random.default_rng(i)) for i in range(2000)])
    assert abs(draws[:, :6].std() - 0.03) < 0.002 and np.all(draws[:, 6] == -1.0)
    again = twin.target_eef_pose_to_action({"franka": pose}, grip, {"franka": 0.03}, np.random.default_rng(0))
    np.testing.assert_array_equal(again, draws[0])
    far = pose.copy()
    far[:3, 3] += [3.0, -3.0, 0.0]
    clamped = twin.target_eef_pose_to_action({"franka": far}, grip, {"franka": 0.03}, np.random.default_rng(0))
    np.testing.assert_array_equal(clamped[:2], [1.0, -1.0])
    with pytest.raises(ValueError, match="Generator"):
        twin.target_eef_pose_to_action({"franka": pose}, grip, {"franka": 0.03})


def test_processed_action_is_isaacs(twin) -> None:
    twin.reset(seed=0)
    twin.step(np.array([0.1, -0.2, 0.3, 0.0, 0.05, -0.1, -1.0]))
    np.testing.assert_allclose(twin.processed_action(), [0.05, -0.1, 0.15, 0.0, 0.025, -0.05, 0.0, 0.0])
    with pytest.raises(ValueError):
        twin.step(np.zeros(6))
