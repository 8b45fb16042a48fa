"""Supervised parallel generation on one machine: N spawned workers, one progress stream, one output.

The supervisor starts the workers, relays their attempt records (progress and the live metrics file),
restarts a worker that dies for any reason (bounded retries with backoff; every demo it had committed
stays in its shard and its interrupted attempt is redone with the same seed), stops all workers once
the goal is reached, and finishes the shards into OUT (``shards.finalize``): all of it under OUT's lock,
with the stop handler installed through the finish. Each worker talks on its own pipe (``links``), so a
worker killed mid-message harms no other. Every wait has a timeout; the run as a
whole stops with ``GenerationStalled`` after ``max_consecutive_failures`` failures in a row or
``stall_timeout`` seconds without a finished attempt (``goal.GoalTracker``); stopping is polite first (an
event the workers poll every step), then SIGTERM, then SIGKILL.

What a worker process is comes from a ``launcher``: by default a spawned Python process running
``worker.worker_main`` on the twin, spawned before the run is set up so that its start-up overlaps the
supervisor's (``SpawnedWorkers.prestart``); the Isaac Lab engine passes its own (one Kit process per worker,
``run.kit_workers``) and ``restart_stalled``: a worker silent for ``stall_timeout`` seconds is
killed and restarted like a crashed one (a hung Kit process does not die by itself).
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any, Protocol

from mimicforge.config import RunConfig
from mimicforge.datasets import lock
from mimicforge.errors import Interrupted, WorkerCrashed
from mimicforge.goal import GoalTracker
from mimicforge.outputs import MetricsLog, MetricsRecord, OutputPaths, Summary
from mimicforge.run.generate import StopFlag, resolve_input
from mimicforge.run.links import WorkerLinks
from mimicforge.run.session import check_run
from mimicforge.run.shards import finalize, prepare_sharded_run, shard_quotas
from mimicforge.run.worker import WorkerSpec, worker_main, worker_standby

log = logging.getLogger(__name__)

BACKOFF_START = 0.5
BACKOFF_MAX = 10.0
STOP_GRACE = 30.0  # seconds a worker gets to finish its current write after the stop event
POLL = 0.2  # seconds the supervisor waits for messages before checking on the workers
PREPARE_WAIT = 300.0  # seconds the check waits for a prestarted worker's report before preparing an engine itself


def exit_description(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


class WorkerLauncher(Protocol):
    def check(self, cfg: RunConfig) -> None:
        """Fail fast, in the supervisor, on anything every worker would fail on at start."""

    def start(self, spec: WorkerSpec, link: Connection, stop_event: Any) -> Any:
        """Start worker ``spec.worker``: a started process with ``exitcode``, ``name``, ``terminate``, ``kill``
        and ``join`` (as ``multiprocessing.Process``) that sends its messages on ``link`` and stops politely
        once ``stop_event`` is set."""


@dataclass
class SpawnedWorkers:
    """The twin's workers: spawned Python processes running ``worker_main``.

    ``prestart`` spawns a worker before the run is set up (``worker_standby``): it prepares its engine (source
    demos, engine, generator, one step) while the supervisor prepares the outputs, and reports how that went.
    ``check`` takes the first report instead of preparing an engine of its own: it returns when the worker
    prepared, raises the worker's exception when it failed, and prepares an engine itself only when no usable
    report came. ``start`` hands a standby worker its spec; ``dismiss`` ends the standby workers a run did not
    use."""

    ctx: Any
    engine: str
    _standby: dict[int, tuple[Any, Connection, Connection]] = field(default_factory=dict)

    def check(self, cfg: RunConfig) -> None:
        from mimicforge.backends import make_env_factory

        report = self._first_report() if self._standby else False
        if report is None:
            return  # a worker prepared the engine with these settings
        if isinstance(report, Exception):
            raise report  # what the check would raise: the same settings failed the same way there
        check_run(cfg, make_env_factory(self.engine))

    def _first_report(self) -> Exception | bool | None:
        """The first standby worker's report: None (it prepared its engine) or the exception it failed with; False
        when its error could not be sent, or every worker exited or PREPARE_WAIT passed without a report."""
        pending = {give: process for process, give, _ in self._standby.values()}
        deadline = time.monotonic() + PREPARE_WAIT
        while pending and (left := deadline - time.monotonic()) > 0:
            sentinels = {process.sentinel: give for give, process in pending.items()}
            for ready in wait([*pending, *sentinels], timeout=left):
                give = sentinels.get(ready, ready)
                if give not in pending:
                    continue
                if ready is give:
                    try:
                        report = give.recv()
                    except Exception:  # EOF, or an exception that does not unpickle here
                        report = False
                    if report is None or isinstance(report, Exception):
                        return report
                del pending[give]  # exited, closed its end, or sent no usable report
        return False

    def prestart(self, worker: int, cfg: RunConfig, link: Connection, stop_event: Any) -> None:
        orders, give = self.ctx.Pipe()
        process = self.ctx.Process(target=worker_standby, args=(self.engine, cfg, orders, link, stop_event),
                                   name=f"mimicforge-worker-{worker}")
        process.start()
        orders.close()
        self._standby[worker] = (process, give, link)

    def start(self, spec: WorkerSpec, link: Connection, stop_event: Any) -> Any:
        standby = self._standby.get(spec.worker)
        if standby is not None and standby[2] is link:
            del self._standby[spec.worker]
            process, give, _ = standby
            try:
                give.send(spec)
                log.debug("worker %d: spec handed to the prestarted process %s", spec.worker, process.pid)
            except OSError:  # it died while preparing: the supervisor restarts it as any crashed worker
                pass
            finally:
                give.close()
            return process
        process = self.ctx.Process(target=worker_main, args=(spec, link, stop_event),
                                   name=f"mimicforge-worker-{spec.worker}")
        process.start()
        return process

    def dismiss(self) -> None:
        """End the standby workers no run was started on (bad settings, a goal already reached, a stop): they
        have written nothing, so they are not waited for."""
        for process, give, _ in self._standby.values():
            give.close()
            _end(process)
        self._standby.clear()


@dataclass
class _Worker:
    index: int
    process: Any = None
    restarts: int = 0
    restart_at: float | None = None
    finished: bool = False  # exited normally after a stop or its quota
    done: bool = False  # reported its shard closed (its last message); its process may still be ending
    attempts: int = 0
    last_seen: float = 0.0  # when it last started or sent a message (restart_stalled)
    last_error: str | None = None
    history: list[str] = field(default_factory=list)


def run_supervised(
    cfg: RunConfig,
    *,
    engine: str = "mujoco",
    on_attempt: Callable[[MetricsRecord, Summary], None] | None = None,
    on_event: Callable[[str], None] | None = None,
    stop: StopFlag | None = None,
    launcher: WorkerLauncher | None = None,
    restart_stalled: bool = False,
) -> Summary:
    """Generate with ``cfg.workers.workers`` processes; returns the merged run's summary."""
    cfg = resolve_input(cfg)
    stop = stop or StopFlag()
    ctx = mp.get_context("spawn")
    launcher = launcher or SpawnedWorkers(ctx, engine)
    out = OutputPaths.beside(cfg.generation.output_file)
    out.dataset.parent.mkdir(parents=True, exist_ok=True)
    with lock.held(out.dataset), stop.installed():  # one run per output; a stop signal is noted through the finish
        for key in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(key, "1")  # one core per worker; inherited by spawned children
        links = WorkerLinks(ctx)
        stop_event = ctx.Event()
        prestarted: dict[int, Connection] = {}
        try:
            if hasattr(launcher, "prestart"):  # the workers come up while the run is checked and set up
                for w in range(cfg.workers.workers):
                    prestarted[w] = links.open(w)
                    launcher.prestart(w, cfg, prestarted[w], stop_event)
                    links.started(w)
            launcher.check(cfg)  # bad settings fail here once, not in every worker
            return _run_locked(cfg, engine, on_attempt, on_event, stop, launcher, restart_stalled, links,
                               stop_event, prestarted)
        finally:
            if hasattr(launcher, "dismiss"):
                launcher.dismiss()
            links.close()


def _run_locked(cfg: RunConfig, engine: str, on_attempt: Callable[[MetricsRecord, Summary], None] | None,
                on_event: Callable[[str], None] | None, stop: StopFlag, launcher: WorkerLauncher,
                restart_stalled: bool, links: WorkerLinks, stop_event: Any,
                prestarted: dict[int, Connection]) -> Summary:
    g, nworkers = cfg.generation, cfg.workers.workers
    lay, resumed = prepare_sharded_run(cfg)
    out = lay.out
    say = on_event or (lambda msg: log.warning("%s", msg))
    limits = shard_quotas(cfg, nworkers, resumed, independent=False)
    tracker = GoalTracker(str(out.dataset), target=g.num_trials, stop_on=g.stop_on, successes=resumed.successes,
                          attempts=resumed.attempts,
                          max_consecutive_failures=g.max_consecutive_failures,
                          stall_timeout=None if restart_stalled else g.stall_timeout,
                          where=f" across {nworkers} workers")

    workers = {w: _Worker(w) for w in range(nworkers)}

    def start(wk: _Worker) -> None:
        spec = WorkerSpec(worker=wk.index, cfg=cfg, engine=engine,
                          first_attempt=resumed.next_for(wk.index), attempt_limit=limits[wk.index],
                          parent_pid=os.getpid())
        link = prestarted.pop(wk.index, None) or links.open(wk.index)  # a prestarted worker's pipe is open already
        wk.process = launcher.start(spec, link, stop_event)
        links.started(wk.index)
        wk.restart_at = None
        wk.done = False
        wk.last_seen = time.monotonic()

    failure: list[BaseException] = []
    live = MetricsLog(out.metrics)

    def fail(error: BaseException) -> None:
        if not failure:
            failure.append(error)
        stop_event.set()

    def handle(w: int, msg: tuple) -> None:
        kind = msg[0]
        workers[w].last_seen = time.monotonic()
        if kind == "attempt":
            rec = MetricsRecord(**msg[2])
            live.write(rec)
            workers[w].attempts += 1
            tracker.record(rec.success, rec)
            if on_attempt is not None:
                on_attempt(rec, tracker.summary)
            streak = tracker.failure_streak()
            if streak is not None:
                fail(streak)
        elif kind == "ready":
            tracker.touch()
        elif kind == "done":
            workers[w].done = True
        elif kind == "error":
            workers[w].last_error = msg[2]
            log.error("worker %d failed: %s\n%s", w, msg[2], msg[3])

    try:
        if not tracker.goal_reached():
            for wk in workers.values():
                start(wk)
        next_check = 0.0
        while any(wk.process is not None and not wk.finished for wk in workers.values()):
            if stop() or tracker.goal_reached():
                stop_event.set()
            if stop_event.is_set():
                break  # _reap waits for the workers (and reads their last records)
            for w, msg in links.receive(timeout=POLL):
                handle(w, msg)
            # The workers are checked every POLL seconds whether or not messages keep coming: a worker that died
            # while the others report an attempt every few tenths of a second is restarted all the same.
            if (now := time.monotonic()) < next_check:
                continue
            next_check = now + POLL
            if not stop_event.is_set():
                stalled = tracker.stalled()
                if stalled is not None:
                    fail(stalled)
                if restart_stalled:
                    _kill_stalled(workers, g.stall_timeout, say)
            _check_workers(workers, stop_event, cfg.workers.max_restarts, start, fail, say)
    finally:
        stop_event.set()

        def drain(timeout: float, wake: Sequence[Any] = ()) -> None:
            for w, msg in links.receive(timeout=timeout, wake=wake):  # records sent just before the workers exited
                handle(w, msg)

        try:
            ending = _reap(workers.values(), drain)
            drain(0.1)
        finally:
            links.close()
        live.close()
    try:
        outcome = finalize(lay, cfg)
    finally:
        _join(ending)
    summary = tracker.finish(outcome.successes, discarded=outcome.discarded)
    if failure:
        raise failure[0]
    if stop.signum is not None:
        raise Interrupted(
            f"stopped by {signal.Signals(stop.signum).name} with {summary.successes} successes in {out.dataset}; "
            "continue with --resume", stop.signum,
        )
    return summary


def _check_workers(workers: dict[int, _Worker], stop_event: Any, max_restarts: int,
                   start: Callable[[_Worker], None], fail: Callable[[BaseException], None],
                   say: Callable[[str], None]) -> None:
    """Restart workers that died (with backoff), up to ``max_restarts`` each; note the ones that finished."""
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
        if p.exitcode == 0 or stop_event.is_set():
            wk.finished = True
            continue
        why = exit_description(p.exitcode)
        if wk.restarts >= max_restarts:
            fail(WorkerCrashed(
                f"worker {wk.index} {why} and was restarted {wk.restarts} times already "
                f"(max_restarts = {max_restarts}); last error: {wk.last_error or 'none'}"
            ))
            wk.finished = True
            continue
        delay = min(BACKOFF_MAX, BACKOFF_START * 2 ** wk.restarts)
        wk.restarts += 1
        wk.restart_at = now + delay
        say(f"worker {wk.index} {why}; restarting it in {delay:.1f} s "
            f"(restart {wk.restarts}/{max_restarts}); its committed demos are kept")


def _kill_stalled(workers: dict[int, _Worker], stall_timeout: float, say: Callable[[str], None]) -> None:
    """SIGKILL every running worker that sent nothing for ``stall_timeout`` seconds; ``_check_workers`` then
    restarts it like any crashed worker (its committed demos stay in its shard)."""
    now = time.monotonic()
    for wk in workers.values():
        p = wk.process
        if p is None or wk.finished or wk.restart_at is not None or p.exitcode is not None:
            continue
        if now - wk.last_seen >= stall_timeout:
            wk.last_error = f"no progress for {stall_timeout:g} s (STALL_TIMEOUT): killed as hung"
            say(f"worker {wk.index} made no progress for {stall_timeout:g} s (STALL_TIMEOUT); killing it")
            p.kill()
            p.join(timeout=10)


def _reap(workers: Any, drain: Callable[[float, Sequence[Any]], None]) -> list[Any]:
    """Wait until every worker has exited or reported its shard closed (``done``), reading their pipes meanwhile
    (woken by a worker's exit, where its process has a ``sentinel``); SIGTERM the slow ones after the grace
    period, SIGKILL after another. Returns the processes still ending: the merge need not wait while a done
    worker's interpreter unloads MuJoCo, Numba and h5py (about 0.35 s); ``_join`` waits for them after it."""
    active = [wk for wk in workers if wk.process is not None]

    def waiting() -> list[_Worker]:
        return [wk for wk in active if wk.process.exitcode is None and not wk.done]

    deadline = time.monotonic() + STOP_GRACE
    while (left := waiting()) and time.monotonic() < deadline:
        drain(POLL, [s for wk in left if (s := getattr(wk.process, "sentinel", None)) is not None])
    for wk in waiting():
        log.warning("%s did not stop in %.0f s; terminating it", wk.process.name, STOP_GRACE)
        _end(wk.process)
    return [wk.process for wk in active if wk.process.exitcode is None]


def _join(procs: list[Any]) -> None:
    """Wait for workers that reported done to end; SIGTERM, then SIGKILL, one that does not within the grace."""
    for p in procs:
        p.join(timeout=STOP_GRACE)
        if p.exitcode is None:
            log.warning("%s did not end in %.0f s after its last message; terminating it", p.name, STOP_GRACE)
            _end(p)


def _end(p: Any) -> None:
    p.terminate()
    p.join(timeout=10)
    if p.exitcode is None:
        p.kill()
        p.join(timeout=10)
