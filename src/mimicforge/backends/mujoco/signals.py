"""Isaac Lab 2.3's stack-task checks (``object_grasped``, ``object_stacked``, ``cubes_stacked``) on plain numbers.

The thresholds come from ``mimicforge.tasks.StackThresholds``; nothing here is tuned. Finger values are
the raw joint positions of ``panda_finger_joint1`` and ``panda_finger_joint2`` (open = 0.04).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from mimicforge.tasks import FRANKA_STACK, StackThresholds

# Subtask signal -> (check, objects): the task registry's definition (``TaskSpec.signals``).
SIGNALS: dict[str, tuple[str, tuple[str, ...]]] = FRANKA_STACK.signals


def _isclose(a: float, b: float, th: StackThresholds) -> bool:
    """torch.isclose: |a - b| <= atol + rtol * |b|."""
    return abs(a - b) <= th.atol + th.rtol * abs(b)


def fingers_open(fingers: np.ndarray, th: StackThresholds) -> bool:
    return _isclose(float(fingers[0]), th.gripper_open_val, th) and _isclose(float(fingers[1]), th.gripper_open_val, th)


def object_grasped(cube_pos: np.ndarray, eef_pos: np.ndarray, fingers: np.ndarray, th: StackThresholds) -> bool:
    """The cube is within reach of the end effector and both fingers have closed by more than the threshold."""
    d = cube_pos - eef_pos
    near = math.sqrt(float(d[0]) ** 2 + float(d[1]) ** 2 + float(d[2]) ** 2) < th.grasp_diff_threshold
    return (near and abs(float(fingers[0]) - th.gripper_open_val) > th.gripper_threshold
            and abs(float(fingers[1]) - th.gripper_open_val) > th.gripper_threshold)


def object_stacked(upper: np.ndarray, lower: np.ndarray, fingers: np.ndarray, th: StackThresholds) -> bool:
    """Upper rests on lower (one-sided height test, no order check, as in Isaac) and the gripper is open."""
    d = upper - lower
    xy = math.hypot(float(d[0]), float(d[1]))
    return (xy < th.stack_xy_threshold and abs(float(d[2])) - th.height_diff < th.height_threshold
            and fingers_open(fingers, th))


def cubes_stacked(cubes: Mapping[str, np.ndarray], fingers: np.ndarray, th: StackThresholds,
                  speeds: Mapping[str, float] | None = None) -> bool:
    """Success: cube_2 on cube_1 and cube_3 on cube_2, in that vertical order, gripper open; with
    ``th.success_max_lin_vel`` (Isaac Lab 3.0's rule) also every cube slower than that (``speeds``, m/s)."""
    if th.success_max_lin_vel is not None:
        if speeds is None:
            raise ValueError("the success rule checks cube speeds; pass them")
        if any(v >= th.success_max_lin_vel for v in speeds.values()):
            return False
    c1, c2, c3 = cubes["cube_1"], cubes["cube_2"], cubes["cube_3"]
    d12, d23 = c1 - c2, c2 - c3
    if math.hypot(float(d12[0]), float(d12[1])) >= th.success_xy_threshold:
        return False
    if math.hypot(float(d23[0]), float(d23[1])) >= th.success_xy_threshold:
        return False
    if not (abs(float(d12[2])) - th.height_diff < th.height_threshold and c1[2] < c2[2]):
        return False
    if not (abs(float(d23[2])) - th.height_diff < th.height_threshold and c2[2] < c3[2]):
        return False
    return fingers_open(fingers, th)


def subtask_signals(cubes: Mapping[str, np.ndarray], eef_pos: np.ndarray, fingers: np.ndarray,
                    th: StackThresholds) -> dict[str, bool]:
    out: dict[str, bool] = {}
    for name, (kind, objs) in SIGNALS.items():
        if kind == "grasped":
            out[name] = object_grasped(cubes[objs[0]], eef_pos, fingers, th)
        else:
            out[name] = object_stacked(cubes[objs[0]], cubes[objs[1]], fingers, th)
    return out
