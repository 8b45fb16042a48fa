"""Generation across machines with Ray: one task per shard, merged like the local supervisor's shards.

Each task resumes its shard (the crash-safe writer keeps every committed demo, and attempt seeds are
fixed), so Ray's own task retries are the restart mechanism. Shards live beside OUT, which therefore
must be on storage every node can reach (NFS, a mounted bucket); the driver reads the shards' metrics
files for progress and merges the shards at the end. With the Isaac Lab engine each task asks Ray for
one GPU.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

from mimicforge.config import RunConfig
from mimicforge.errors import BackendUnavailable, ConfigError, GenerationStalled
from mimicforge.outputs import MetricsRecord, read_metrics
from mimicforge.run.generate import Summary, resolve_input
from mimicforge.run.shards import ShardLayout, finalize, prepare_sharded_run

log = logging.getLogger(__name__)


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise BackendUnavailable("Ray is not installed; install it with: pip install 'mimicforge[ray]'") from None
    return ray


def shard_task(cfg: RunConfig, worker: int, engine: str, first_attempt: int, quota: int) -> dict[str, int]:
    """Body of one Ray task: generate into shard ``worker`` until it holds ``quota`` successes
    (stop_on = successes) or has used attempts up to index ``quota`` (stop_on = attempts)."""
    from mimicforge.backends import make_env_factory
    from mimicforge.mimic.generator import TrialAborted
    from mimicforge.run.session import Session
    from mimicforge.run.worker import shard_config

    lay = ShardLayout.for_run(cfg)
    lay.root.mkdir(parents=True, exist_ok=True)
    paths = lay.worker_paths(worker)
    mode = "append" if paths.dataset.exists() else "create"
    session = Session(shard_config(cfg, lay, worker), paths, make_env_factory(engine), worker=worker,
                      engine_name=engine, mode=mode, first_attempt=first_attempt)
    by_successes = cfg.generation.stop_on == "successes"
    failures_in_a_row = 0
    try:
        while (session.successes if by_successes else session.next_attempt) < quota:
            try:
                rec = session.attempt()
            except TrialAborted:
                break
            failures_in_a_row = 0 if rec.success else failures_in_a_row + 1
            if failures_in_a_row >= cfg.generation.max_consecutive_failures:
                raise GenerationStalled(f"shard {worker}: {failures_in_a_row} attempts in a row failed")
        return {"worker": worker, "successes": session.successes, "next_attempt": session.next_attempt}
    finally:
        session.close()


def run_on_ray(
    cfg: RunConfig,
    *,
    engine: str = "mujoco",
    on_attempt: Callable[[MetricsRecord, Summary], None] | None = None,
    poll: float = 1.0,
) -> Summary:
    ray = _import_ray()
    cfg = resolve_input(cfg)
    g = cfg.generation
    if engine == "mujoco":  # the Isaac Lab engine can only start on the GPU nodes
        from mimicforge.backends import make_env_factory
        from mimicforge.run.session import check_run

        check_run(cfg, make_env_factory(engine))
    lay, resumed = prepare_sharded_run(cfg)
    out = lay.out
    shards = cfg.workers.workers
    if g.stop_on == "successes":
        need = max(0, g.num_trials - resumed.successes)
        quotas = {w: math.ceil(need / shards) for w in range(shards)}
    else:
        share, extra = divmod(g.num_trials, shards)
        quotas = {w: share + (1 if w < extra else 0) for w in range(shards)}

    started_here = not ray.is_initialized()
    if started_here:
        address = cfg.workers.ray_address
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False,
                     **({} if address else {"num_cpus": max(shards, 1)}))
        except ConnectionError as exc:
            raise ConfigError(f"cannot connect to the Ray cluster at {address!r}: {exc}") from None
    t0 = time.perf_counter()
    summary = Summary(str(out.dataset), g.num_trials, g.stop_on, resumed.successes,
                      sum(resumed.next_attempt.values()), 0, 0, 0.0, False)
    try:
        remote = ray.remote(shard_task).options(
            num_cpus=1, num_gpus=1 if engine == "isaaclab" else 0, max_retries=cfg.workers.max_restarts,
            retry_exceptions=False,
        )
        refs = [remote.remote(cfg, w, engine, resumed.next_for(w), quotas[w]) for w in range(shards)
                if quotas[w] > 0]
        seen: set[tuple[int, int]] = set()
        pending = list(refs)
        while pending:
            _, pending = ray.wait(pending, timeout=poll, num_returns=len(pending))
            _relay_progress(lay, shards, seen, summary, on_attempt, t0)
        ray.get(refs)  # raises the first task error, if any
        _relay_progress(lay, shards, seen, summary, on_attempt, t0)
    finally:
        if started_here:
            ray.shutdown()
    outcome = finalize(lay, cfg)
    summary.successes = outcome.successes
    summary.seconds = time.perf_counter() - t0
    summary.reached = (summary.successes if g.stop_on == "successes" else summary.attempts) >= g.num_trials
    return summary


def _relay_progress(lay: ShardLayout, shards: int, seen: set[tuple[int, int]], summary: Summary,
                    on_attempt: Callable[[MetricsRecord, Summary], None] | None, t0: float) -> None:
    """Feed new shard metrics records (read from shared storage) to the progress callback."""
    for w in range(shards):
        for rec in read_metrics(lay.worker_paths(w).metrics):
            key = (int(rec.get("worker", w)), int(rec.get("attempt", -1)))
            if key in seen:
                continue
            seen.add(key)
            summary.new_attempts += 1
            summary.attempts += 1
            if rec.get("success"):
                summary.new_successes += 1
                summary.successes += 1
                summary.note_motion(rec)
            summary.seconds = time.perf_counter() - t0
            if on_attempt is not None:
                fields = {k: rec.get(k) for k in MetricsRecord.__dataclass_fields__ if k != "extra"}
                on_attempt(MetricsRecord(**fields), summary)
