"""Generation across machines with Ray: one task per shard, merged like the local supervisor's shards.

Each task resumes its shard (the crash-safe writer keeps every committed demo, and attempt seeds are
fixed), so Ray's own task retries are the restart mechanism. Shards live beside OUT, which therefore
must be on storage every node can reach (NFS, a mounted bucket); the driver reads the shards' metrics
files for progress and merges the shards at the end. The Isaac Lab engine passes its own task (one Kit
process on one GPU per task, ``run.kit_workers``) and ``num_gpus=1``; on a cluster without GPUs
(a local Ray in tests) each task asks for a CPU instead, and the run says so.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from typing import Any

from mimicforge.config import RunConfig
from mimicforge.datasets import lock
from mimicforge.errors import ConfigError, Interrupted, WorkerCrashed
from mimicforge.extras import require
from mimicforge.goal import GoalTracker, Summary
from mimicforge.outputs import MetricsRecord, OutputPaths, read_metrics
from mimicforge.run.generate import StopFlag, resolve_input
from mimicforge.run.shards import ShardLayout, finalize, prepare_sharded_run, shard_quotas

log = logging.getLogger(__name__)

CANCEL_WAIT = 60.0  # seconds a cancelled task gets to end before the run gives up on finishing


def _import_ray() -> Any:
    return require("ray", "Ray is not installed; install it with: pip install 'mimicforge[ray]'")


def shard_task(cfg: RunConfig, worker: int, engine: str, first_attempt: int, quota: int) -> dict[str, int]:
    """Body of one Ray task: generate into shard ``worker`` until it holds ``quota`` successes
    (stop_on = successes) or has used attempts up to index ``quota`` (stop_on = attempts). The driver
    watches the whole run's goal and limits; the task's own tracker stops a shard that cannot succeed."""
    from mimicforge.run.shards import open_shard, shard_attempts

    g = cfg.generation
    session = open_shard(cfg, worker, engine, first_attempt)
    tracker = GoalTracker(str(session.paths.dataset), target=quota, stop_on=g.stop_on,
                          max_consecutive_failures=g.max_consecutive_failures, where=f" in shard {worker}")
    try:
        for rec in shard_attempts(session, quota, lambda: False):
            tracker.record(rec.success)
            tracker.check()
        return {"worker": worker, "successes": session.successes, "next_attempt": session.next_attempt}
    finally:
        session.close()


def run_on_ray(
    cfg: RunConfig,
    *,
    engine: str = "mujoco",
    on_attempt: Callable[[MetricsRecord, Summary], None] | None = None,
    poll: float = 1.0,
    task: Callable[..., Any] = shard_task,
    check: Callable[[RunConfig], None] | None = None,
    num_gpus: float = 0,
    retry_on: tuple[type[BaseException], ...] = (),
) -> Summary:
    """``task(cfg, worker, engine, first_attempt, quota)`` generates one shard (default: the twin's, in the
    task's process); ``check`` validates the run once beforehand; ``num_gpus`` per task; Ray retries a task
    that dies, and one that raises one of ``retry_on``."""
    ray = _import_ray()
    cfg = resolve_input(cfg)
    g = cfg.generation
    out = OutputPaths.beside(g.output_file)
    out.dataset.parent.mkdir(parents=True, exist_ok=True)
    stop = StopFlag()
    with lock.held(out.dataset), stop.installed():  # one run per output; a stop signal is noted through the finish
        if check is None:
            from mimicforge.backends import make_env_factory
            from mimicforge.run.session import check_run

            check_run(cfg, make_env_factory(engine))  # bad settings fail here once, not in every task
        else:
            check(cfg)
        summary = _run_locked(ray, cfg, engine, on_attempt, poll, stop, task, num_gpus, retry_on)
    if stop.signum is not None:
        raise Interrupted(f"stopped by {signal.Signals(stop.signum).name} with {summary.successes} successes in "
                          f"{out.dataset}; continue with --resume", stop.signum)
    return summary


def _run_locked(ray: Any, cfg: RunConfig, engine: str, on_attempt: Callable[[MetricsRecord, Summary], None] | None,
                poll: float, stop: StopFlag, task: Callable[..., Any], num_gpus: float,
                retry_on: tuple[type[BaseException], ...]) -> Summary:
    g = cfg.generation
    lay, resumed = prepare_sharded_run(cfg)
    out = lay.out
    shards = cfg.workers.workers
    quotas = shard_quotas(cfg, shards, resumed, independent=True)

    started_here = not ray.is_initialized()
    if started_here:
        address = cfg.workers.ray_address
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False,
                     **({} if address else {"num_cpus": max(shards, 1)}))
        except ConnectionError as exc:
            raise ConfigError(f"cannot connect to the Ray cluster at {address!r}: {exc}") from None
    tracker = GoalTracker(str(out.dataset), target=g.num_trials, stop_on=g.stop_on, successes=resumed.successes,
                          attempts=resumed.attempts,
                          max_consecutive_failures=g.max_consecutive_failures, stall_timeout=g.stall_timeout,
                          where=f" across {shards} Ray tasks")
    idle = True  # no task of this run can still write a shard
    try:
        if num_gpus and not ray.cluster_resources().get("GPU"):
            log.warning("the Ray cluster has no GPU: each task asks for 1 CPU instead of %g GPU (the GPU request "
                        "is mapped to a CPU)", num_gpus)
            num_gpus = 0
        remote = ray.remote(task).options(
            num_cpus=1, num_gpus=num_gpus, max_retries=cfg.workers.max_restarts,
            retry_exceptions=list(retry_on) if retry_on else False,
        )
        refs = [remote.remote(cfg, w, engine, resumed.next_for(w), quotas[w]) for w in range(shards)
                if quotas[w] > 0]
        seen: set[tuple[int, int]] = set()
        pending = list(refs)
        error: BaseException | None = None
        try:
            while pending and error is None and not stop():
                _, pending = ray.wait(pending, timeout=poll, num_returns=len(pending))
                _relay_progress(lay, shards, seen, tracker, on_attempt)
                error = tracker.failure_streak() or tracker.stalled()
        finally:
            idle = False
            _cancel_and_wait(ray, pending)  # no task may still write a shard while the finish reads it
            idle = True
        if error is not None:
            raise error
        if not stop():
            ray.get(refs)  # raises the first task error, if any
        _relay_progress(lay, shards, seen, tracker, on_attempt)
    finally:
        if started_here:
            ray.shutdown()
        if idle:  # else a cancelled task did not end (its error propagates): a later --resume finishes
            outcome = finalize(lay, cfg)
    return tracker.finish(outcome.successes, discarded=outcome.discarded)


def _cancel_and_wait(ray: Any, pending: list[Any]) -> None:
    """Cancel the tasks still running and wait until Ray reports each one ended (cancelled, failed or done)."""
    if not pending:
        return
    for ref in pending:
        ray.cancel(ref, force=True)
    for ref in pending:
        try:
            ray.get(ref, timeout=CANCEL_WAIT)
        except Exception as exc:  # noqa: BLE001 (a cancelled task raises TaskCancelledError or a worker error)
            if type(exc).__name__ == "GetTimeoutError":
                raise WorkerCrashed(f"a cancelled Ray task did not end within {CANCEL_WAIT:.0f} s; its shard is "
                                    "kept: finish the run with --resume once the cluster is idle") from None


def _relay_progress(lay: ShardLayout, shards: int, seen: set[tuple[int, int]], tracker: GoalTracker,
                    on_attempt: Callable[[MetricsRecord, Summary], None] | None) -> None:
    """Feed new shard metrics records (read from shared storage) to the tracker and the progress callback."""
    for w in range(shards):
        for rec in read_metrics(lay.worker_paths(w).metrics):
            key = (int(rec.get("worker", w)), int(rec.get("attempt", -1)))
            if key in seen:
                continue
            seen.add(key)
            tracker.record(bool(rec.get("success")), rec)
            if on_attempt is not None:
                fields = {k: rec.get(k) for k in MetricsRecord.__dataclass_fields__ if k != "extra"}
                on_attempt(MetricsRecord(**fields), tracker.summary)
