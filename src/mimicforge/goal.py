"""One goal and stall tracker for every generation loop: local, supervised workers, Ray and Isaac Lab.

A run ends when its goal is reached (``num_trials`` successes, Isaac Lab's ``generation_guarantee``, or
``num_trials`` attempts). It must also end when it cannot succeed: after ``max_consecutive_failures``
failed attempts in a row, or after ``stall_timeout`` seconds in which no attempt finished at all (a hung
simulator, stopped workers). Each loop feeds every finished attempt to ``GoalTracker.record`` and asks
``check`` (or ``stalled``); the rules and their messages are therefore the same on every path.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from mimicforge.errors import GenerationStalled


@dataclass
class Summary:
    output: str
    target: int
    stop_on: str
    successes: int  # in the output file, resumed ones included
    attempts: int  # attempt indices used so far, resumed ones included
    new_successes: int
    new_attempts: int
    seconds: float
    reached: bool
    # Over the successes of this run that report them (note_motion): steps, source steps, idle share
    kept_steps: int = 0
    kept_source_steps: int = 0
    kept_idle: float = 0.0
    kept_measured: int = 0
    discarded: int = 0  # successes of this run finished after the goal was reached: not kept, not counted

    @property
    def success_rate(self) -> float:
        return self.new_successes / self.new_attempts if self.new_attempts else 0.0

    def note_motion(self, record: Any) -> None:
        """Count a successful attempt's length and idleness (a metrics record, or its dict) into the means."""
        get = record.get if isinstance(record, dict) else lambda k: getattr(record, k, None)
        if not get("success") or get("source_steps") is None or get("idle_share") is None:
            return
        self.kept_steps += int(get("steps"))
        self.kept_source_steps += int(get("source_steps"))
        self.kept_idle += float(get("idle_share"))
        self.kept_measured += 1

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for key in ("kept_steps", "kept_source_steps", "kept_idle", "kept_measured"):
            d.pop(key)
        d["success_rate"] = round(self.success_rate, 4)
        d["seconds"] = round(self.seconds, 3)
        n = self.kept_measured
        d["mean_steps"] = round(self.kept_steps / n, 1) if n else None
        d["length_ratio"] = round(self.kept_steps / self.kept_source_steps, 4) if self.kept_source_steps else None
        d["idle_share"] = round(self.kept_idle / n, 4) if n else None
        return d


class GoalTracker:
    """Counts a run's attempts towards its goal and enforces the failure-streak and stall limits.

    ``successes`` / ``attempts`` are what is on record when the run starts (a resume); successes beyond
    the goal (workers finishing in parallel) are not counted, since the merge keeps only the goal's worth.
    """

    def __init__(self, output: str, *, target: int, stop_on: str, successes: int = 0, attempts: int = 0,
                 max_consecutive_failures: int, stall_timeout: float | None = None, where: str = "",
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.summary = Summary(output, target, stop_on, successes, attempts, 0, 0, 0.0, False)
        self.max_consecutive_failures = max_consecutive_failures
        self.stall_timeout = stall_timeout
        self.where = where  # e.g. " across 4 workers", for the messages
        self.clock = clock
        self.consecutive_failures = 0
        self._t0 = self._last_progress = clock()

    @property
    def done(self) -> int:
        s = self.summary
        return s.successes if s.stop_on == "successes" else s.attempts

    def goal_reached(self) -> bool:
        return self.done >= self.summary.target

    def record(self, success: bool, metrics: Any = None) -> None:
        """One finished attempt; ``metrics``: its metrics record (or dict), for the run's length figures."""
        s = self.summary
        counted = success and not (s.stop_on == "successes" and self.goal_reached())
        s.attempts += 1
        s.new_attempts += 1
        s.successes += int(counted)
        s.new_successes += int(counted)
        if counted and metrics is not None:
            s.note_motion(metrics)
        self.consecutive_failures = 0 if success else self.consecutive_failures + 1
        self._last_progress = self.clock()
        s.seconds = self._last_progress - self._t0

    def touch(self) -> None:
        """Something other than a finished attempt shows the run is alive (a worker (re)started): restart
        the stall clock."""
        self._last_progress = self.clock()

    def failure_streak(self) -> GenerationStalled | None:
        if self.consecutive_failures < self.max_consecutive_failures:
            return None
        s = self.summary
        return GenerationStalled(
            f"{self.consecutive_failures} attempts in a row failed{self.where} ({s.new_successes} successes in "
            f"{s.new_attempts} attempts this run); the source demos may not suit this task or engine. Check them "
            "with 'mimicforge replay', or raise --max-consecutive-failures (MAX_CONSECUTIVE_FAILURES)"
        )

    def stalled(self) -> GenerationStalled | None:
        if self.stall_timeout is None or self.clock() - self._last_progress <= self.stall_timeout:
            return None
        return GenerationStalled(
            f"no generation attempt finished in {self.stall_timeout:.0f} s{self.where} "
            f"({self.summary.new_attempts} attempts this run); the run looks stuck. Raise --stall-timeout "
            "(STALL_TIMEOUT) if attempts are really this slow"
        )

    def check(self) -> None:
        """Raise ``GenerationStalled`` when the run cannot reach its goal."""
        error = self.failure_streak() or self.stalled()
        if error is not None:
            raise error

    def finish(self, successes: int | None = None, *, discarded: int = 0) -> Summary:
        """The final summary; ``successes``: the count in the output file after a merge, if known (this run's
        kept successes follow from it); ``discarded``: successes beyond the goal that the merge left out."""
        s = self.summary
        if successes is not None:
            s.new_successes += successes - s.successes
            s.successes = successes
        s.discarded = discarded
        s.seconds = self.clock() - self._t0
        s.reached = self.goal_reached()
        return s
