"""Rotation helpers in Isaac Lab's conventions: quaternions (w, x, y, z), axis-angle with angle in [0, pi].

Plain numpy on single poses: the twin needs them per step on one environment, where small numpy
calls beat vectorised ones. Isaac Lab's ``axis_angle_from_quat`` flips a quaternion to w >= 0 before
taking the angle, so a rotation error is always the short way round; ``axis_angle_from_quat`` here
does the same.
"""

from __future__ import annotations

import math

import numpy as np


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
    m = np.asarray(m, dtype=np.float64)
    tr = m[0, 0] + m[1, 1] + m[2, 2]
    if tr > 0.0:
        s = 2.0 * math.sqrt(tr + 1.0)
        q = np.array([0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s])
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = 2.0 * math.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        q = np.array([(m[2, 1] - m[1, 2]) / s, 0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s])
    elif m[1, 1] > m[2, 2]:
        s = 2.0 * math.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        q = np.array([(m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s])
    else:
        s = 2.0 * math.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        q = np.array([(m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s])
    q /= np.linalg.norm(q)
    return -q if q[0] < 0.0 else q


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
    w, x, y, z = (float(v) for v in q)
    if w < 0.0:
        w, x, y, z = -w, -x, -y, -z
    sin_half = math.sqrt(x * x + y * y + z * z)
    angle = 2.0 * math.atan2(sin_half, w)
    # angle / sin(angle/2), with its Taylor expansion near zero as Isaac Lab uses
    k = angle / sin_half if sin_half > 1e-6 else 2.0 + angle * angle / 12.0
    return np.array([x * k, y * k, z * k])


def axis_angle_to_mat(v: np.ndarray) -> np.ndarray:
    return quat_to_mat(quat_from_axis_angle(v))


def mat_to_axis_angle(m: np.ndarray) -> np.ndarray:
    return axis_angle_from_quat(mat_to_quat(m))


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
