"""A generation worker process: one engine, one shard, attempts until told to stop.

Runs in a spawned process. Reports each attempt's metrics record, and any error with its traceback, on
its own pipe to the supervisor (``links``). It stops when the supervisor sets the stop event, when its own
attempt quota is used up, on SIGTERM, or when the supervisor process is gone (a killed supervisor must not
leave workers generating forever). SIGINT is ignored: a Ctrl-C reaches the whole process group, and
stopping is the supervisor's decision.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import traceback
from multiprocessing.connection import Connection
from typing import Any

from mimicforge.config import RunConfig
from mimicforge.run.links import send
from mimicforge.run.shards import open_shard, shard_attempts, shard_config  # noqa: F401 (shard_config re-exported)


@dataclasses.dataclass(frozen=True)
class WorkerSpec:
    worker: int
    cfg: RunConfig
    engine: str
    first_attempt: int  # attempts below this are already on record (in OUT or its metrics)
    attempt_limit: int | None  # the shard's quota (see shards.shard_quotas), else None
    parent_pid: int


def worker_main(spec: WorkerSpec, link: Connection, stop_event: Any) -> None:
    """Process entry point (spawned)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    terminated = False

    def on_term(signum: int, frame: object) -> None:
        nonlocal terminated
        terminated = True

    signal.signal(signal.SIGTERM, on_term)

    def should_stop() -> bool:
        return terminated or stop_event.is_set() or os.getppid() != spec.parent_pid

    session = None
    try:
        session = open_shard(spec.cfg, spec.worker, spec.engine, spec.first_attempt)
        send(link, ("ready", spec.worker, session.next_attempt))
        for record in shard_attempts(session, spec.attempt_limit, should_stop):
            send(link, ("attempt", spec.worker, dataclasses.asdict(record)))
    except BaseException as exc:  # report everything, then exit non-zero
        with contextlib.suppress(OSError):  # the supervisor may be gone
            send(link, ("error", spec.worker, f"{type(exc).__name__}: {exc}", traceback.format_exc()))
        raise SystemExit(1) from None
    finally:
        if session is not None:
            session.close()
    with contextlib.suppress(OSError):
        send(link, ("done", spec.worker, None))
