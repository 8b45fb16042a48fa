"""Pose algebra on 4x4 homogeneous matrices (numpy only).

Conventions match Isaac Lab: quaternions are (w, x, y, z); rotation vectors (axis-angle) have their
angle in [0, pi]; ``a @ b`` composes frames, so ``T_world_obj @ T_obj_eef = T_world_eef``.
"""

from __future__ import annotations

import numpy as np

# Below this angle (rad) Isaac Lab's pose interpolation uses the target rotation for every step.
SMALL_ANGLE = 0.05


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
    """(..., 4) unit quaternions (w, x, y, z) to (..., 3, 3) rotation matrices."""
    q = np.asarray(q, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = np.moveaxis(q, -1, 0)
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
        np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
        np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
    ], -2)


def matrix_to_quat(rot: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices to (..., 4) quaternions (w, x, y, z) with w >= 0."""
    rot = np.asarray(rot, dtype=np.float64)
    m = rot.reshape(-1, 3, 3)
    out = np.empty((m.shape[0], 4))
    tr = np.trace(m, axis1=1, axis2=2)
    for i, (r, t) in enumerate(zip(m, tr)):
        if t > 0:
            s = 2.0 * np.sqrt(t + 1.0)
            out[i] = (0.25 * s, (r[2, 1] - r[1, 2]) / s, (r[0, 2] - r[2, 0]) / s, (r[1, 0] - r[0, 1]) / s)
        elif r[0, 0] > r[1, 1] and r[0, 0] > r[2, 2]:
            s = 2.0 * np.sqrt(1.0 + r[0, 0] - r[1, 1] - r[2, 2])
            out[i] = ((r[2, 1] - r[1, 2]) / s, 0.25 * s, (r[0, 1] + r[1, 0]) / s, (r[0, 2] + r[2, 0]) / s)
        elif r[1, 1] > r[2, 2]:
            s = 2.0 * np.sqrt(1.0 + r[1, 1] - r[0, 0] - r[2, 2])
            out[i] = ((r[0, 2] - r[2, 0]) / s, (r[0, 1] + r[1, 0]) / s, 0.25 * s, (r[1, 2] + r[2, 1]) / s)
        else:
            s = 2.0 * np.sqrt(1.0 + r[2, 2] - r[0, 0] - r[1, 1])
            out[i] = ((r[1, 0] - r[0, 1]) / s, (r[0, 2] + r[2, 0]) / s, (r[1, 2] + r[2, 1]) / s, 0.25 * s)
    out *= np.where(out[:, :1] < 0, -1.0, 1.0)
    return out.reshape(rot.shape[:-2] + (4,))


def axis_angle_to_matrix(vec: np.ndarray) -> np.ndarray:
    """Rodrigues' formula: rotation vector (3,) to (3, 3)."""
    vec = np.asarray(vec, dtype=np.float64)
    theta = float(np.linalg.norm(vec))
    if theta < 1e-12:
        return np.eye(3)
    k = vec / theta
    kx = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.eye(3) + np.sin(theta) * kx + (1.0 - np.cos(theta)) * (kx @ kx)


def matrix_to_axis_angle(rot: np.ndarray) -> np.ndarray:
    """Rotation matrix (3, 3) to rotation vector (3,), angle in [0, pi] (via the quaternion, stable near pi)."""
    q = matrix_to_quat(rot)
    w = min(1.0, float(q[0]))
    s = float(np.linalg.norm(q[1:]))
    if s < 1e-12:
        return np.zeros(3)
    angle = 2.0 * np.arctan2(s, w)
    return q[1:] / s * angle


def rotation_angle(rot_a: np.ndarray, rot_b: np.ndarray) -> np.ndarray:
    """Angle (rad) between rotations, batched over leading dims: acos((tr(Ra Rbᵀ) - 1) / 2)."""
    tr = np.einsum("...ij,...ij->...", rot_a, rot_b)
    return np.arccos(np.clip((tr - 1.0) / 2.0, -1.0, 1.0))


def transform_segment(src_poses: np.ndarray, src_object_pose: np.ndarray, now_object_pose: np.ndarray) -> np.ndarray:
    """MimicGen's object-centric transform: T_new = T_obj_now · T_obj_src⁻¹ · T_src, for (N, 4, 4) poses."""
    return now_object_pose @ pose_inv(src_object_pose) @ src_poses


def interpolate_poses(start: np.ndarray, end: np.ndarray, num_steps: int) -> np.ndarray:
    """``num_steps + 2`` poses from ``start`` to ``end`` inclusive (Isaac Lab / MimicGen semantics).

    Positions are linear. Rotations turn about the fixed axis of R_end·R_startᵀ; when that angle is
    below ``SMALL_ANGLE`` every intermediate pose takes the end rotation, as Isaac Lab does.
    """
    n = num_steps + 1
    fractions = np.arange(n + 1) / n
    pos = start[:3, 3] + fractions[:, None] * (end[:3, 3] - start[:3, 3])
    delta = end[:3, :3] @ start[:3, :3].T
    vec = matrix_to_axis_angle(delta)
    angle = float(np.linalg.norm(vec))
    if angle < SMALL_ANGLE:
        rots = np.repeat(end[None, :3, :3], n + 1, axis=0)
    else:
        rots = np.stack([axis_angle_to_matrix(vec * f) @ start[:3, :3] for f in fractions])
    rots[0], rots[-1] = start[:3, :3], end[:3, :3]
    return make_pose(pos, rots)
