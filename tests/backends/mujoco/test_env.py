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


def test_recorded_rows_rebuild_the_per_step_trees(twin, source_path) -> None:
    """The twin records a step as two flat rows (``RowRecorded``); the trees built from an episode's rows equal,
    bit for bit, what ``observations()`` gave at each step and the state MuJoCo's own quaternion routines give
    (cube angular velocity turned from the body frame to the world frame)."""
    import mujoco

    from mimicforge.backends.base import RowRecorded, state_at
    from mimicforge.datasets import DatasetReader

    assert isinstance(twin, RowRecorded)
    with DatasetReader(source_path) as r:
        demo = r.demo(r.demo_names[0], parts=("actions", "initial_state"))
    twin.reset_to(demo.initial_state)
    obs_rows, state_rows, obs_trees, expected = [], [], [], []
    for action in demo.actions[:120]:
        twin.step(action)
        obs_rows.append(twin.observation_row())
        obs_trees.append({k: v.copy() for k, v in twin.observations().items()})
        state_rows.append(twin.state_row())
        d, cubes = twin.data, {}
        for name in ("cube_1", "cube_2", "cube_3"):
            a = twin.model.jnt_qposadr[twin.model.joint(f"{name}_joint").id]
            b = twin.model.jnt_dofadr[twin.model.joint(f"{name}_joint").id]
            quat, rot = d.qpos[a + 3:a + 7].copy(), np.zeros(9)
            mujoco.mju_normalize4(quat)
            mujoco.mju_quat2Mat(rot, quat)
            cubes[name] = (d.qpos[a:a + 7].copy(), np.concatenate([d.qvel[b:b + 3], rot.reshape(3, 3) @ d.qvel[b + 3:b + 6]]))
        expected.append((d.qpos[:9].copy(), d.qvel[:9].copy(), cubes))
    obs = twin.observations_from_rows(np.stack(obs_rows))
    states = twin.states_from_rows(np.stack(state_rows))
    for t, (q, v, cubes) in enumerate(expected):
        for key, value in obs_trees[t].items():
            assert obs[key][t].tobytes() == value.tobytes(), (t, key)
        state = state_at(states, t)
        robot = state["articulation"]["robot"]
        assert robot["joint_position"].tobytes() == q.tobytes() and robot["joint_velocity"].tobytes() == v.tobytes()
        np.testing.assert_array_equal(robot["root_pose"], [0, 0, 0, 1, 0, 0, 0])
        for name, (pose, velocity) in cubes.items():
            assert state["rigid_object"][name]["root_pose"].tobytes() == pose.tobytes(), (t, name)
            assert state["rigid_object"][name]["root_velocity"].tobytes() == velocity.tobytes(), (t, name)
    assert any(np.abs(c[1][3:]).max() > 1e-3 for _, _, cubes in expected for c in cubes.values())  # cubes turned


def test_the_recorder_writes_the_same_episode_from_rows_as_from_trees(source_path) -> None:
    """``EpisodeRecorder`` takes the row path where the env offers it; an env without it (the twin behind a
    plain delegating wrapper) gives the identical episode through the per-step trees."""
    from mimicforge.backends.base import EpisodeRecorder, RowRecorded
    from mimicforge.backends.mujoco.env import FrankaStackTwin
    from mimicforge.datasets import DatasetReader

    class TreesOnly:
        def __init__(self, env: FrankaStackTwin) -> None:
            self._env = env

        def __getattr__(self, name: str) -> object:
            if name in ("observation_row", "observations_from_rows", "state_row", "states_from_rows"):
                raise AttributeError(name)
            return getattr(self._env, name)

    with DatasetReader(source_path) as r:
        demo = r.demo(r.demo_names[1], parts=("actions", "initial_state"))
    episodes = []
    for wrap in (lambda e: e, TreesOnly):
        with FrankaStackTwin(seed=0) as env:
            recorder = EpisodeRecorder(wrap(env))
            assert recorder._rows == (wrap is not TreesOnly) and isinstance(wrap(env), RowRecorded) == recorder._rows
            env.reset_to(demo.initial_state)
            recorder.start()
            for action in demo.actions[:80]:
                recorder.step(action)
            episodes.append(recorder.episode())

    def leaves(tree: dict, prefix: str = "") -> dict:
        out = {}
        for k, v in tree.items():
            out.update(leaves(v, f"{prefix}/{k}") if isinstance(v, dict) else {f"{prefix}/{k}": np.asarray(v)})
        return out

    rows, trees = leaves(episodes[0]), leaves(episodes[1])
    assert list(rows) == list(trees)  # same keys, same order (the order datasets are written in)
    for key in rows:
        assert rows[key].dtype == trees[key].dtype and rows[key].shape == trees[key].shape, key
        assert np.array_equal(rows[key], trees[key]), key
