"""MimicGen's pose operations on 4x4 homogeneous matrices: the object-centric transform and interpolation.

The rotation and transform primitives (Isaac Lab's conventions) live in ``mimicforge.geometry``, shared with
the twin.
"""

from __future__ import annotations

import numpy as np

from mimicforge.geometry import axis_angle_to_matrix, make_pose, matrix_to_axis_angle, pose_inv

# Below this angle (rad) Isaac Lab's pose interpolation uses the target rotation for every step.
SMALL_ANGLE = 0.05


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
        rots = axis_angle_to_matrix(vec * fractions[:, None]) @ start[:3, :3]  # one batched call per bridge
    rots[0], rots[-1] = start[:3, :3], end[:3, :3]
    return make_pose(pos, rots)
