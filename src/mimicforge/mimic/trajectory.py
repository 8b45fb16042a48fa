"""Waypoint trajectories: transformed source segments joined by interpolation (MimicGen / Isaac Lab Mimic).

A waypoint is a target eef pose, a gripper action and the std of the Gaussian action noise to add when it
is executed. Arrays instead of per-waypoint objects keep the hot loop free of Python allocations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mimicforge.mimic.poses import interpolate_poses, transform_segment
from mimicforge.mimic.source import SourceDemo


@dataclass(frozen=True)
class Waypoints:
    poses: np.ndarray  # (N, 4, 4)
    gripper: np.ndarray  # (N, k)
    noise: np.ndarray  # (N,)

    def __len__(self) -> int:
        return int(self.poses.shape[0])

    def last(self) -> Waypoints:
        return Waypoints(self.poses[-1:], self.gripper[-1:], self.noise[-1:])

    @staticmethod
    def concat(parts: list[Waypoints]) -> Waypoints:
        return Waypoints(
            np.concatenate([p.poses for p in parts]),
            np.concatenate([p.gripper for p in parts]),
            np.concatenate([p.noise for p in parts]),
        )


def source_segment(
    demo: SourceDemo,
    start: int,
    end: int,
    object_ref: str | None,
    object_pose_now: np.ndarray | None,
    action_noise: float,
    prepend_current_pose: bool,
) -> Waypoints:
    """The demo's target poses over [start, end), moved with the reference object to where it is now.

    With ``prepend_current_pose`` (the first subtask, as in Isaac Lab) the measured eef pose at ``start``
    is put in front, with the gripper action at ``start`` repeated, so the segment begins where the
    source robot actually was.
    """
    poses = demo.target_eef_pose[start:end]
    gripper = demo.gripper[start:end]
    if prepend_current_pose:
        poses = np.concatenate([demo.eef_pose[start:start + 1], poses])
        gripper = np.concatenate([demo.gripper[start:start + 1], gripper])
    if object_ref is not None:
        assert object_pose_now is not None
        poses = transform_segment(poses, demo.object_pose[object_ref][start], object_pose_now)
    return Waypoints(poses, gripper, np.full(len(poses), float(action_noise)))


def join(
    init: Waypoints,
    segment: Waypoints,
    num_interpolation_steps: int,
    num_fixed_steps: int,
    interpolation_noise: float,
) -> Waypoints:
    """What is executed for a subtask: a bridge from ``init`` to the segment, then the segment.

    The bridge (MimicGen's ``merge``) replaces the segment's first waypoint W0 with
    ``num_interpolation_steps`` poses interpolated from ``init`` plus W0 itself, then ``num_fixed_steps``
    copies of W0 (one more when there is no interpolation); bridge waypoints take W0's gripper action and
    ``interpolation_noise``, except the last, which keeps W0's noise. ``init`` itself is not executed.
    """
    if num_interpolation_steps <= 0 and num_fixed_steps <= 0:
        return segment
    w0_pose, w0_grip, w0_noise = segment.poses[0], segment.gripper[0], segment.noise[0]
    bridge = []
    if num_interpolation_steps > 0:
        bridge.append(interpolate_poses(init.poses[-1], w0_pose, num_interpolation_steps)[1:])
    if num_fixed_steps > 0:
        n = num_fixed_steps if num_interpolation_steps > 0 else num_fixed_steps + 1
        bridge.append(np.repeat(w0_pose[None], n, axis=0))
    poses = np.concatenate(bridge)
    noise = np.full(len(poses), float(interpolation_noise))
    noise[-1] = w0_noise
    head = Waypoints(poses, np.repeat(w0_grip[None], len(poses), axis=0), noise)
    rest = Waypoints(segment.poses[1:], segment.gripper[1:], segment.noise[1:])
    return Waypoints.concat([head, rest])
