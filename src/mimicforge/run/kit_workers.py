"""WORKERS=N and Ray on Isaac Lab: one Kit process per worker (``backends.isaaclab.workers``), supervised by the
twin's supervisor.

The supervisor (``run.supervisor``) gets a launcher that starts Kit processes (``KitWorkers``) and
``restart_stalled``: one progress stream, a crashed worker (any exit, a signal, a segfault) restarted with
bounded retries and backoff, a worker silent for STALL_TIMEOUT killed and restarted (Kit processes hang rather
than die), the shards merged into OUT by the same finish (``run.shards``). Ray (``run.ray``) runs the same Kit
process inside a task that asks for one GPU.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing as mp
import os
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

from mimicforge.backends.isaaclab.workers import (KitProcess, check_isaac_run, kit_settings, ray_device,
                                                  worker_devices)
from mimicforge.config import RunConfig
from mimicforge.errors import WorkerCrashed
from mimicforge.goal import Summary
from mimicforge.run.links import WorkerLinks
from mimicforge.run.shards import ShardLayout, shard_config
from mimicforge.run.supervisor import exit_description, run_supervised

log = logging.getLogger(__name__)


def shard_settings(cfg: RunConfig, worker: int, quota: int | None) -> RunConfig:
    """The settings Kit worker ``worker`` runs (``workers.kit_settings`` of its shard)."""
    return kit_settings(shard_config(cfg, ShardLayout.for_run(cfg), worker), quota, cfg.generation.num_trials)


@dataclasses.dataclass
class KitWorkers:
    """The supervisor's launcher for Isaac Lab (``run.supervisor.WorkerLauncher``)."""

    devices: list[str]  # worker i runs on devices[i]

    def check(self, cfg: RunConfig) -> None:
        check_isaac_run(cfg)
        log.info("%d Kit workers on %s", len(self.devices), ", ".join(self.devices))

    def start(self, spec: Any, link: Connection, stop_event: Any) -> KitProcess:
        shard = shard_settings(spec.cfg, spec.worker, spec.attempt_limit)
        device = self.devices[spec.worker]
        log.info("worker %d: Kit on %s from attempt %d", spec.worker, device, spec.first_attempt)
        return KitProcess(shard, spec.worker, spec.first_attempt, device, link, stop_event)


def run_kit_workers(cfg: RunConfig, *, on_attempt: Any = None, stop: Any = None) -> Summary:
    """WORKERS=N on Isaac Lab: N supervised Kit processes (see the module docstring)."""

    devices = worker_devices(cfg, cfg.workers.workers)
    return run_supervised(cfg, engine="isaaclab", on_attempt=on_attempt, stop=stop,
                          launcher=KitWorkers(devices), restart_stalled=True)


def run_kit_on_ray(cfg: RunConfig, *, on_attempt: Any = None) -> Summary:
    """``--ray`` on Isaac Lab: one Ray task per shard, each asking for one GPU and running one Kit process."""
    from mimicforge.run.ray import run_on_ray  # Ray is optional: its module says how to install it

    return run_on_ray(cfg, engine="isaaclab", on_attempt=on_attempt, task=ray_shard_task, check=check_isaac_run,
                      num_gpus=1, retry_on=(WorkerCrashed,))


def ray_shard_task(cfg: RunConfig, worker: int, engine: str, first_attempt: int, quota: int) -> dict[str, int]:
    """Body of one Ray task: the shard's Kit process on the GPU Ray assigned (``ray_device``), watched like a local
    worker. A crash, or silence for STALL_TIMEOUT (then it is killed), raises ``WorkerCrashed``, and Ray retries
    the task (up to MAX_RESTARTS); the retry resumes the shard from what it committed."""
    import ray  # in a Ray task: installed

    device, env = ray_device(cfg.generation.device, ray.get_gpu_ids(), os.environ)
    stall = cfg.generation.stall_timeout
    links = WorkerLinks(mp.get_context("spawn"))
    proc = KitProcess(shard_settings(cfg, worker, quota), worker, first_attempt, device, links.open(worker),
                      threading.Event(), env)
    links.started(worker)
    last, error = time.monotonic(), None
    try:
        while proc.exitcode is None:
            messages = links.receive(timeout=1.0)
            if messages:
                last = time.monotonic()
            error = next((m[2] for _, m in messages if m[0] == "error"), error)
            if time.monotonic() - last > stall:
                proc.kill()
                proc.join(timeout=10)
                raise WorkerCrashed(f"shard {worker}'s Kit process made no progress for {stall:g} s (STALL_TIMEOUT); "
                                    "killed it")
        error = next((m[2] for _, m in links.receive(timeout=0.2) if m[0] == "error"), error)
    finally:
        if proc.exitcode is None:
            proc.kill()
            proc.join(timeout=10)
        links.close()
    if proc.exitcode != 0:
        raise WorkerCrashed(f"shard {worker}'s Kit process {exit_description(proc.exitcode)}"
                            f"{f': {error}' if error else ''}")
    return {"worker": worker}
