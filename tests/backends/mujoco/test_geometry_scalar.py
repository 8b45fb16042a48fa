"""The scalar rotation helpers of ``geometry`` (the twin's) against MuJoCo's quaternion routines and Isaac Lab's
conventions."""

from __future__ import annotations

import math

import mujoco
import numpy as np
import pytest

from mimicforge import geometry as r


@pytest.fixture
def quats() -> np.ndarray:
    q = np.random.default_rng(0).normal(size=(50, 4))
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def test_quat_to_mat_matches_mujoco(quats: np.ndarray) -> None:
    for q in quats:
        expected = np.zeros(9)
        mujoco.mju_quat2Mat(expected, q)
        np.testing.assert_allclose(r.quat_to_mat(q), expected.reshape(3, 3), atol=1e-12)


def test_mat_to_quat_round_trip_with_positive_w(quats: np.ndarray) -> None:
    for q in quats:
        back = r.mat_to_quat(r.quat_to_mat(q))
        assert back[0] >= 0.0
        np.testing.assert_allclose(back, q if q[0] >= 0 else -q, atol=1e-12)


def test_quat_mul_matches_mujoco(quats: np.ndarray) -> None:
    for a, b in zip(quats[:-1], quats[1:], strict=True):
        expected = np.zeros(4)
        mujoco.mju_mulQuat(expected, a, b)
        np.testing.assert_allclose(r.quat_mul(a, b), expected, atol=1e-12)


def test_axis_angle_is_the_short_way_round() -> None:
    v = np.array([0.0, 0.0, 3.0])  # 3 rad about z
    q = r.quat_from_axis_angle(v)
    np.testing.assert_allclose(r.axis_angle_from_quat(q), v, atol=1e-12)
    np.testing.assert_allclose(r.axis_angle_from_quat(-q), v, atol=1e-12)  # same rotation, flipped sign
    # 4 rad about z is 2.28 rad about -z
    np.testing.assert_allclose(r.axis_angle_from_quat(r.quat_from_axis_angle(np.array([0, 0, 4.0]))),
                               [0, 0, 4.0 - 2 * math.pi], atol=1e-12)


def test_axis_angle_round_trip_and_small_angles() -> None:
    rng = np.random.default_rng(1)
    for scale in (1e-9, 1e-4, 0.5, 2.5):
        v = rng.normal(size=3)
        v = scale * v / np.linalg.norm(v)
        np.testing.assert_allclose(r.mat_to_axis_angle(r.axis_angle_to_mat(v)), v, atol=1e-10)


def test_yaw_quat_is_isaacs_euler_convention() -> None:
    q = r.yaw_quat(0.7)
    m = r.quat_to_mat(q)
    assert math.isclose(math.atan2(m[1, 0], m[0, 0]), 0.7, abs_tol=1e-12)
    np.testing.assert_allclose(m[:, 2], [0, 0, 1], atol=1e-12)


@pytest.mark.parametrize("angle", [0.0, 1e-9, 1e-4, 0.7, 2.0, math.pi - 1e-6, math.pi])
def test_relative_axis_angle_is_the_products_rotation_vector(quats: np.ndarray, angle: float) -> None:
    """``relative_axis_angle(a, b)`` (the per-step controllers' fused path) is the rotation vector of
    ``a @ b.T``, computed by the batched path, for turns from none to a half turn (every Shepperd branch)."""
    rng = np.random.default_rng(1)
    for q in quats:
        b = r.quat_to_mat(q)
        axis = rng.normal(size=3)
        turn = axis / np.linalg.norm(axis) * angle
        a = r.axis_angle_to_matrix(turn) @ b
        got = np.array(r.relative_axis_angle(a, b))
        np.testing.assert_allclose(r.axis_angle_to_matrix(got), a @ b.T, atol=1e-9)
        if angle < math.pi - 1e-3:  # at a half turn +v and -v are the same rotation
            np.testing.assert_allclose(got, r.matrix_to_axis_angle(a @ b.T), atol=1e-9)
            np.testing.assert_allclose(got, turn, atol=1e-7)
