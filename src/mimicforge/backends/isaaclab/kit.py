"""Start and stop Kit, and everything decided before it starts. Light: no numpy, h5py or Isaac import here.

Before Kit starts, ``launch``:

1. reads the installed ``isaaclab_mimic`` generation API from its *source* (``api.read_generation_api``;
   nothing is imported) and picks the variant the driver will run, so an unsupported release fails in a
   second with one line;
2. plans the run (settings, input file, output policy: ``driver.plan_run``). Isaac Lab 3.0 warns that
   NumPy/OpenBLAS loaded before Kit can crash Kit's start-up fork, so on 3.0 the plan runs in a child
   process (``python -m mimicforge.backends.isaaclab.plan``) and this process loads numpy and h5py only once
   Kit is up; earlier releases plan in-process;
3. decides cameras from the task (``cameras.needs_cameras``): camera tasks get cameras whatever CAMERAS says,
   and CAMERAS / MODALITIES are checked against the camera-task table;
4. starts Kit through the boundary. Anything that goes wrong while Kit starts, an argparse ``SystemExit``
   included, becomes one ``BackendUnavailable`` line (exit code 2: the engine cannot start here).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mimicforge.backends.isaaclab import api
from mimicforge.backends.isaaclab.boundary import IsaacBoundary, RealIsaac
from mimicforge.backends.isaaclab.cameras import check_cameras, needs_cameras
from mimicforge.backends.isaaclab.eventloop import prepare_event_loop
from mimicforge.config import RunConfig, to_toml
from mimicforge.errors import BackendUnavailable, ConfigError, MimicforgeError

log = logging.getLogger(__name__)


@dataclass
class Simulation:
    """A started Kit app and the boundary it came from (one per process; Kit cannot restart)."""

    app: Any
    isaac: IsaacBoundary = field(default_factory=RealIsaac)
    nested_loop: bool = False
    device: str = "cuda:0"
    enable_cameras: bool = False


@dataclass(frozen=True)
class Preflight:
    env_name: str
    variant: api.ApiVariant | None  # None: no isaaclab_mimic sources found (launch then names the problem)
    enable_cameras: bool


def installed_variant(source_of: Callable[[str], str | None] = api.installed_source) -> api.ApiVariant | None:
    """The API variant of the installed isaaclab_mimic, read from its sources (None: not installed)."""
    signatures, generate = api.read_generation_api(source_of)
    if not signatures and generate is None and source_of(api.DATA_GENERATOR_GENERATE[0]) is None:
        if source_of(api.LAUNCHER[0]) is not None or api.installed_release() is not None:
            # Isaac Lab without the asyncio generation module (the 2.0.x wheels): refuse now, in one line.
            return api.select_variant(signatures, generate, where=f"isaaclab {api.installed_release() or ''}".strip())
        return None
    variant = api.select_variant(signatures, generate)
    log.info("Isaac Lab %s: generation API %s", api.installed_release() or "(source install)", variant.name)
    return variant


def plan_env_name(cfg: RunConfig, in_child: bool) -> str:
    """Validate the run as ``driver.plan_run`` does and return its env name, in a child process if asked."""
    if not in_child:
        from mimicforge.backends.isaaclab.driver import plan_run

        return plan_run(cfg).env_name
    r = subprocess.run([sys.executable, "-m", "mimicforge.backends.isaaclab.plan"], input=to_toml(cfg, with_run=True),
                       capture_output=True, text=True, env=os.environ.copy(), timeout=600)
    try:
        answer = json.loads(r.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise BackendUnavailable(f"planning the run in a child process failed (status {r.returncode}): "
                                 f"{' '.join(r.stderr.split())[-300:]}") from None
    if "error" in answer:
        error = MimicforgeError(answer["error"])
        error.exit_code = int(answer.get("exit_code", 2))
        raise error
    return str(answer["env_name"])


def check_single_process(cfg: RunConfig) -> None:
    """Kit starts in this process once, so this process generates as one Kit process (NUM_ENVS parallel envs
    inside it). WORKERS > 1 and Ray start their own Kit processes from a process without Kit: refused here
    in one line, naming the entry that does it."""
    from mimicforge.config import check_engine

    check_engine(cfg, "isaaclab")  # the settings' own engine rules; dispatch logs the warnings
    w = cfg.workers
    if w.workers > 1 or w.ray:
        what = "RAY=1" if w.ray else f"WORKERS={w.workers}"
        raise ConfigError(f"{what} starts one Kit process per worker, which this process (with its own Kit, e.g. a "
                          "notebook kernel) cannot: run standalone/generate.py (MODE=standalone launch.sh) for it, "
                          "or set WORKERS=1 and use NUM_ENVS here")


def preflight(cfg: RunConfig, source_of: Callable[[str], str | None] = api.installed_source) -> Preflight:
    check_single_process(cfg)
    variant = installed_variant(source_of)
    env_name = plan_env_name(cfg, in_child=variant is not None and variant.kit_before_numpy)
    cams = cfg.cameras
    check_cameras(env_name, cams.cameras, cams.modalities)
    return Preflight(env_name, variant, needs_cameras(env_name, cams.cameras))


def launch(cfg: RunConfig, *, isaac: IsaacBoundary | None = None, device: str | None = None,
           source_of: Callable[[str], str | None] = api.installed_source) -> Simulation:
    """Check the run, then start Isaac Sim headless on ``device`` (default: the DEVICE setting)."""
    pre = preflight(cfg, source_of)
    isaac = isaac or RealIsaac()
    device = device or cfg.generation.device
    nested = prepare_event_loop()
    log.info("starting Kit on %s (cameras %s: task %s)", device, "on" if pre.enable_cameras else "off", pre.env_name)
    try:
        app = isaac.launch_app(headless=True, enable_cameras=pre.enable_cameras, device=device)
    except MimicforgeError:
        raise
    except KeyboardInterrupt:
        raise
    except (Exception, SystemExit) as exc:  # Kit or the launcher gave up: one line, not an argparse usage text
        what = f"exit status {exc.code}" if isinstance(exc, SystemExit) else f"{type(exc).__name__}: {exc}"
        raise BackendUnavailable(f"Isaac Sim failed to start ({' '.join(what.split())[:400]}); check the container's "
                                 "GPU and Isaac Sim install (MIMICFORGE_DEBUG=1 shows the traceback)") from exc
    return Simulation(app, isaac, nested, device, pre.enable_cameras)


def close(sim: Simulation, exit_code: int = 0) -> None:
    sim.isaac.close_app(sim.app, exit_code)
