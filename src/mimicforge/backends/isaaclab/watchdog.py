"""Turn the ways Isaac Lab's ``env_loop`` can spin forever into clear errors.

``env_loop`` steps the env only once every data generator has queued an action. When a generator task
dies (an exception inside ``DataGenerator.generate``, e.g. "got empty subtasks!"), its action never
comes and the loop spins on ``run_until_complete(asyncio.sleep(0))`` for ever; Isaac Lab 2.3 prints the
traceback, 2.0 not even that. With ``generation_guarantee`` a task whose attempts always fail also never
ends the loop. The watchdog runs *inside* the generators' event loop, on the main thread, because that
is the only code that keeps running while ``env_loop`` spins:

- a done-callback on every generator task fires when one ends (they never end on their own);
- a tick on every pass of the loop (``interval=0``; cheap: it reads three module globals) notices each
  finished attempt as it happens, hands it to the collector, and stops the run after
  ``max_consecutive_failures`` failures in a row or ``stall_timeout`` seconds without a finished attempt.

To stop ``env_loop`` from inside the loop it raises ``WatchdogAbort``. That is a ``KeyboardInterrupt``
on purpose: asyncio's callback runner swallows (logs) every other exception and keeps looping, while
``KeyboardInterrupt`` propagates out of ``run_until_complete`` and ``env_loop`` with the loop's state
restored (also under nest_asyncio). The driver catches it right outside ``env_loop`` and raises the
carried error instead, so no ``KeyboardInterrupt`` ever reaches the user.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mimicforge.errors import GenerationStalled

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
        stall_timeout: float,
        max_consecutive_failures: int,
        interval: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.loop = loop
        self.tasks = list(tasks)
        self.read_counters = read_counters
        self.on_progress = on_progress
        self.stall_timeout = stall_timeout
        self.max_consecutive_failures = max_consecutive_failures
        self.interval = interval
        self.clock = clock
        self.error: BaseException | None = None
        self.consecutive_failures = 0
        self._armed = False
        self._timer: asyncio.Handle | None = None
        self._last = Counters(0, 0, 0)
        self._last_change = 0.0

    # ------------------------------------------------------------------------------------ lifecycle
    def arm(self) -> None:
        self._armed = True
        self._last = self.read_counters()
        self._last_change = self.clock()
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
        self.fail(GenerationStalled(
            f"Isaac Lab's data generator for env {index} {how}; env_loop would wait for its actions forever, "
            "so the run was stopped (the demos finished so far are saved; see the traceback above for the cause)"
        ))

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
        """One watchdog pass: report progress, enforce the failure and time limits."""
        now = self.clock()
        counters = self.read_counters()
        if counters != self._last:
            new_successes = counters.success - self._last.success
            new_failures = counters.failures - self._last.failures
            self.consecutive_failures = 0 if new_successes > 0 else self.consecutive_failures + max(new_failures, 0)
            self._last = counters
            self._last_change = now
            self.on_progress(counters)
            if self.consecutive_failures >= self.max_consecutive_failures:
                self.fail(GenerationStalled(
                    f"{self.consecutive_failures} attempts in a row failed ({counters.success} successes in "
                    f"{counters.attempts} attempts); Isaac Lab would retry forever. Check the source demos, or "
                    "raise MAX_CONSECUTIVE_FAILURES / --max-consecutive-failures"
                ))
        elif now - self._last_change > self.stall_timeout:
            self.fail(GenerationStalled(
                f"no generation attempt finished in {self.stall_timeout:.0f} s ({counters.attempts} attempts so "
                "far); the simulation looks stuck. Raise --stall-timeout if attempts are really this slow"
            ))
