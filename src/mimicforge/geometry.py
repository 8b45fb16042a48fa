"""Rotations and rigid transforms in Isaac Lab's conventions, for the generator and the twin (numpy only).

Quaternions are (w, x, y, z); rotation vectors (axis * angle) have their angle in [0, pi], the short way
round (a quaternion is flipped to w >= 0 first, as Isaac Lab's ``axis_angle_from_quat`` does); ``a @ b``
composes frames, so ``T_world_obj @ T_obj_eef = T_world_eef``.

Two paths with one set of rules: batched functions over leading dimensions (``quat_to_matrix``,
``matrix_to_quat``, ``matrix_to_axis_angle``, ``axis_angle_to_matrix``, ``make_pose``, ``pose_inv``) for
the generator's trajectories, and scalar ones on single rotations (``quat_to_mat``, ``mat_to_quat``,
``quat_mul``, ...) for the twin's per-step control, where plain float arithmetic beats small numpy calls.
Near a zero angle both use the same Taylor expansions, so they agree to rounding everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

_TINY = 1e-6  # below this sin(angle/2), angle / sin(angle/2) is taken from its Taylor expansion


# ----------------------------------------------------------------------------------------- batched
def make_pose(pos: np.ndarray, rot: np.ndarray) -> np.ndarray:
    """(..., 4, 4) from positions (..., 3) and rotation matrices (..., 3, 3)."""
    pos = np.asarray(pos, dtype=np.float64)
    rot = np.asarray(rot, dtype=np.float64)
    out = np.zeros(pos.shape[:-1] + (4, 4))
    out[..., :3, :3] = rot
    out[..., :3, 3] = pos
    out[..., 3, 3] = 1.0
    return out


def pose_inv(pose: np.ndarray) -> np.ndarray:
    """Inverse of rigid transforms, (..., 4, 4), without a general matrix inverse."""
    rot_t = np.swapaxes(pose[..., :3, :3], -1, -2)
    return make_pose(-(rot_t @ pose[..., :3, 3:4])[..., 0], rot_t)


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """(..., 4) quaternions (w, x, y, z), not necessarily unit, to (..., 3, 3) rotation matrices."""
    q = np.asarray(q, dtype=np.float64)
    n = np.sum(q * q, axis=-1)
    s = np.divide(2.0, n, out=np.zeros_like(n), where=n > 0.0)
    w, x, y, z = np.moveaxis(q, -1, 0)
    return np.stack([
        np.stack([1 - s * (y * y + z * z), s * (x * y - z * w), s * (x * z + y * w)], -1),
        np.stack([s * (x * y + z * w), 1 - s * (x * x + z * z), s * (y * z - x * w)], -1),
        np.stack([s * (x * z - y * w), s * (y * z + x * w), 1 - s * (x * x + y * y)], -1),
    ], -2)


def matrix_to_quat(rot: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices to (..., 4) unit quaternions (w, x, y, z) with w >= 0."""
    rot = np.asarray(rot, dtype=np.float64)
    m = rot.reshape(-1, 3, 3)
    out = np.stack([mat_to_quat(r) for r in m]) if len(m) else np.zeros((0, 4))
    return out.reshape(rot.shape[:-2] + (4,))


def quat_to_axis_angle(q: np.ndarray) -> np.ndarray:
    """(..., 4) unit quaternions to (..., 3) rotation vectors, angle in [0, pi]."""
    q = np.asarray(q, dtype=np.float64)
    q = np.where(q[..., :1] < 0.0, -q, q)
    sin_half = np.linalg.norm(q[..., 1:], axis=-1)
    angle = 2.0 * np.arctan2(sin_half, q[..., 0])
    safe = np.where(sin_half > _TINY, sin_half, 1.0)
    k = np.where(sin_half > _TINY, angle / safe, 2.0 + angle * angle / 12.0)
    return q[..., 1:] * k[..., None]


def axis_angle_to_quat(vec: np.ndarray) -> np.ndarray:
    """(..., 3) rotation vectors to (..., 4) unit quaternions."""
    vec = np.asarray(vec, dtype=np.float64)
    angle = np.linalg.norm(vec, axis=-1)
    small = angle < 1e-12
    safe = np.where(small, 1.0, angle)
    s = np.where(small, 0.5, np.sin(0.5 * angle) / safe)
    q = np.concatenate([np.where(small, 1.0, np.cos(0.5 * angle))[..., None], vec * s[..., None]], axis=-1)
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def matrix_to_axis_angle(rot: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices to (..., 3) rotation vectors, angle in [0, pi]."""
    return quat_to_axis_angle(matrix_to_quat(rot))


def axis_angle_to_matrix(vec: np.ndarray) -> np.ndarray:
    """(..., 3) rotation vectors to (..., 3, 3) rotation matrices."""
    return quat_to_matrix(axis_angle_to_quat(vec))


def rotation_angle(rot_a: np.ndarray, rot_b: np.ndarray) -> np.ndarray:
    """Angle (rad) between rotations, batched over leading dims: acos((tr(Ra Rbᵀ) - 1) / 2)."""
    tr = np.einsum("...ij,...ij->...", rot_a, rot_b)
    return np.arccos(np.clip((tr - 1.0) / 2.0, -1.0, 1.0))


# ----------------------------------------------------------------------------------------- scalar
def quat_to_mat(q: np.ndarray) -> np.ndarray:
    """(w, x, y, z) -> 3x3 rotation matrix (the quaternion need not be normalised)."""
    w, x, y, z = (float(v) for v in q)
    n = w * w + x * x + y * y + z * z
    s = 2.0 / n if n > 0.0 else 0.0
    return np.array([
        [1.0 - s * (y * y + z * z), s * (x * y - w * z), s * (x * z + w * y)],
        [s * (x * y + w * z), 1.0 - s * (x * x + z * z), s * (y * z - w * x)],
        [s * (x * z - w * y), s * (y * z + w * x), 1.0 - s * (x * x + y * y)],
    ])


def mat_to_quat(m: np.ndarray) -> np.ndarray:
    """3x3 rotation matrix -> unit quaternion (w, x, y, z) with w >= 0."""
    return np.array(_quat_of(*np.asarray(m, dtype=np.float64).ravel().tolist()))


def _quat_of(m00: float, m01: float, m02: float, m10: float, m11: float, m12: float,
             m20: float, m21: float, m22: float) -> tuple[float, float, float, float]:
    """The unit quaternion (w >= 0) of a rotation matrix given row by row (Shepperd's branches)."""
    tr = m00 + m11 + m22
    if tr > 0.0:
        s = 2.0 * math.sqrt(tr + 1.0)
        w, x, y, z = 0.25 * s, (m21 - m12) / s, (m02 - m20) / s, (m10 - m01) / s
    elif m00 > m11 and m00 > m22:
        s = 2.0 * math.sqrt(1.0 + m00 - m11 - m22)
        w, x, y, z = (m21 - m12) / s, 0.25 * s, (m01 + m10) / s, (m02 + m20) / s
    elif m11 > m22:
        s = 2.0 * math.sqrt(1.0 + m11 - m00 - m22)
        w, x, y, z = (m02 - m20) / s, (m01 + m10) / s, 0.25 * s, (m12 + m21) / s
    else:
        s = 2.0 * math.sqrt(1.0 + m22 - m00 - m11)
        w, x, y, z = (m10 - m01) / s, (m02 + m20) / s, (m12 + m21) / s, 0.25 * s
    n = math.sqrt(w * w + x * x + y * y + z * z)
    if w < 0.0:
        n = -n
    return w / n, x / n, y / n, z / n


def quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product a * b of (w, x, y, z) quaternions."""
    aw, ax, ay, az = a
    bw, bx, by, bz = b
    return np.array([
        aw * bw - ax * bx - ay * by - az * bz,
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
    ])


def quat_conj(q: np.ndarray) -> np.ndarray:
    return np.array([q[0], -q[1], -q[2], -q[3]])


def quat_from_axis_angle(v: np.ndarray) -> np.ndarray:
    """Rotation vector (axis * angle, radians) -> unit quaternion."""
    angle = math.sqrt(float(v[0]) ** 2 + float(v[1]) ** 2 + float(v[2]) ** 2)
    if angle < 1e-12:
        return np.array([1.0, 0.5 * v[0], 0.5 * v[1], 0.5 * v[2]]) / math.sqrt(1.0 + 0.25 * angle * angle)
    s = math.sin(0.5 * angle) / angle
    return np.array([math.cos(0.5 * angle), v[0] * s, v[1] * s, v[2] * s])


def axis_angle_from_quat(q: np.ndarray) -> np.ndarray:
    """Unit quaternion -> rotation vector with angle in [0, pi] (Isaac Lab's ``axis_angle_from_quat``)."""
    return np.array(_axis_angle_of(*(float(v) for v in q)))


def _axis_angle_of(w: float, x: float, y: float, z: float) -> tuple[float, float, float]:
    if w < 0.0:
        w, x, y, z = -w, -x, -y, -z
    sin_half = math.sqrt(x * x + y * y + z * z)
    angle = 2.0 * math.atan2(sin_half, w)
    # angle / sin(angle/2), with its Taylor expansion near zero as Isaac Lab uses
    k = angle / sin_half if sin_half > _TINY else 2.0 + angle * angle / 12.0
    return x * k, y * k, z * k


def axis_angle_to_mat(v: np.ndarray) -> np.ndarray:
    return quat_to_mat(quat_from_axis_angle(v))


def mat_to_axis_angle(m: np.ndarray) -> np.ndarray:
    return np.array(_axis_angle_of(*_quat_of(*np.asarray(m, dtype=np.float64).ravel().tolist())))


def relative_axis_angle(rot_a: np.ndarray, rot_b: np.ndarray) -> tuple[float, float, float]:
    """The rotation vector of ``rot_a @ rot_b.T`` (the turn from frame b to frame a), for the per-step
    controllers: the product and the conversion in float arithmetic, a fifth of the numpy calls' cost."""
    return relative_axis_angle_rows(rot_a.tolist(), rot_b.tolist())


def relative_axis_angle_rows(rows_a: Sequence[Sequence[float]],
                             rows_b: Sequence[Sequence[float]]) -> tuple[float, float, float]:
    """``relative_axis_angle`` of rotations given as rows of floats (the first three of each of the first
    three rows: a pose's ``tolist()`` will do), for callers that already hold them."""
    (a00, a01, a02, *_), (a10, a11, a12, *_), (a20, a21, a22, *_) = rows_a[:3]
    (b00, b01, b02, *_), (b10, b11, b12, *_), (b20, b21, b22, *_) = rows_b[:3]
    return _axis_angle_of(*_quat_of(
        a00 * b00 + a01 * b01 + a02 * b02, a00 * b10 + a01 * b11 + a02 * b12, a00 * b20 + a01 * b21 + a02 * b22,
        a10 * b00 + a11 * b01 + a12 * b02, a10 * b10 + a11 * b11 + a12 * b12, a10 * b20 + a11 * b21 + a12 * b22,
        a20 * b00 + a21 * b01 + a22 * b02, a20 * b10 + a21 * b11 + a22 * b12, a20 * b20 + a21 * b21 + a22 * b22))


def yaw_quat(yaw: float) -> np.ndarray:
    """Isaac Lab's ``quat_from_euler_xyz(0, 0, yaw)``."""
    return np.array([math.cos(0.5 * yaw), 0.0, 0.0, math.sin(0.5 * yaw)])


def pose_matrix(pos: np.ndarray, quat: np.ndarray) -> np.ndarray:
    """Position + (w, x, y, z) quaternion -> 4x4 homogeneous transform."""
    t = np.eye(4)
    t[:3, :3] = quat_to_mat(quat)
    t[:3, 3] = pos
    return t


def skew(v: np.ndarray) -> np.ndarray:
    return np.array([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])
