"""Supervised parallel generation on one machine: N spawned workers, one progress stream, one output.

The supervisor starts the workers, relays their attempt records (progress and the live metrics file),
restarts a worker that dies for any reason (bounded retries with backoff; every demo it had committed
stays in its shard and its interrupted attempt is redone with the same seed), stops all workers once
the goal is reached, and merges the shards into OUT (``shards.finalize``). Every wait has a timeout;
stopping is polite first (an event the workers poll every step), then SIGTERM, then SIGKILL.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import queue as queue_mod
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mimicforge.config import RunConfig
from mimicforge.errors import GenerationStalled, Interrupted, WorkerCrashed
from mimicforge.outputs import MetricsLog, MetricsRecord
from mimicforge.run.generate import StopFlag, Summary, resolve_input
from mimicforge.run.session import check_run
from mimicforge.run.shards import finalize, prepare_sharded_run
from mimicforge.run.worker import WorkerSpec, worker_main

log = logging.getLogger(__name__)

BACKOFF_START = 0.5
BACKOFF_MAX = 10.0
STOP_GRACE = 30.0  # seconds a worker gets to finish its current write after the stop event


def exit_description(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


@dataclass
class _Worker:
    index: int
    process: Any = None
    restarts: int = 0
    restart_at: float | None = None
    finished: bool = False  # exited normally after a stop or its quota
    successes: int = 0
    attempts: int = 0
    last_error: str | None = None
    history: list[str] = field(default_factory=list)


def _attempt_limits(cfg: RunConfig, workers: int) -> dict[int, int | None]:
    """With stop_on = attempts, split the N attempts between workers (exact, no race at the end)."""
    if cfg.generation.stop_on != "attempts":
        return {w: None for w in range(workers)}
    n = cfg.generation.num_trials
    share, extra = divmod(n, workers)
    return {w: share + (1 if w < extra else 0) for w in range(workers)}


def run_supervised(
    cfg: RunConfig,
    *,
    engine: str = "mujoco",
    on_attempt: Callable[[MetricsRecord, Summary], None] | None = None,
    on_event: Callable[[str], None] | None = None,
    stop: StopFlag | None = None,
) -> Summary:
    """Generate with ``cfg.workers.workers`` processes; returns the merged run's summary."""
    cfg = resolve_input(cfg)
    g, nworkers = cfg.generation, cfg.workers.workers
    from mimicforge.backends import make_env_factory

    check_run(cfg, make_env_factory(engine))  # bad settings fail here once, not in every worker
    lay, resumed = prepare_sharded_run(cfg)
    out = lay.out
    stop = stop or StopFlag()
    say = on_event or (lambda msg: log.warning("%s", msg))
    limits = _attempt_limits(cfg, nworkers)
    summary = Summary(str(out.dataset), g.num_trials, g.stop_on, resumed.successes,
                      sum(resumed.next_attempt.values()), 0, 0, 0.0, False)

    def goal_reached() -> bool:
        return (summary.successes if g.stop_on == "successes" else summary.attempts) >= g.num_trials

    for key in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(key, "1")  # one core per worker; inherited by spawned children
    ctx = mp.get_context("spawn")
    messages = ctx.Queue()
    stop_event = ctx.Event()
    workers = {w: _Worker(w) for w in range(nworkers)}

    def start(wk: _Worker) -> None:
        spec = WorkerSpec(worker=wk.index, cfg=cfg, engine=engine,
                          first_attempt=resumed.next_for(wk.index), attempt_limit=limits[wk.index],
                          parent_pid=os.getpid())
        wk.process = ctx.Process(target=worker_main, args=(spec, messages, stop_event),
                                 name=f"mimicforge-worker-{wk.index}")
        wk.process.start()
        wk.restart_at = None

    t0 = time.perf_counter()
    state = {"consecutive_failures": 0}
    failure: list[BaseException] = []
    live = MetricsLog(out.metrics)

    def handle(msg: tuple) -> None:
        kind, w = msg[0], msg[1]
        if kind == "attempt":
            rec = MetricsRecord(**msg[2])
            live.write(rec)
            workers[w].attempts += 1
            summary.new_attempts += 1
            summary.attempts += 1
            if rec.success and not (g.stop_on == "successes" and goal_reached()):
                summary.successes += 1
                summary.new_successes += 1
                summary.note_motion(rec)
            summary.seconds = time.perf_counter() - t0
            state["consecutive_failures"] = 0 if rec.success else state["consecutive_failures"] + 1
            if on_attempt is not None:
                on_attempt(rec, summary)
            if state["consecutive_failures"] >= g.max_consecutive_failures and not failure:
                failure.append(GenerationStalled(
                    f"{state['consecutive_failures']} attempts in a row failed across {nworkers} workers; the "
                    "source demos may not suit this task or engine. Check them with 'mimicforge replay'"
                ))
                stop_event.set()
        elif kind == "error":
            workers[w].last_error = msg[2]
            log.error("worker %d failed: %s\n%s", w, msg[2], msg[3])

    try:
        with stop.installed():
            if not goal_reached():
                for wk in workers.values():
                    start(wk)
            while any(wk.process is not None and not wk.finished for wk in workers.values()):
                if (stop() or goal_reached()) and not stop_event.is_set():
                    stop_event.set()
                try:
                    handle(messages.get(timeout=0.2))
                    continue
                except queue_mod.Empty:
                    pass
                now = time.monotonic()
                for wk in workers.values():
                    p = wk.process
                    if p is None or wk.finished:
                        continue
                    if wk.restart_at is not None:
                        if now >= wk.restart_at and not stop_event.is_set():
                            start(wk)
                        elif stop_event.is_set():
                            wk.finished = True
                        continue
                    if p.exitcode is None:
                        continue
                    if p.exitcode == 0:
                        wk.finished = True
                        continue
                    why = exit_description(p.exitcode)
                    if stop_event.is_set():
                        wk.finished = True
                        continue
                    if wk.restarts >= cfg.workers.max_restarts:
                        failure.append(WorkerCrashed(
                            f"worker {wk.index} {why} and was restarted {wk.restarts} times already "
                            f"(max_restarts = {cfg.workers.max_restarts}); last error: {wk.last_error or 'none'}"
                        ))
                        stop_event.set()
                        wk.finished = True
                        continue
                    delay = min(BACKOFF_MAX, BACKOFF_START * 2 ** wk.restarts)
                    wk.restarts += 1
                    wk.restart_at = now + delay
                    say(f"worker {wk.index} {why}; restarting it in {delay:.1f} s "
                        f"(restart {wk.restarts}/{cfg.workers.max_restarts}); its committed demos are kept")
    finally:
        stop_event.set()
        _reap(workers.values())
        while True:  # records sent just before the workers exited
            try:
                handle(messages.get(timeout=0.1))
            except queue_mod.Empty:
                break
        live.close()
    outcome = finalize(lay, cfg)
    summary.successes = outcome.successes
    summary.seconds = time.perf_counter() - t0
    summary.reached = goal_reached() if g.stop_on == "attempts" else outcome.successes >= g.num_trials
    if failure:
        raise failure[0]
    if stop.signum is not None:
        raise Interrupted(
            f"stopped by {signal.Signals(stop.signum).name} with {summary.successes} successes in {out.dataset}; "
            "continue with --resume", stop.signum,
        )
    return summary


def _reap(workers: Any) -> None:
    """Wait for every worker; SIGTERM the slow ones after the grace period, SIGKILL after another."""
    procs = [wk.process for wk in workers if wk.process is not None]
    deadline = time.monotonic() + STOP_GRACE
    for p in procs:
        p.join(timeout=max(0.0, deadline - time.monotonic()))
    for p in procs:
        if p.exitcode is None:
            log.warning("%s did not stop in %.0f s; terminating it", p.name, STOP_GRACE)
            p.terminate()
            p.join(timeout=10)
        if p.exitcode is None:
            p.kill()
            p.join(timeout=10)
