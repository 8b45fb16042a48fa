"""How a demo moves: its length and its idle share, defined once for source and generated demos alike.

A step is *idle* when, from its observation to the next, the end effector moves less than
``IDLE_HAND_M`` and the fingers move less than ``IDLE_GRIPPER_M`` (summed over both fingers): the robot
holds still and the gripper neither opens nor closes. 1 mm per 20 Hz step is 2 cm/s, slower than any
purposeful motion in NVIDIA's human demos of the stack task (whose idle share by this measure is 7.6 %).
The idle share of a demo of ``T`` steps is taken over its ``T - 1`` transitions between observations.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

IDLE_HAND_M = 0.001  # m of end-effector travel per env step
IDLE_GRIPPER_M = 0.001  # m of finger travel per env step, both fingers together


def idle_steps(eef_pos: np.ndarray, gripper_pos: np.ndarray) -> np.ndarray:
    """Boolean per transition t -> t + 1 (length T - 1): the hand and the fingers held still."""
    eef = np.asarray(eef_pos, dtype=np.float64)
    grip = np.asarray(gripper_pos, dtype=np.float64).reshape(len(eef), -1)
    hand = np.linalg.norm(np.diff(eef, axis=0), axis=1)
    fingers = np.abs(np.diff(grip, axis=0)).sum(axis=1)
    return (hand < IDLE_HAND_M) & (fingers < IDLE_GRIPPER_M)


def idle_share(eef_pos: np.ndarray, gripper_pos: np.ndarray) -> float:
    """Share of a demo's transitions that are idle (0.0 for a demo shorter than two steps)."""
    idle = idle_steps(eef_pos, gripper_pos)
    return float(idle.mean()) if idle.size else 0.0


def episode_idle_share(obs: Mapping[str, Any]) -> float | None:
    """Idle share from a demo's ``obs`` (``eef_pos`` and ``gripper_pos``, as Isaac Lab records them);
    None when the observations lack either key."""
    if "eef_pos" not in obs or "gripper_pos" not in obs:
        return None
    return idle_share(np.asarray(obs["eef_pos"]), np.asarray(obs["gripper_pos"]))
