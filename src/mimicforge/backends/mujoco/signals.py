"""Isaac Lab 2.3's stack-task checks (``object_grasped``, ``object_stacked``, ``cubes_stacked``) on plain numbers.

The thresholds come from ``mimicforge.tasks.StackThresholds``; nothing here is tuned. Finger values are
the raw joint positions of ``panda_finger_joint1`` and ``panda_finger_joint2`` (open = 0.04).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from mimicforge.tasks import FRANKA_STACK, StackThresholds

# Subtask signal -> (check, objects): the task registry's definition (``TaskSpec.signals``).
SIGNALS: dict[str, tuple[str, tuple[str, ...]]] = FRANKA_STACK.signals


def _floats(v: Any) -> list[float]:
    """A 2- or 3-vector's entries as Python floats (the checks run every step: float arithmetic on them is
    IEEE's, as numpy's element-wise operations, at a fraction of the cost of numpy calls on 3-vectors)."""
    return v.tolist() if isinstance(v, np.ndarray) else [float(x) for x in v]


def _isclose(a: float, b: float, th: StackThresholds) -> bool:
    """torch.isclose: |a - b| <= atol + rtol * |b|."""
    return abs(a - b) <= th.atol + th.rtol * abs(b)


def _open(f0: float, f1: float, th: StackThresholds) -> bool:
    return _isclose(f0, th.gripper_open_val, th) and _isclose(f1, th.gripper_open_val, th)


def fingers_open(fingers: np.ndarray, th: StackThresholds) -> bool:
    f0, f1 = _floats(fingers)[:2]
    return _open(f0, f1, th)


def _grasped(cube: list[float], eef: list[float], f0: float, f1: float, th: StackThresholds) -> bool:
    dx, dy, dz = cube[0] - eef[0], cube[1] - eef[1], cube[2] - eef[2]
    near = math.sqrt(dx ** 2 + dy ** 2 + dz ** 2) < th.grasp_diff_threshold
    return near and abs(f0 - th.gripper_open_val) > th.gripper_threshold and abs(f1 - th.gripper_open_val) > th.gripper_threshold


def _stacked(upper: list[float], lower: list[float], f0: float, f1: float, th: StackThresholds) -> bool:
    xy = math.hypot(upper[0] - lower[0], upper[1] - lower[1])
    return xy < th.stack_xy_threshold and abs(upper[2] - lower[2]) - th.height_diff < th.height_threshold and _open(f0, f1, th)


def object_grasped(cube_pos: np.ndarray, eef_pos: np.ndarray, fingers: np.ndarray, th: StackThresholds) -> bool:
    """The cube is within reach of the end effector and both fingers have closed by more than the threshold."""
    f0, f1 = _floats(fingers)[:2]
    return _grasped(_floats(cube_pos), _floats(eef_pos), f0, f1, th)


def object_stacked(upper: np.ndarray, lower: np.ndarray, fingers: np.ndarray, th: StackThresholds) -> bool:
    """Upper rests on lower (one-sided height test, no order check, as in Isaac) and the gripper is open."""
    f0, f1 = _floats(fingers)[:2]
    return _stacked(_floats(upper), _floats(lower), f0, f1, th)


def cubes_stacked(cubes: Mapping[str, np.ndarray], fingers: np.ndarray, th: StackThresholds,
                  speeds: Mapping[str, float] | None = None) -> bool:
    """Success: cube_2 on cube_1 and cube_3 on cube_2, in that vertical order, gripper open; with
    ``th.success_max_lin_vel`` (Isaac Lab 3.0's rule) also every cube slower than that (``speeds``, m/s)."""
    if th.success_max_lin_vel is not None:
        if speeds is None:
            raise ValueError("the success rule checks cube speeds; pass them")
        if any(v >= th.success_max_lin_vel for v in speeds.values()):
            return False
    c1, c2, c3 = _floats(cubes["cube_1"]), _floats(cubes["cube_2"]), _floats(cubes["cube_3"])
    if math.hypot(c1[0] - c2[0], c1[1] - c2[1]) >= th.success_xy_threshold:
        return False
    if math.hypot(c2[0] - c3[0], c2[1] - c3[1]) >= th.success_xy_threshold:
        return False
    if not (abs(c1[2] - c2[2]) - th.height_diff < th.height_threshold and c1[2] < c2[2]):
        return False
    if not (abs(c2[2] - c3[2]) - th.height_diff < th.height_threshold and c2[2] < c3[2]):
        return False
    return _open(*_floats(fingers)[:2], th)


def subtask_signals(cubes: Mapping[str, np.ndarray], eef_pos: np.ndarray, fingers: np.ndarray,
                    th: StackThresholds) -> dict[str, bool]:
    pos = {name: _floats(v) for name, v in cubes.items()}
    eef = _floats(eef_pos)
    f0, f1 = _floats(fingers)[:2]
    out: dict[str, bool] = {}
    for name, (kind, objs) in SIGNALS.items():
        if kind == "grasped":
            out[name] = _grasped(pos[objs[0]], eef, f0, f1, th)
        else:
            out[name] = _stacked(pos[objs[0]], pos[objs[1]], f0, f1, th)
    return out
