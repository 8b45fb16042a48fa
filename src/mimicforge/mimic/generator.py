"""One MimicGen trial on any ``MimicEnv``: reset, then per subtask select, transform, interpolate, execute.

Semantics follow Isaac Lab Mimic's ``DataGenerator.generate`` (spec §2.2): subtask boundaries are
randomized once per trial; the first subtask starts from the robot's current pose and later ones
interpolate from the last executed target; one waypoint is executed per env step; the trial succeeds if
the task's success check was true at any step, and every waypoint is executed regardless.

Source selection happens at every subtask (``per_subtask``: the MimicGen paper and Isaac Lab <= 2.0) or
only at the first (``per_trial``: what Isaac Lab 2.3 does with the Franka configs, whose
``generation_select_src_per_arm`` is False).

On top, by default, the refined execution of ``execution`` (settling, noise-free contact, held-object
correction, transit); ``MimicSettings(refinements=ISAAC_PARITY)`` executes exactly as Isaac Lab Mimic.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mimicforge.backends.base import EpisodeRecorder, MimicEnv
from mimicforge.datasets.reader import SourceDataset
from mimicforge.errors import ConfigError
from mimicforge.mimic.execution import (
    Refinements,
    converged,
    correct_for_held_object,
    lead_target,
    plan_subtask,
)
from mimicforge.mimic.selection import select_source_demo
from mimicforge.mimic.source import SourcePool
from mimicforge.mimic.trajectory import Waypoints, source_segment
from mimicforge.tasks import SubtaskSpec, TaskSpec


@dataclass(frozen=True, kw_only=True)
class MimicSettings:
    """The generator's knobs; ``None`` keeps the task's per-subtask value."""

    select_source: str = "per_subtask"  # or "per_trial"
    selection_strategy: str | None = None
    nn_k: int | None = None
    action_noise: float | None = None
    num_interpolation_steps: int | None = None
    num_fixed_steps: int | None = None
    interpolate_from_last_target: bool = True
    transform_first_robot_pose: bool = False
    refinements: Refinements = field(default_factory=Refinements)

    def apply(self, sub: SubtaskSpec) -> SubtaskSpec:
        names = ("selection_strategy", "nn_k", "action_noise", "num_interpolation_steps", "num_fixed_steps")
        changes: dict[str, Any] = {n: getattr(self, n) for n in names if getattr(self, n) is not None}
        if sub.object_ref is None:
            changes.pop("selection_strategy", None)  # a subtask without an object can only select at random
        return dataclasses.replace(sub, **changes)


def child_seed(seed: np.random.SeedSequence, index: int) -> np.random.SeedSequence:
    """A child of ``seed`` that does not depend on how often ``seed.spawn`` was called before."""
    return np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, index))


class TrialAborted(Exception):
    """A stop was requested in the middle of a trial; nothing of it is kept."""


@dataclass
class TrialResult:
    success: bool
    steps: int
    source_demos: list[str]  # per subtask
    failed_subtask: int | None  # first subtask whose termination signal never fired; None on success
    episode: dict[str, Any] | None = None
    source_steps: int = 0  # total length of the source segments the trial was built from


class MimicGenerator:
    """Generates trials from a source dataset on one environment."""

    def __init__(self, env: MimicEnv, source: SourceDataset, task: TaskSpec,
                 settings: MimicSettings | None = None) -> None:
        self.env = env
        self.task = task
        self.settings = settings or MimicSettings()
        if self.settings.select_source not in ("per_subtask", "per_trial"):
            raise ConfigError(f"select_source must be per_subtask or per_trial, not {self.settings.select_source!r}")
        if len(task.eef_names) != 1:
            raise ConfigError(f"task {task.name} has {len(task.eef_names)} end effectors; "
                              "the embedded generator drives single-arm tasks")
        self.eef = task.eef_names[0]
        self.pool = SourcePool(source, task, self.eef, env.actions_to_gripper_actions)
        self.subtasks = tuple(self.settings.apply(s) for s in self.pool.subtasks)

    def run_trial(self, seed: np.random.SeedSequence, recorder: EpisodeRecorder | None = None,
                  stop_requested: Callable[[], bool] | None = None) -> TrialResult:
        """One attempt, fully determined by ``seed`` (env reset events, offsets, selection, noise).

        ``stop_requested`` is polled every step; when it returns True the trial raises TrialAborted.
        """
        env, eef = self.env, self.eef
        rng = np.random.default_rng(child_seed(seed, 1))
        env.reset(seed=int(child_seed(seed, 0).generate_state(1, dtype=np.uint32)[0]))
        if recorder is not None:
            recorder.start()
        starts, ends = self.pool.randomized_bounds(rng)
        refine = self.settings.refinements
        success = False
        steps = source_steps = 0
        selected: int | None = None
        sources: list[str] = []
        fired: list[bool] = []
        last: Waypoints | None = None
        hit = False

        def execute(pose: np.ndarray, gripper: np.ndarray, noise: float, signal: str | None,
                    lead: bool = False) -> None:
            nonlocal steps, success, hit
            if stop_requested is not None and stop_requested():
                raise TrialAborted
            if lead:
                pose = lead_target(env.get_robot_eef_pose(eef), pose, refine)
            action = env.target_eef_pose_to_action({eef: pose}, {eef: gripper}, {eef: noise}, rng)
            if recorder is not None:
                recorder.step(action)
            else:
                env.step(action)
            steps += 1
            success = success or env.is_success()
            if signal is not None and not hit:
                hit = bool(env.get_subtask_term_signals()[signal])

        for i, sub in enumerate(self.subtasks):
            poses_now = env.get_object_poses()
            obj_now = poses_now[sub.object_ref] if sub.object_ref is not None else None
            eef_now = env.get_robot_eef_pose(eef)
            if selected is None or self.settings.select_source == "per_subtask":
                selected = select_source_demo(self.pool, i, starts[:, i], obj_now, eef_now, rng, spec=sub)
            demo = self.pool.demos[selected]
            sources.append(demo.name)
            first = i == 0
            start, end = int(starts[selected, i]), int(ends[selected, i])
            source_steps += end - start
            segment = source_segment(demo, start, end, sub.object_ref, obj_now, sub.action_noise,
                                     first or self.settings.transform_first_robot_pose)
            if refine.held_object_correction and sub.held_object is not None:
                held = sub.held_object
                segment = correct_for_held_object(segment, demo.eef_pose[start], demo.object_pose[held][start],
                                                  eef_now, poses_now[held], refine.held_object_distance)
            if first or last is None or not self.settings.interpolate_from_last_target:
                init = Waypoints(eef_now[None], segment.gripper[:1], np.array([sub.action_noise]))
            else:
                init = last
            plan = plan_subtask(init, segment, sub, refine, first)
            traj = plan.waypoints
            hit = False
            for k in range(len(traj)):
                execute(traj.poses[k], traj.gripper[k], float(traj.noise[k]), sub.term_signal, k < plan.planned)
                if k in plan.holds:
                    before = env.get_robot_eef_pose(eef)
                    for n in range(refine.settle_steps):
                        if converged(before, traj.poses[k], refine):
                            break
                        execute(traj.poses[k], traj.gripper[k], 0.0, sub.term_signal, True)
                        now = env.get_robot_eef_pose(eef)
                        if n > 0 and float(np.linalg.norm(now[:3, 3] - before[:3, 3])) < refine.settle_min_motion:
                            break  # stalled, e.g. against the object: waiting longer gains nothing
                        before = now
            fired.append(hit if sub.term_signal is not None else success)
            last = traj.last()
        failed = None
        if not success:
            failed = next((i for i, ok in enumerate(fired) if not ok), len(fired) - 1)
        episode = recorder.episode() if recorder is not None else None
        return TrialResult(success, steps, sources, failed, episode, source_steps)
