"""Refined execution: what mimicforge adds to MimicGen so generated trajectories are actually followed.

MimicGen replays transformed source segments one waypoint per step and assumes the robot tracks them.
With Isaac Lab's IK-Rel controller it does not, quite: the end effector closes about 11 % of its error per
step, so after the 5-step bridge between segments it is still centimetres off when the source closes or
opens the gripper, and 0.03 action noise makes it wander 7-9 mm around its target. Measured on the twin
(``bench/success.py``), those lags, not the transforms, cause most failed attempts. The refinements, each
off in Isaac Lab parity mode, fix them without padding the demo with waiting:

- **lead** (feed-forward of the controller's lag): the waypoints mimicforge plans itself (transit, bridges,
  settling) are commanded ``lead_gain`` times as far from the hand as they are (capped at the human demos'
  largest actions), so the hand arrives in a few steps instead of trailing; the source's own segments are
  replayed as they are, since their targets already lead the hand as the human's did;
- **settle**: before every gripper change (and, with ``settle_after_bridge``, after each bridge) hold the
  target until the end effector is within tolerance, for as long as the error needs: at most
  ``settle_steps``, and no longer once the hand stops moving (held up by contact, waiting gains nothing);
- **noise-free contact**: no action noise on the ``noise_free_steps`` waypoints up to a gripper change,
  where a few millimetres decide whether a grasp holds or a placed cube stays;
- **held-object correction**: for a subtask that carries an object (``SubtaskSpec.held_object``), shift the
  segment by the difference between the source's and the current in-hand pose of that object, so the
  object, not the hand, follows the source's path relative to the reference object;
- **transit**: between subtasks, lift to ``transit_clearance`` above the higher end (the hand counts as one:
  the last target of a placing segment is often pressed below it), traverse, then bridge down as MimicGen
  does, instead of cutting straight through a stack that was just built; before traversing, hold the top
  until the hand is ``transit_climb`` above the higher end, or the led hand cuts the corner through it;
- **short bridges**: a bridge takes one step per ``bridge_step`` of distance, at most Isaac's
  ``num_interpolation_steps``, so a small gap is not crossed in slow motion.

The selection, the object-centric transform and the interpolation rules themselves stay Isaac Lab's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mimicforge.geometry import (
    axis_angle_to_mat,
    pose_inv,
    relative_axis_angle_rows,
    rotation_angle,
)
from mimicforge.mimic.poses import interpolate_poses
from mimicforge.mimic.trajectory import Waypoints, join
from mimicforge.tasks import SubtaskSpec


@dataclass(frozen=True, kw_only=True)
class Refinements:
    settle_steps: int = 30  # 0: off
    settle_after_bridge: bool = False  # also settle on a segment's first waypoint, not only at gripper changes
    settle_position_tolerance: float = 0.005  # m
    settle_rotation_tolerance: float = 0.05  # rad
    settle_min_motion: float = 0.001  # m per step; stop settling once the hand moves less (held up by contact)
    noise_free_steps: int = 20  # 0: off
    held_object_correction: bool = True
    held_object_distance: float = 0.06  # m; beyond it the object counts as not held (no correction)
    transit_clearance: float = 0.05  # m; 0: off
    transit_step: float = 0.06  # m per env step along the transit path
    transit_climb: float = 0.02  # m; before traversing, hold the transit's top until the hand is this far above
    # the higher end (0: off): a hand lagging its targets would otherwise cut the corner through a stack
    bridge_step: float = 0.02  # m per env step; > 0: bridges only as long as their distance needs (at most Isaac's)
    lead_gain: float = 5.0  # 1: off; > 1: command planned waypoints ahead of the hand (``lead_target``)
    lead_max_position: float = 0.2  # m; caps the commanded lead (the human demos' largest action is 0.21 m)
    lead_max_rotation: float = 0.5  # rad; likewise (0.50 rad in the human demos)

    def __post_init__(self) -> None:
        for name in ("settle_steps", "noise_free_steps"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.transit_clearance < 0 or self.transit_step <= 0 or self.bridge_step < 0:
            raise ValueError("transit_clearance and bridge_step must be >= 0 and transit_step > 0")
        if not 0 <= self.transit_climb <= self.transit_clearance + 1e-12 and self.transit_clearance > 0:
            raise ValueError("transit_climb must be between 0 and transit_clearance")
        if self.lead_gain < 1 or self.lead_max_position <= 0 or self.lead_max_rotation <= 0:
            raise ValueError("lead_gain must be >= 1 and its caps > 0")


ISAAC_PARITY = Refinements(settle_steps=0, noise_free_steps=0, held_object_correction=False, transit_clearance=0.0,
                           bridge_step=0.0, lead_gain=1.0, transit_climb=0.0)


@dataclass(frozen=True)
class SubtaskPlan:
    waypoints: Waypoints
    holds: frozenset[int]  # after executing waypoint k, hold it until the end effector has converged
    planned: int = 0  # waypoints [0, planned) are ours (transit, bridge), the rest the source's segment
    climb: int | None = None  # the transit's top: after it, hold it until the hand has climbed (``climbed``)


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


def transit_path(start: np.ndarray, end: np.ndarray, clearance: float, step: float,
                 hand: np.ndarray | None = None) -> np.ndarray:
    """Poses (excluding ``start``) that rise above the higher of the two ends, then traverse over ``end``.

    ``hand``: the end effector's actual pose, when it is higher than ``start`` (the last target), counts as
    an end too: a target pressed down into a contact (a cube just placed on a stack) lies below the hand
    and the top of what it placed, and a path ``clearance`` above it would sweep through that stack.
    """
    top = max(start[2, 3], end[2, 3], hand[2, 3] if hand is not None else -np.inf) + clearance
    up, over = start.copy(), end.copy()
    up[2, 3] = over[2, 3] = top
    legs = []
    for a, b in ((start, up), (up, over)):
        n = max(1, int(np.ceil(np.linalg.norm(b[:3, 3] - a[:3, 3]) / step)))
        legs.append(interpolate_poses(a, b, n - 1)[1:])
    return np.concatenate(legs)


def plan_subtask(init: Waypoints, segment: Waypoints, sub: SubtaskSpec, refine: Refinements,
                 first: bool, hand: np.ndarray | None = None) -> SubtaskPlan:
    """The waypoints of one subtask (Isaac Lab's bridge + segment, refined) and where to settle."""
    interp_noise = sub.action_noise if sub.apply_noise_during_interpolation else 0.0
    prefix: Waypoints | None = None
    top = 0
    if refine.transit_clearance > 0 and not first:
        path = transit_path(init.poses[-1], segment.poses[0], refine.transit_clearance, refine.transit_step,
                            hand)
        prefix = Waypoints(path, np.repeat(segment.gripper[:1], len(path), axis=0), np.zeros(len(path)))
        top = int(np.argmax(np.isclose(path[:, 2, 3], path[:, 2, 3].max())))  # the end of the climb
        init = Waypoints(path[-1:], segment.gripper[:1], np.zeros(1))
    steps = sub.num_interpolation_steps
    if refine.bridge_step > 0 and steps > 0:
        distance = float(np.linalg.norm(segment.poses[0][:3, 3] - init.poses[-1][:3, 3]))
        steps = min(steps, max(1, int(np.ceil(distance / refine.bridge_step))))
    traj = join(init, segment, steps, sub.num_fixed_steps, interp_noise)
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
        if refine.settle_after_bridge:
            holds.add(start_index)
        holds.update(int(k) - 1 for k in gripper_changes(traj.gripper))
    climb = top if prefix is not None and refine.transit_climb > 0 and refine.settle_steps > 0 else None
    return SubtaskPlan(traj, frozenset(holds), start_index + 1 if prefix is not None or bridge else 0, climb)


def lead_target(eef: np.ndarray, target: np.ndarray, refine: Refinements) -> np.ndarray:
    """The pose to command so the hand reaches ``target`` sooner: the error scaled by ``lead_gain``, capped.

    Isaac Lab's IK-Rel controller closes about 11 % of the commanded error per step, so a hand sent to a
    waypoint 2 cm away needs some 20 steps to arrive; commanding the error times the gain (the controller's
    known lag fed forward) brings it there in a few, without waiting. Used for the waypoints mimicforge
    plans itself (transit, bridges, settling), never for the source's segment, whose targets already lead
    the hand as the human's did.
    """
    if refine.lead_gain == 1.0:
        return target
    # Once per planned step: float arithmetic on the two poses' entries (IEEE's, as numpy's element-wise
    # operations, so the same bits); numpy's norms and product, whose sums are BLAS's.
    gain = refine.lead_gain
    hand, goal = eef.tolist(), target.tolist()
    ex, ey, ez = hand[0][3], hand[1][3], hand[2][3]
    tx, ty, tz = goal[0][3], goal[1][3], goal[2][3]
    dx, dy, dz = (tx - ex) * gain, (ty - ey) * gain, (tz - ez) * gain
    norm = _norm(dx, dy, dz)
    if norm > refine.lead_max_position:
        scale = refine.lead_max_position / norm
        dx, dy, dz = dx * scale, dy * scale, dz * scale
    rx, ry, rz = relative_axis_angle_rows(goal, hand)
    rx, ry, rz = rx * gain, ry * gain, rz * gain
    angle = _norm(rx, ry, rz)
    if angle > refine.lead_max_rotation:
        scale = refine.lead_max_rotation / angle
        rx, ry, rz = rx * scale, ry * scale, rz * scale
    out = np.empty((4, 4))
    out[3] = (0.0, 0.0, 0.0, 1.0)
    out[:3, 3] = (ex + dx, ey + dy, ez + dz)
    out[:3, :3] = axis_angle_to_mat(np.array((rx, ry, rz))) @ eef[:3, :3]
    return out


def _norm(x: float, y: float, z: float) -> float:
    """``np.linalg.norm`` of a 3-vector, as it computes it (the square root of BLAS's dot product, whose
    rounding a plain sum of squares does not always match)."""
    v = np.array((x, y, z))
    return math.sqrt(v.dot(v))


def converged(eef: np.ndarray, target: np.ndarray, refine: Refinements) -> bool:
    return (float(np.linalg.norm(eef[:3, 3] - target[:3, 3])) < refine.settle_position_tolerance
            and float(rotation_angle(eef[:3, :3], target[:3, :3])) < refine.settle_rotation_tolerance)


def climbed(eef: np.ndarray, top: np.ndarray, refine: Refinements) -> bool:
    """The hand is ``transit_climb`` above the higher end of a transit whose ``top`` is ``transit_clearance``
    above it, whatever its x, y: high enough to traverse."""
    return float(eef[2, 3]) > float(top[2, 3]) - refine.transit_clearance + refine.transit_climb
