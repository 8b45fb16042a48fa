"""Refined execution: what mimicforge adds to MimicGen so generated trajectories are actually followed.

MimicGen replays transformed source segments one waypoint per step and assumes the robot tracks them.
With Isaac Lab's IK-Rel controller it does not, quite: the end effector closes about 11 % of its error per
step, so after the 5-step bridge between segments it is still centimetres off when the source closes or
opens the gripper, and 0.03 action noise makes it wander 7-9 mm around its target. Measured on the twin
(``bench/success.py``), those lags, not the transforms, cause most failed attempts. Four refinements, each
a setting, each off in Isaac Lab parity mode:

- **settle**: after the bridge into a segment and before every gripper change, hold the current target
  until the end effector is within tolerance of it (at most ``settle_steps`` steps);
- **noise-free contact**: no action noise on the ``noise_free_steps`` waypoints up to a gripper change,
  where a few millimetres decide whether a grasp holds or a placed cube stays;
- **held-object correction**: for a subtask that carries an object (``SubtaskSpec.held_object``), shift the
  segment by the difference between the source's and the current in-hand pose of that object, so the
  object, not the hand, follows the source's path relative to the reference object;
- **transit**: between subtasks, lift to ``transit_clearance`` above the higher end, traverse, then bridge
  down as MimicGen does, instead of cutting straight through a stack that was just built.

The selection, the object-centric transform and the interpolation rules themselves stay Isaac Lab's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mimicforge.mimic.poses import interpolate_poses, pose_inv, rotation_angle
from mimicforge.mimic.trajectory import Waypoints, join
from mimicforge.tasks import SubtaskSpec


@dataclass(frozen=True, kw_only=True)
class Refinements:
    settle_steps: int = 30  # 0: off
    settle_position_tolerance: float = 0.01  # m
    settle_rotation_tolerance: float = 0.05  # rad
    noise_free_steps: int = 10  # 0: off
    held_object_correction: bool = True
    held_object_distance: float = 0.06  # m; beyond it the object counts as not held (no correction)
    transit_clearance: float = 0.05  # m; 0: off
    transit_step: float = 0.02  # m per env step along the transit path

    def __post_init__(self) -> None:
        for name in ("settle_steps", "noise_free_steps"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.transit_clearance < 0 or self.transit_step <= 0:
            raise ValueError("transit_clearance must be >= 0 and transit_step > 0")


ISAAC_PARITY = Refinements(settle_steps=0, noise_free_steps=0, held_object_correction=False, transit_clearance=0.0)


@dataclass(frozen=True)
class SubtaskPlan:
    waypoints: Waypoints
    holds: frozenset[int]  # after executing waypoint k, hold it until the end effector has converged


def gripper_changes(gripper: np.ndarray) -> np.ndarray:
    """Indices k whose gripper command differs in sign from waypoint k - 1."""
    sign = np.sign(np.asarray(gripper)[:, 0])
    return np.flatnonzero(sign[1:] != sign[:-1]) + 1


def correct_for_held_object(segment: Waypoints, src_eef: np.ndarray, src_obj: np.ndarray, eef_now: np.ndarray,
                            obj_now: np.ndarray, max_distance: float) -> Waypoints:
    """Move the segment's targets so the held object takes the source object's place in the hand frame.

    ``src_eef``/``src_obj``: the source's eef and held-object poses at the segment start; ``eef_now`` /
    ``obj_now``: the current ones. Left unchanged when either object is not within ``max_distance`` of its
    end effector (nothing is really held, so there is nothing to correct for).
    """
    if (np.linalg.norm(src_obj[:3, 3] - src_eef[:3, 3]) > max_distance
            or np.linalg.norm(obj_now[:3, 3] - eef_now[:3, 3]) > max_distance):
        return segment
    correction = (pose_inv(src_eef) @ src_obj) @ pose_inv(pose_inv(eef_now) @ obj_now)
    return Waypoints(segment.poses @ correction, segment.gripper, segment.noise)


def transit_path(start: np.ndarray, end: np.ndarray, clearance: float, step: float) -> np.ndarray:
    """Poses (excluding ``start``) that rise above the higher of the two ends, then traverse over ``end``."""
    top = max(start[2, 3], end[2, 3]) + clearance
    up, over = start.copy(), end.copy()
    up[2, 3] = over[2, 3] = top
    legs = []
    for a, b in ((start, up), (up, over)):
        n = max(1, int(np.ceil(np.linalg.norm(b[:3, 3] - a[:3, 3]) / step)))
        legs.append(interpolate_poses(a, b, n - 1)[1:])
    return np.concatenate(legs)


def plan_subtask(init: Waypoints, segment: Waypoints, sub: SubtaskSpec, refine: Refinements,
                 first: bool) -> SubtaskPlan:
    """The waypoints of one subtask (Isaac Lab's bridge + segment, refined) and where to settle."""
    interp_noise = sub.action_noise if sub.apply_noise_during_interpolation else 0.0
    prefix: Waypoints | None = None
    if refine.transit_clearance > 0 and not first:
        path = transit_path(init.poses[-1], segment.poses[0], refine.transit_clearance, refine.transit_step)
        prefix = Waypoints(path, np.repeat(segment.gripper[:1], len(path), axis=0), np.zeros(len(path)))
        init = Waypoints(path[-1:], segment.gripper[:1], np.zeros(1))
    traj = join(init, segment, sub.num_interpolation_steps, sub.num_fixed_steps, interp_noise)
    bridge = len(traj) - len(segment) + 1 if len(traj) > len(segment) else 0  # bridge length incl. W0
    start_index = max(bridge - 1, 0)  # where W0 (or the first fixed copy of it) is executed
    if prefix is not None:
        traj = Waypoints.concat([prefix, traj])
        start_index += len(prefix)
    if refine.noise_free_steps > 0:
        noise = traj.noise.copy()
        for k in gripper_changes(traj.gripper):
            noise[max(0, k - refine.noise_free_steps):k + 1] = 0.0
        traj = Waypoints(traj.poses, traj.gripper, noise)
    holds: set[int] = set()
    if refine.settle_steps > 0:
        holds.add(start_index)
        holds.update(int(k) - 1 for k in gripper_changes(traj.gripper))
    return SubtaskPlan(traj, frozenset(holds))


def converged(eef: np.ndarray, target: np.ndarray, refine: Refinements) -> bool:
    return (float(np.linalg.norm(eef[:3, 3] - target[:3, 3])) < refine.settle_position_tolerance
            and float(rotation_angle(eef[:3, :3], target[:3, :3])) < refine.settle_rotation_tolerance)
