"""The one geometry module: its batched paths (generator) and scalar paths (twin) agree everywhere."""

from __future__ import annotations

import numpy as np
import pytest

from mimicforge import geometry as g


def rotations(n: int, seed: int = 0) -> np.ndarray:
    """Random unit quaternions plus the hard cases: identity, tiny angles, angles at and near pi."""
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((n, 4))
    axis = rng.standard_normal(3)
    axis /= np.linalg.norm(axis)
    special = [np.r_[1.0, 0, 0, 0]]
    for angle in (1e-9, 1e-7, 1e-5, 1e-3, 0.05, np.pi - 1e-6, np.pi):
        special.append(np.r_[np.cos(angle / 2), np.sin(angle / 2) * axis])
    special.append(-special[3])  # the same rotation, w < 0
    q = np.concatenate([q, np.array(special)])
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def test_batched_and_scalar_paths_agree():
    q = rotations(200)
    mats = g.quat_to_matrix(q)
    np.testing.assert_allclose(mats, np.stack([g.quat_to_mat(x) for x in q]), atol=1e-12)
    quats = g.matrix_to_quat(mats)
    np.testing.assert_allclose(quats, np.stack([g.mat_to_quat(m) for m in mats]), atol=1e-12)
    assert np.all(quats[:, 0] >= 0)
    vecs = g.matrix_to_axis_angle(mats)
    np.testing.assert_allclose(vecs, np.stack([g.mat_to_axis_angle(m) for m in mats]), atol=1e-9)
    np.testing.assert_allclose(g.quat_to_axis_angle(q), np.stack([g.axis_angle_from_quat(x) for x in q]),
                               atol=1e-9)
    back = g.axis_angle_to_matrix(vecs)
    np.testing.assert_allclose(back, np.stack([g.axis_angle_to_mat(v) for v in vecs]), atol=1e-9)


def test_round_trips_and_short_way_round():
    q = rotations(100, seed=1)
    mats = g.quat_to_matrix(q)
    vecs = g.matrix_to_axis_angle(mats)
    assert np.all(np.linalg.norm(vecs, axis=1) <= np.pi + 1e-9)
    # a rotation vector maps back to the same rotation (near pi the axis sign is free)
    np.testing.assert_allclose(g.axis_angle_to_matrix(vecs), mats, atol=1e-7)
    np.testing.assert_allclose(g.rotation_angle(mats, mats), 0.0, atol=1e-6)


@pytest.mark.parametrize("angle", [0.0, 1e-9, 1e-6, 1e-3, 1.0, 3.0])
def test_small_angles_follow_one_rule(angle):
    vec = np.array([0.3, -0.5, 0.81]) / np.linalg.norm([0.3, -0.5, 0.81]) * angle
    np.testing.assert_allclose(g.matrix_to_axis_angle(g.axis_angle_to_matrix(vec)), vec, atol=1e-9)
    np.testing.assert_allclose(g.mat_to_axis_angle(g.axis_angle_to_mat(vec)), vec, atol=1e-9)


def test_pose_inverse_and_composition():
    q = rotations(10, seed=2)
    pos = np.random.default_rng(3).standard_normal((len(q), 3))
    poses = g.make_pose(pos, g.quat_to_matrix(q))
    np.testing.assert_allclose(poses @ g.pose_inv(poses), np.broadcast_to(np.eye(4), poses.shape), atol=1e-12)
    np.testing.assert_allclose(poses, np.stack([g.pose_matrix(p, x) for p, x in zip(pos, q)]), atol=1e-12)
