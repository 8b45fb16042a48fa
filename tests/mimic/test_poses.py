from __future__ import annotations

import numpy as np
import pytest

from mimicforge.geometry import (
    axis_angle_to_matrix,
    make_pose,
    matrix_to_axis_angle,
    matrix_to_quat,
    pose_inv,
    quat_to_matrix,
    rotation_angle,
)
from mimicforge.mimic.poses import SMALL_ANGLE, interpolate_poses, transform_segment

rng = np.random.default_rng(0)


def random_rotations(n):
    q = rng.standard_normal((n, 4))
    return quat_to_matrix(q / np.linalg.norm(q, axis=1, keepdims=True))


def test_quaternion_round_trip_and_orthonormality():
    rots = random_rotations(50)
    assert np.allclose(rots @ np.swapaxes(rots, 1, 2), np.eye(3), atol=1e-12)
    q = matrix_to_quat(rots)
    assert np.all(q[:, 0] >= 0)
    assert np.allclose(quat_to_matrix(q), rots, atol=1e-12)
    # Isaac's eef orientation: hand pointing down, quat (0, 1, 0, 0)
    assert np.allclose(quat_to_matrix(np.array([0.0, 1.0, 0.0, 0.0])), np.diag([1.0, -1.0, -1.0]))


@pytest.mark.parametrize("angle", [0.0, 1e-6, 0.3, 2.0, np.pi - 1e-4])
def test_axis_angle_round_trip(angle):
    axis = rng.standard_normal(3)
    axis /= np.linalg.norm(axis)
    rot = axis_angle_to_matrix(axis * angle)
    back = matrix_to_axis_angle(rot)
    assert np.linalg.norm(back) == pytest.approx(angle, abs=1e-9)
    assert np.allclose(axis_angle_to_matrix(back), rot, atol=1e-9)


def test_pose_inverse_and_angle():
    poses = make_pose(rng.standard_normal((10, 3)), random_rotations(10))
    assert np.allclose(poses @ pose_inv(poses), np.eye(4), atol=1e-12)
    r = random_rotations(1)[0]
    turn = axis_angle_to_matrix(np.array([0, 0, 0.7]))
    assert rotation_angle(turn @ r, r) == pytest.approx(0.7)


def test_object_centric_transform_moves_segment_with_object():
    src_obj = make_pose(np.array([0.5, 0.1, 0.02]), axis_angle_to_matrix([0, 0, 0.3]))
    now_obj = make_pose(np.array([0.4, -0.05, 0.02]), axis_angle_to_matrix([0, 0, -0.6]))
    eef = make_pose(rng.standard_normal((5, 3)) * 0.1, random_rotations(5))
    moved = transform_segment(eef, src_obj, now_obj)
    # the eef pose relative to the object is unchanged
    assert np.allclose(pose_inv(src_obj) @ eef, pose_inv(now_obj) @ moved, atol=1e-12)
    assert np.allclose(transform_segment(eef, src_obj, src_obj), eef, atol=1e-12)


def test_interpolation_endpoints_linear_positions_and_fixed_axis():
    a = make_pose(np.array([0.0, 0.0, 0.0]), np.eye(3))
    b = make_pose(np.array([0.6, 0.0, -0.3]), axis_angle_to_matrix([0, 0, 0.6]))
    poses = interpolate_poses(a, b, 5)
    assert poses.shape == (7, 4, 4)
    assert np.allclose(poses[0], a) and np.allclose(poses[-1], b)
    assert np.allclose(poses[:, 0, 3], np.linspace(0, 0.6, 7))
    angles = [matrix_to_axis_angle(p[:3, :3])[2] for p in poses]
    assert np.allclose(angles, np.linspace(0, 0.6, 7))


def test_small_rotations_snap_to_target_as_isaac_does():
    a = make_pose(np.zeros(3), np.eye(3))
    b = make_pose(np.ones(3), axis_angle_to_matrix([SMALL_ANGLE * 0.9, 0, 0]))
    poses = interpolate_poses(a, b, 5)
    assert all(np.allclose(p[:3, :3], b[:3, :3]) for p in poses[1:])


def test_interpolated_rotations_are_the_per_step_formula_bit_for_bit():
    """A bridge's rotations come from one batched call; each must equal, to the last bit, the per-step
    ``axis_angle_to_matrix(vec * f) @ R_start`` it replaced (generated demos stay the same for the same seed)."""
    for _ in range(50):
        start = make_pose(rng.normal(size=3), axis_angle_to_matrix(rng.normal(size=3)))
        end = make_pose(rng.normal(size=3), axis_angle_to_matrix(rng.normal(size=3)))
        steps = int(rng.integers(1, 12))
        poses = interpolate_poses(start, end, steps)
        vec = matrix_to_axis_angle(end[:3, :3] @ start[:3, :3].T)
        assert np.linalg.norm(vec) >= SMALL_ANGLE
        fractions = np.arange(steps + 2) / (steps + 1)
        for k in range(1, steps + 1):
            expected = axis_angle_to_matrix(vec * fractions[k]) @ start[:3, :3]
            assert poses[k, :3, :3].tobytes() == expected.tobytes()
