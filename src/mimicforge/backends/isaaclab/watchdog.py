"""Turn the ways Isaac Lab's ``env_loop`` can spin forever into clear errors.

``env_loop`` steps the env only once every data generator has queued an action. When a generator task
dies (an exception inside ``DataGenerator.generate``, e.g. "got empty subtasks!"), its action never
comes and the loop spins on ``run_until_complete(asyncio.sleep(0))`` for ever; Isaac Lab 2.3 prints the
traceback, 2.0 not even that. With ``generation_guarantee`` a task whose attempts always fail also never
ends the loop. The watchdog runs *inside* the generators' event loop, on the main thread, because that
is the only code that keeps running while ``env_loop`` spins:

- a done-callback on every generator task fires when one ends (they never end on their own). Isaac Lab 3.0's
  ``env_loop`` watches the gathered tasks itself (``data_gen_tasks``) and re-raises a dead generator's
  exception: there (``reraised=True``) the callback only records the error and lets ``env_loop`` end;
- a tick on every pass of the loop (``interval=0``; cheap: it reads three module globals) notices each
  finished attempt as it happens, hands it to the collector (which records it in the run's
  ``goal.GoalTracker``), and stops the run when the tracker says so: after ``max_consecutive_failures``
  failures in a row or ``stall_timeout`` seconds without a finished attempt (the same rules as every loop).

To stop ``env_loop`` from inside the loop it raises ``WatchdogAbort``. That is a ``KeyboardInterrupt``
on purpose: asyncio's callback runner swallows (logs) every other exception and keeps looping, while
``KeyboardInterrupt`` propagates out of ``run_until_complete`` and ``env_loop`` with the loop's state
restored (also under nest_asyncio). The driver catches it right outside ``env_loop`` and raises the
carried error instead, so no ``KeyboardInterrupt`` ever reaches the user.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mimicforge.errors import GenerationStalled
from mimicforge.goal import GoalTracker

log = logging.getLogger(__name__)


class WatchdogAbort(KeyboardInterrupt):
    """Carries the real error (``cause``) out of ``env_loop``; see the module docstring for why."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


@dataclass(frozen=True)
class Counters:
    """Isaac Lab Mimic's module-global attempt counters at one moment."""

    success: int
    failures: int
    attempts: int


def one_line(text: str) -> str:
    return " ".join(str(text).split())


class Watchdog:
    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        tasks: Sequence[asyncio.Future[Any]],
        read_counters: Callable[[], Counters],
        *,
        on_progress: Callable[[Counters], None],
        tracker: GoalTracker,
        interval: float = 0.0,
        reraised: bool = False,
    ) -> None:
        self.loop = loop
        self.reraised = reraised
        self.tasks = list(tasks)
        self.read_counters = read_counters
        self.on_progress = on_progress
        self.tracker = tracker
        self.interval = interval
        self.error: BaseException | None = None
        self._armed = False
        self._timer: asyncio.Handle | None = None
        self._last = Counters(0, 0, 0)

    # ------------------------------------------------------------------------------------ lifecycle
    def arm(self) -> None:
        self._armed = True
        self._last = self.read_counters()
        self.tracker.touch()
        for task in self.tasks:
            task.add_done_callback(self._task_done)
        self._schedule()

    def _schedule(self) -> None:
        if self.interval > 0:
            self._timer = self.loop.call_later(self.interval, self._tick)
        else:
            self._timer = self.loop.call_soon(self._tick)

    def disarm(self) -> None:
        """Stop watching (before the driver cancels the tasks itself)."""
        self._armed = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for task in self.tasks:
            task.remove_done_callback(self._task_done)

    def fail(self, error: BaseException) -> None:
        """Record ``error`` (the first one wins) and abort ``env_loop``."""
        if self.error is None:
            self.error = error
        raise WatchdogAbort(self.error)

    # ------------------------------------------------------------------------------------ checks
    def _task_done(self, task: asyncio.Future[Any]) -> None:
        if not self._armed:
            return
        index = self.tasks.index(task) if task in self.tasks else -1
        if task.cancelled():
            how = "was cancelled"
        elif task.exception() is not None:
            exc = task.exception()
            how = f"died with {type(exc).__name__}: {one_line(str(exc))[:300]}"
        else:
            how = "returned"
        error = GenerationStalled(
            f"Isaac Lab's data generator for env {index} {how}; env_loop would wait for its actions forever, "
            "so the run was stopped (the demos finished so far are saved; see the traceback above for the cause)"
        )
        if self.reraised:  # env_loop ends by itself (it re-raises the task's exception); keep the first cause
            self.error = self.error or error
            return
        self.fail(error)

    def _tick(self) -> None:
        self._timer = None
        if not self._armed:
            return
        try:
            self.check()
        except WatchdogAbort:
            raise
        except BaseException as exc:  # the collector failed (disk full, bad output...): stop the run with it
            self.fail(exc)
        if self._armed:
            self._schedule()

    def check(self) -> None:
        """One watchdog pass: hand finished attempts to the collector, enforce the tracker's limits."""
        counters = self.read_counters()
        if counters != self._last:
            self._last = counters
            self.on_progress(counters)  # the collector records each attempt in the tracker
            self.tracker.touch()
        error = self.tracker.failure_streak() or self.tracker.stalled()
        if error is not None:
            self.fail(error)
