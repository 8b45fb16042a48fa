"""Source demo selection strategies (Isaac Lab Mimic's ``selection_strategy`` names and semantics).

- ``random``: any source demo, uniformly.
- ``nearest_neighbor_object``: the ``nn_k`` demos whose reference object, at the start of their segment,
  is closest to where the object is now; one of them uniformly. Distance = pos_weight·‖Δp‖ (m) +
  rot_weight·angle (rad), mixed 1:1 as in Isaac Lab, with no symmetry handling.
- ``nearest_neighbor_robot_distance``: the ``nn_k`` demos whose segment start, moved into the current
  object's frame, puts the end effector closest to where it is now.
"""

from __future__ import annotations

import numpy as np

from mimicforge.geometry import pose_inv, rotation_angle
from mimicforge.mimic.source import SourcePool
from mimicforge.tasks import SubtaskSpec


def pose_distances(candidates: np.ndarray, target: np.ndarray, pos_weight: float, rot_weight: float) -> np.ndarray:
    """Weighted position + rotation distance of (N, 4, 4) candidates to one (4, 4) pose."""
    dpos = np.linalg.norm(candidates[:, :3, 3] - target[:3, 3], axis=1)
    drot = rotation_angle(candidates[:, :3, :3], np.broadcast_to(target[:3, :3], candidates[:, :3, :3].shape))
    return pos_weight * dpos + rot_weight * drot


def pick_among_nearest(dist: np.ndarray, k: int, rng: np.random.Generator) -> int:
    k = min(k, dist.shape[0])
    nearest = np.argsort(dist, kind="stable")[:k]
    return int(nearest[rng.integers(k)])


def select_source_demo(
    pool: SourcePool,
    subtask_index: int,
    starts: np.ndarray,
    object_pose_now: np.ndarray | None,
    eef_pose_now: np.ndarray,
    rng: np.random.Generator,
    spec: SubtaskSpec | None = None,
) -> int:
    """Index into ``pool.demos`` of the demo to generate subtask ``subtask_index`` from.

    ``starts`` are this trial's (randomized) segment starts for that subtask, one per demo.
    """
    sub = spec or pool.subtasks[subtask_index]
    strategy = sub.selection_strategy
    if strategy == "random":
        return int(rng.integers(len(pool)))
    if sub.object_ref is None or object_pose_now is None:
        raise ValueError(f"strategy {strategy} needs an object_ref")
    src_obj = pool.segment_object_poses(sub.object_ref, starts)
    if strategy == "nearest_neighbor_object":
        dist = pose_distances(src_obj, object_pose_now, sub.pos_weight, sub.rot_weight)
    elif strategy == "nearest_neighbor_robot_distance":
        src_eef = pool.segment_eef_poses(starts)
        moved = object_pose_now @ pose_inv(src_obj) @ src_eef
        dist = pose_distances(moved, eef_pose_now, sub.pos_weight, sub.rot_weight)
    else:
        raise ValueError(f"unknown selection strategy {strategy!r}")
    return pick_among_nearest(dist, sub.nn_k, rng)
