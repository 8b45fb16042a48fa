"""Isaac Lab worker processes: where each runs (devices) and the process itself (one Kit per worker).

Kit cannot be forked, restarted or shared between threads, so a worker is a fresh interpreter
(``python -m mimicforge.run.kit_worker``, the Python running this, i.e. Isaac Sim's in the container) that
starts its own Kit on its own device and runs Isaac Lab Mimic's generator on its own shard. The generic
supervisor (``run.supervisor``, with ``run.kit_workers``) does the rest as for the twin; this module only knows
Isaac Lab: devices, the process and its stop, and the checks that need no Kit.

Devices follow Isaac Lab's own launcher: a Kit process runs on the GPU its ``--device cuda:N`` names
(``AppLauncher`` makes N Kit's active and PhysX GPU), with every GPU visible, as Isaac Lab's multi-GPU
scripts place their processes. Worker ``i`` takes the i-th entry of DEVICES (cycling); without DEVICES,
every GPU this machine shows (``CUDA_VISIBLE_DEVICES`` when set, else the NVIDIA driver's list), or DEVICE
for every worker when it is ``cpu`` or no GPU is found. Under Ray, Ray picks the GPU; the task's Kit process
gets ``--device cuda:<that GPU>`` with every GPU visible again (Ray narrows ``CUDA_VISIBLE_DEVICES`` for its
task, which would leave Kit's renderer and PhysX choosing among different device lists).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from mimicforge.config import RunConfig, to_toml
from mimicforge.errors import BackendUnavailable

log = logging.getLogger(__name__)

WORKER_MODULE = "mimicforge.run.kit_worker"
NVIDIA_GPUS = Path("/proc/driver/nvidia/gpus")


# ------------------------------------------------------------------------------------------ devices
def visible_gpus(environ: Mapping[str, str] | None = None, driver_dir: Path = NVIDIA_GPUS) -> int:
    """How many GPUs a CUDA process started here sees: ``CUDA_VISIBLE_DEVICES`` when set, else the driver's."""
    env = os.environ if environ is None else environ
    listed = env.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return len([d for d in listed.split(",") if d.strip() and d.strip() != "-1"])
    try:
        return sum(1 for _ in driver_dir.iterdir())
    except OSError:
        return 0


def worker_devices(cfg: RunConfig, workers: int, gpus: int | None = None) -> list[str]:
    """The device of each worker (see the module docstring)."""
    g = cfg.generation
    devices = list(g.devices)
    if not devices:
        found = visible_gpus() if gpus is None else gpus
        devices = [f"cuda:{i}" for i in range(found)] if g.device != "cpu" and found else [g.device]
    return [devices[w % len(devices)] for w in range(workers)]


# ------------------------------------------------------------------------------------------ one worker
def kit_settings(shard: RunConfig, quota: int | None, num_trials: int) -> RunConfig:
    """What a Kit worker runs: its shard's settings (``run.shards.shard_config``) continued (never overwritten:
    the supervisor prepared the shards), in one process, to its share of the goal (``run.shards.shard_quotas``;
    None: until stopped, i.e. the run's ``num_trials``)."""
    return dataclasses.replace(
        shard, on_existing="resume",
        generation=dataclasses.replace(shard.generation, num_trials=quota if quota else num_trials),
        workers=dataclasses.replace(shard.workers, workers=1, ray=False, ray_address=None),
    )


def shard_command(worker: int, first_attempt: int, device: str, link_fd: int) -> list[str]:
    return [sys.executable, "-m", WORKER_MODULE, "--worker", str(worker), "--first-attempt", str(first_attempt),
            "--device", device, "--link", str(link_fd), "--parent", str(os.getpid())]


class KitProcess:
    """A Kit worker as the supervisor sees a process (``multiprocessing.Process``'s surface). It runs in a
    process group of its own (Kit starts helpers of its own; a kill reaches them all); once the run's stop
    event is set it gets SIGTERM, on which the driver finishes the attempt in progress and exits."""

    def __init__(self, cfg: RunConfig, worker: int, first_attempt: int, device: str, link: Connection,
                 stop_event: Any, env: Mapping[str, str] | None = None) -> None:
        self.name = f"mimicforge-kit-{worker}"
        self.device = device
        fd = link.fileno()
        self.popen = subprocess.Popen(shard_command(worker, first_attempt, device, fd), stdin=subprocess.PIPE,
                                      pass_fds=(fd,), start_new_session=True, text=True,
                                      env=None if env is None else dict(env))
        assert self.popen.stdin is not None
        with self.popen.stdin:
            self.popen.stdin.write(to_toml(cfg, with_run=True))
        self.pid = self.popen.pid
        threading.Thread(target=self._stop_on, args=(stop_event,), daemon=True, name=f"{self.name}-stop").start()

    def _stop_on(self, stop_event: Any) -> None:
        while self.popen.poll() is None:
            if stop_event.wait(timeout=1.0):
                self.terminate()
                return

    @property
    def exitcode(self) -> int | None:
        return self.popen.poll()

    def _signal_group(self, sig: int) -> None:
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, sig)
            except ProcessLookupError:
                pass

    def terminate(self) -> None:
        self._signal_group(signal.SIGTERM)

    def kill(self) -> None:
        self._signal_group(signal.SIGKILL)

    def join(self, timeout: float | None = None) -> None:
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass


def check_isaac_run(cfg: RunConfig) -> None:
    """What every Kit worker would fail on, checked once here without starting Kit: Isaac Lab installed with a
    supported API, the settings, input and output (the same checks as ``kit.launch``, for one shard)."""
    from mimicforge.backends.isaaclab import kit

    if kit.installed_variant() is None:
        raise BackendUnavailable("Isaac Lab is not importable here (no isaaclab_mimic); run inside the Isaac Lab "
                                 "container (MODE=standalone launch.sh), or use ENGINE=mujoco")
    kit.preflight(dataclasses.replace(cfg, workers=dataclasses.replace(cfg.workers, workers=1, ray=False,
                                                                        ray_address=None)))


def ray_device(device: str, gpu_ids: list[Any], environ: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    """The Kit process's device and environment in a Ray task: ``cuda:<the GPU Ray assigned>`` with every GPU
    visible (as locally: Kit picks its GPU from ``--device``); DEVICE when the task got no GPU or DEVICE is cpu."""
    env = dict(environ)
    if device == "cpu" or not gpu_ids:
        return device, env
    env.pop("CUDA_VISIBLE_DEVICES", None)
    return f"cuda:{int(gpu_ids[0])}", env
