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
import pickle
import signal
import traceback
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from mimicforge.config import RunConfig
from mimicforge.run.links import send
from mimicforge.run.session import Prepared, prepare_engine
from mimicforge.run.shards import open_shard, shard_attempts, shard_config  # noqa: F401 (shard_config re-exported)


@dataclasses.dataclass(frozen=True)
class WorkerSpec:
    worker: int
    cfg: RunConfig
    engine: str
    first_attempt: int  # attempts below this are already on record (in OUT or its metrics)
    attempt_limit: int | None  # the shard's quota (see shards.shard_quotas), else None
    parent_pid: int


def worker_standby(engine: str, cfg: RunConfig, orders: Connection, link: Connection, stop_event: Any) -> None:
    """Process entry point of a worker spawned before its run is set up: it prepares its engine (source demos,
    engine, generator) and steps it once, importing the engine and loading its compiled code, the larger part
    of a worker's start-up, and reports on ``orders`` how that went: None, or the exception it failed with,
    which the supervisor's check raises as its own (``SpawnedWorkers.check``). Then it waits for its
    ``WorkerSpec`` on ``orders`` and runs as ``worker_main`` with what it prepared. When ``orders`` closes
    without a spec (the run did not start), it exits having written nothing; a worker whose spec comes after
    a failure prepares again."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    prepared, error = _warm_engine(engine, cfg)
    try:  # the supervisor's check takes this report instead of preparing an engine itself
        try:
            orders.send(error)  # None: prepared
        except (pickle.PicklingError, TypeError, AttributeError):
            orders.send(False)  # an error that does not travel: the supervisor prepares an engine to raise it
    except OSError:
        pass  # it took another worker's report, and may have sent the spec and closed its end already
    try:
        spec = orders.recv()
    except (EOFError, OSError):
        spec = None
    finally:
        orders.close()
    if prepared is not None and (spec is None or spec.cfg != cfg or spec.engine != engine):
        prepared[2].close()  # not started, or started with other settings than those it prepared
        prepared = None
    if spec is not None:
        worker_main(spec, link, stop_event, prepared)


def _warm_engine(engine: str, cfg: RunConfig) -> tuple[Prepared | None, Exception | None]:
    from mimicforge.backends import make_env_factory

    try:
        prepared = prepare_engine(cfg, make_env_factory(engine))
    except Exception as exc:
        return None, exc
    env = prepared[2]
    try:
        env.step(np.zeros(env.action_dim))  # every attempt starts with a reset: this step leaves no trace
    except Exception as exc:
        env.close()
        return None, exc
    return prepared, None


def worker_main(spec: WorkerSpec, link: Connection, stop_event: Any, prepared: Prepared | None = None) -> None:
    """Process entry point (spawned); ``prepared``: a standby worker's engine and generator (``worker_standby``)."""
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
        session = open_shard(spec.cfg, spec.worker, spec.engine, spec.first_attempt, prepared)
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
