"""``mimicforge generate`` on the embedded engine: resolve inputs and outputs, loop attempts to the goal.

Stops when the goal is reached (N successes, Isaac Lab's ``generation_guarantee``, or N attempts), when
``max_consecutive_failures`` attempts fail in a row or no attempt finished in ``stall_timeout`` seconds (checked
at every step of an attempt; ``GenerationStalled``: a run that cannot succeed must not loop forever), or on
SIGINT / SIGTERM, which finish the current write and raise ``Interrupted`` (exit 130 / 143) with every file
valid. The run holds its output's lock (``datasets.lock``) from its start to its end.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType

from mimicforge.config import RunConfig, resolve_input  # noqa: F401 (resolve_input re-exported)
from mimicforge.datasets import lock
from mimicforge.errors import Interrupted
from mimicforge.goal import GoalTracker
from mimicforge.mimic.generator import TrialAborted
from mimicforge.outputs import MetricsRecord, OutputPaths, Summary, output_mode  # noqa: F401 (re-exported)
from mimicforge.run.session import EnvFactory, Session, scan_existing

log = logging.getLogger(__name__)


class StopFlag:
    """SIGINT / SIGTERM set a flag instead of raising, so the current write always completes.

    A second signal while stopping raises KeyboardInterrupt at once (the files stay valid anyway: the
    writer commits atomically)."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def __call__(self) -> bool:
        return self.signum is not None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum
        log.warning("received %s: finishing the current write, then stopping", signal.Signals(signum).name)

    @contextlib.contextmanager
    def installed(self) -> Iterator[StopFlag]:
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        old = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for s, h in old.items():
                signal.signal(s, h)


def default_env_factory(engine: str) -> EnvFactory:
    from mimicforge.backends import make_env_factory

    return make_env_factory(engine)


def run_generation(
    cfg: RunConfig,
    *,
    env_factory: EnvFactory | None = None,
    on_attempt: Callable[[MetricsRecord, Summary], None] | None = None,
    stop: StopFlag | None = None,
) -> Summary:
    """Generate in this process until the goal; returns the summary or raises GenerationStalled / Interrupted.

    The one-process loop: settings for several workers or Ray go through ``run.dispatch.generate``."""
    if cfg.workers.workers > 1 or cfg.workers.ray:
        raise ValueError(
            f"run_generation is the one-process loop (workers = {cfg.workers.workers}, ray = {cfg.workers.ray}); "
            "call mimicforge.run.dispatch.generate, which starts the workers"
        )
    cfg = resolve_input(cfg)
    g = cfg.generation
    paths = OutputPaths.beside(g.output_file)
    mode = output_mode(cfg, paths)
    from mimicforge.backends import resolve_engine

    engine = resolve_engine(g.engine)
    stop = stop or StopFlag()
    paths.dataset.parent.mkdir(parents=True, exist_ok=True)
    with lock.held(paths.dataset):  # one run per output, from its start through its finish
        return _run_locked(cfg, paths, mode, engine, env_factory, on_attempt, stop)


def _run_locked(cfg: RunConfig, paths: OutputPaths, mode: str, engine: str, env_factory: EnvFactory | None,
                on_attempt: Callable[[MetricsRecord, Summary], None] | None, stop: StopFlag) -> Summary:
    g = cfg.generation
    session = Session(cfg, paths, env_factory or default_env_factory(engine), engine_name=engine, mode=mode)
    if mode == "append":
        log.info("resuming %s: %d successes, %d attempts on record", paths.dataset, session.successes,
                 session.next_attempt)
    # Attempts on record over every worker (an earlier sharded run of this output had several)
    attempts = max(scan_existing(paths).attempts, session.next_attempt) if mode == "append" else 0
    tracker = GoalTracker(str(paths.dataset), target=g.num_trials, stop_on=g.stop_on, successes=session.successes,
                          attempts=attempts, max_consecutive_failures=g.max_consecutive_failures,
                          stall_timeout=g.stall_timeout)
    stalled: list[BaseException] = []

    def should_stop() -> bool:  # polled every step of an attempt: a stop signal, or no attempt finished in time
        if not stalled and (error := tracker.stalled()) is not None:
            stalled.append(error)
        return stop() or bool(stalled)

    try:
        with stop.installed():
            while not tracker.goal_reached() and not should_stop():
                try:
                    record = session.attempt(stop_requested=should_stop)
                except TrialAborted:
                    break
                tracker.record(record.success, record)
                if on_attempt is not None:
                    on_attempt(record, tracker.summary)
                tracker.check()
    finally:
        session.close()
    summary = tracker.finish()
    if stalled and stop.signum is None:
        raise stalled[0]
    if stop.signum is not None:
        raise Interrupted(
            f"stopped by {signal.Signals(stop.signum).name} after {summary.successes} successes in "
            f"{summary.attempts} attempts; {paths.dataset} is complete and valid, continue with --resume",
            stop.signum,
        )
    return summary
