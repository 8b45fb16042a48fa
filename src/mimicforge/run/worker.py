"""A generation worker process: one engine, one shard, attempts until told to stop.

Runs in a spawned process. Reports each attempt's metrics record, and any error with its traceback, on
the supervisor's queue. It stops when the supervisor sets the stop event, when its own attempt quota is
used up, on SIGTERM, or when the supervisor process is gone (a killed supervisor must not leave workers
generating forever). SIGINT is ignored: a Ctrl-C reaches the whole process group, and stopping is the
supervisor's decision.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import traceback
from typing import Any

from mimicforge.config import RunConfig
from mimicforge.mimic.generator import TrialAborted
from mimicforge.run.session import Session
from mimicforge.run.shards import ShardLayout


@dataclasses.dataclass(frozen=True)
class WorkerSpec:
    worker: int
    cfg: RunConfig
    engine: str
    first_attempt: int  # attempts below this are already on record (in OUT or its metrics)
    attempt_limit: int | None  # stop before this attempt index (stop_on = attempts), else None
    parent_pid: int


def shard_config(cfg: RunConfig, lay: ShardLayout, worker: int) -> RunConfig:
    """The run's settings pointed at one worker's shard files and image staging folder."""
    return dataclasses.replace(
        cfg,
        generation=dataclasses.replace(cfg.generation, output_file=lay.worker_paths(worker).dataset),
        cameras=dataclasses.replace(cfg.cameras, output_dir=lay.worker_image_dir(worker)),
    )


def worker_main(spec: WorkerSpec, queue: Any, stop_event: Any) -> None:
    """Process entry point (spawned)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    terminated = False

    def on_term(signum: int, frame: object) -> None:
        nonlocal terminated
        terminated = True

    signal.signal(signal.SIGTERM, on_term)

    def should_stop() -> bool:
        return terminated or stop_event.is_set() or os.getppid() != spec.parent_pid

    from mimicforge.backends import make_env_factory

    lay = ShardLayout.for_run(spec.cfg)
    cfg = shard_config(spec.cfg, lay, spec.worker)
    paths = lay.worker_paths(spec.worker)
    session = None
    try:
        lay.root.mkdir(parents=True, exist_ok=True)
        mode = "append" if paths.dataset.exists() else "create"
        if mode == "create":
            for p in paths.all():  # leftovers of a shard whose dataset was never created
                p.unlink(missing_ok=True)
        session = Session(cfg, paths, make_env_factory(spec.engine), worker=spec.worker, engine_name=spec.engine,
                          mode=mode, first_attempt=spec.first_attempt)
        queue.put(("ready", spec.worker, session.next_attempt))
        while not should_stop():
            if spec.attempt_limit is not None and session.next_attempt >= spec.attempt_limit:
                break
            try:
                record = session.attempt(stop_requested=should_stop)
            except TrialAborted:
                break
            queue.put(("attempt", spec.worker, dataclasses.asdict(record)))
    except BaseException as exc:  # report everything, then exit non-zero
        queue.put(("error", spec.worker, f"{type(exc).__name__}: {exc}", traceback.format_exc()))
        raise SystemExit(1) from None
    finally:
        if session is not None:
            session.close()
    queue.put(("done", spec.worker, None))
