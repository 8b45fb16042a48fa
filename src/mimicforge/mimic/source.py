"""The source demo pool: per-demo poses and subtask boundaries, and their per-trial randomization.

Mirrors Isaac Lab Mimic's ``DataGenInfoPool`` and ``randomize_subtask_boundaries``: boundaries come from
the first change of each subtask termination signal (end = first True + 1), the last subtask ends with
the demo, and every trial shifts each non-final end by an integer drawn uniformly from the subtask's
``term_offset_range`` (inclusive), independently per source demo.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from mimicforge.datasets.reader import SourceDataset, subtask_boundaries
from mimicforge.errors import ConfigError, DatasetFormatError
from mimicforge.tasks import SubtaskSpec, TaskSpec, boundary_problem


@dataclass(frozen=True)
class SourceDemo:
    """What generation needs from one annotated demo, for one end effector."""

    name: str
    eef_pose: np.ndarray  # (T, 4, 4) measured eef poses
    target_eef_pose: np.ndarray  # (T, 4, 4) the targets the demo's actions encode
    gripper: np.ndarray  # (T, k) gripper actions
    object_pose: dict[str, np.ndarray]  # name -> (T, 4, 4)
    ends: np.ndarray  # (S,) unperturbed subtask ends; the last is T

    @property
    def length(self) -> int:
        return int(self.eef_pose.shape[0])


class SourcePool:
    """All source demos of one end effector, with the task's subtasks."""

    def __init__(self, dataset: SourceDataset, task: TaskSpec, eef: str,
                 gripper_actions: Callable[[np.ndarray], dict[str, np.ndarray]]) -> None:
        if eef not in task.subtasks:
            raise ConfigError(f"task {task.name} has no subtasks for end effector {eef!r}")
        self.eef = eef
        self.subtasks: tuple[SubtaskSpec, ...] = task.subtasks[eef]
        signals = task.term_signals(eef)
        demos = []
        for d in dataset.demos:
            info = d.datagen_info
            assert info is not None and d.actions is not None
            where = f"{dataset.path}: {d.name}"
            missing = [o for o in task.object_names if o not in info.object_pose]
            if eef not in info.eef_pose or eef not in info.target_eef_pose or missing:
                raise DatasetFormatError(
                    f"{where}: datagen_info lacks poses for {eef!r} or objects {', '.join(missing) or '(none)'}; "
                    f"the file does not match task {task.env_name}"
                )
            ends = np.array(subtask_boundaries(info.subtask_term_signals, signals, d.num_samples, where))
            demos.append(SourceDemo(
                name=d.name,
                eef_pose=info.eef_pose[eef].astype(np.float64),
                target_eef_pose=info.target_eef_pose[eef].astype(np.float64),
                gripper=np.asarray(gripper_actions(d.actions)[eef], dtype=np.float64),
                object_pose={k: v.astype(np.float64) for k, v in info.object_pose.items()},
                ends=ends,
            ))
        if not demos:
            raise DatasetFormatError(f"{dataset.path} holds no source demos")
        self.demos: tuple[SourceDemo, ...] = tuple(demos)
        self._ends = np.stack([d.ends for d in demos])  # (N, S)
        self._check_offsets()

    def __len__(self) -> int:
        return len(self.demos)

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.demos]

    def _check_offsets(self) -> None:
        """Isaac Lab's load-time check: shifted boundaries can never cross or empty a subtask."""
        for d in self.demos:
            problem = boundary_problem([int(e) for e in d.ends], self.subtasks)
            if problem:
                raise DatasetFormatError(f"{d.name}: {problem}; drop this demo or narrow term_offset_range")

    def randomized_bounds(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Per-trial (starts, ends), each (N, S): every non-final end shifted by its offset range."""
        ends = self._ends.copy()
        for i, sub in enumerate(self.subtasks[:-1]):
            lo, hi = sub.term_offset_range
            if hi > 0:
                ends[:, i] += rng.integers(lo, hi + 1, size=len(self.demos))
        starts = np.concatenate([np.zeros((len(self.demos), 1), dtype=ends.dtype), ends[:, :-1]], axis=1)
        if np.any(ends <= starts):
            raise AssertionError("randomized subtask boundaries produced an empty subtask")
        return starts, ends

    def segment_object_poses(self, obj: str, starts: Sequence[int]) -> np.ndarray:
        """(N, 4, 4): each demo's pose of ``obj`` at its segment start."""
        return np.stack([d.object_pose[obj][s] for d, s in zip(self.demos, starts)])

    def segment_eef_poses(self, starts: Sequence[int]) -> np.ndarray:
        """(N, 4, 4): each demo's measured eef pose at its segment start."""
        return np.stack([d.eef_pose[s] for d, s in zip(self.demos, starts)])
