"""Record annotated source demos with the scripted expert: what Isaac Lab's teleop + ``annotate_demos.py`` make.

Every step goes through ``EpisodeRecorder`` with ``datagen_info`` on, so each demo carries the same
datasets as NVIDIA's annotated file: actions, observations, states, and ``obs/datagen_info`` (eef and
object poses, the target pose each action encodes, the subtask signals). As in ``annotate_demos.py``,
an attempt is kept only if it succeeds at its last step and every subtask signal turns True; in
addition its subtask boundaries must leave room for the generator's boundary offsets, which Isaac Lab
Mimic asserts when it loads a source file.

Attempt ``i`` of a run with seed ``s`` draws everything from ``SeedSequence(s, spawn_key=(i,))``, so a
run is reproducible bit for bit and any single attempt can be re-run alone.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mimicforge.backends.base import EpisodeRecorder
from mimicforge.backends.mujoco import ENV_NAME
from mimicforge.datasets import DatasetWriter, subtask_boundaries
from mimicforge.errors import ConfigError, DatasetFormatError, OutputExistsError
from mimicforge.tasks import TaskSpec

log = logging.getLogger(__name__)

MAX_STEPS = 500  # 25 s; the expert needs 180-320 steps


@dataclass(frozen=True)
class Attempt:
    index: int
    success: bool
    steps: int
    seconds: float
    reason: str  # why it was not kept ("" when kept)


@dataclass(frozen=True)
class RecordResult:
    attempts: int
    successes: int
    output: Path

    def to_json(self) -> dict[str, Any]:
        return {"attempts": self.attempts, "successes": self.successes, "output": str(self.output)}


def boundary_problem(signals: dict[str, np.ndarray], task: TaskSpec, length: int) -> str:
    """Why Isaac Lab Mimic would reject these subtask signals as a source demo ("" if it would not)."""
    eef = task.eef_names[0]
    try:
        ends = subtask_boundaries(signals, task.term_signals(eef), length, "episode")
    except DatasetFormatError as exc:
        return str(exc).split(": ", 1)[-1]
    subtasks = task.subtasks[eef]
    for i in range(1, len(ends)):
        prev_hi = subtasks[i - 1].term_offset_range[1]
        lo = subtasks[i].term_offset_range[0]
        if not ends[i - 1] + prev_hi < ends[i] + lo:
            return f"subtask {i} ends at step {ends[i]}, too close to subtask {i - 1} (ends {ends[i - 1]})"
    return ""


def _check_output(out: Path, overwrite: bool) -> None:
    if out.suffix not in (".hdf5", ".h5"):
        raise ConfigError(f"--out {str(out)!r} must end in .hdf5 (e.g. datasets/source.hdf5)")
    if out.is_dir():
        raise ConfigError(f"--out {str(out)!r} is a directory; give a file name ending in .hdf5")
    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out} already exists; pass --overwrite to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)  # as generate does


def record_episode(env: Any, index: int, seed: int) -> tuple[dict[str, Any], Attempt]:
    """Run the expert for attempt ``index``: the episode tree (kept or not) and what happened."""
    from mimicforge.backends.mujoco.expert import ScriptedExpert

    start = time.perf_counter()
    reset_seq, expert_seq = np.random.SeedSequence(seed, spawn_key=(index,)).spawn(2)
    env.reset(seed=int(reset_seq.generate_state(1)[0]))
    recorder = EpisodeRecorder(env, datagen_info=True, processed_actions=False)
    recorder.start()
    expert = ScriptedExpert(env, np.random.default_rng(expert_seq))
    while not expert.done and len(recorder) < MAX_STEPS:
        recorder.step(expert.act())
    episode = recorder.episode()
    reason = ""
    if not expert.done:
        reason = f"expert unfinished after {MAX_STEPS} steps (in phase '{expert.phase}')"
    elif not env.is_success():
        reason = "cubes not stacked at the last step"
    else:
        signals = episode["obs"]["datagen_info"]["subtask_term_signals"]
        reason = boundary_problem(signals, env.task, len(recorder))
    seconds = time.perf_counter() - start
    return episode, Attempt(index, not reason, len(recorder), seconds, reason)


def record_demos(
    out: str | os.PathLike[str],
    num_demos: int,
    *,
    seed: int = 0,
    overwrite: bool = False,
    max_attempts: int | None = None,
    params: Any = None,
    on_attempt: Callable[[Attempt], None] | None = None,
) -> RecordResult:
    """Record until ``num_demos`` attempts succeeded (or ``max_attempts``, default 2 N + 10, ran out)."""
    if num_demos < 1:
        raise ConfigError(f"--num-demos must be at least 1, got {num_demos}")
    if seed < 0:
        raise ConfigError(f"--seed must be >= 0, got {seed}")
    limit = 2 * num_demos + 10 if max_attempts is None else max_attempts
    path = Path(out)
    _check_output(path, overwrite)
    from mimicforge.backends.mujoco.env import FrankaStackTwin

    successes = attempts = 0
    with FrankaStackTwin(params) as env, DatasetWriter(
        path, env_name=ENV_NAME, mode="overwrite" if overwrite else "create", env_args={"sim_args": env.sim_args}
    ) as writer:
        while successes < num_demos and attempts < limit:
            episode, attempt = record_episode(env, attempts, seed)
            attempts += 1
            if attempt.success:
                writer.write_demo(episode, success=True)
                successes += 1
            else:
                log.info("attempt %d not kept: %s", attempt.index, attempt.reason)
            if on_attempt is not None:
                on_attempt(attempt)
    return RecordResult(attempts, successes, path)
