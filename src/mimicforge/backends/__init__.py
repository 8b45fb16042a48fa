"""Generation backends behind the ``MimicEnv`` contract, looked up by engine name.

Heavy imports (MuJoCo, Isaac Sim) happen only when an engine is built.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mimicforge.errors import ConfigError

if TYPE_CHECKING:
    from mimicforge.backends.base import MimicEnv
    from mimicforge.config import RunConfig
    from mimicforge.tasks import TaskSpec

ENGINES = ("mujoco", "isaaclab")


def isaaclab_available() -> bool:
    """Whether Isaac Lab Mimic can be imported here (without importing it)."""
    return importlib.util.find_spec("isaaclab_mimic") is not None


def resolve_engine(engine: str) -> str:
    """``auto`` is Isaac Lab where it is installed, else the MuJoCo twin."""
    if engine == "auto":
        return "isaaclab" if isaaclab_available() else "mujoco"
    if engine not in ENGINES:
        raise ConfigError(f"unknown engine {engine!r}; choose one of auto, {', '.join(ENGINES)}")
    return engine


def twin_params(cfg: RunConfig) -> Any:
    """The twin's parameters for a run: its camera resolution and cube randomization come from the settings."""
    from mimicforge.backends.mujoco.params import CameraParams, CubeSampler, TwinParams

    r, cams = cfg.randomization, cfg.cameras
    return TwinParams(
        camera=CameraParams(height=cams.height, width=cams.width, mesh_detail=cams.mesh_detail),
        image_obs=CameraParams(height=cams.image_obs_height, width=cams.image_obs_width, mesh_detail=cams.mesh_detail),
        cubes=CubeSampler(x=r.cube_x, y=r.cube_y, yaw=r.cube_yaw, min_separation=r.min_separation),
        success_rule=cfg.generation.success_rule,
    )


def make_env_factory(engine: str) -> Callable[[TaskSpec, RunConfig], MimicEnv]:
    """A function building one in-process ``MimicEnv`` for the engine."""
    if engine == "mujoco":
        def build(task: TaskSpec, cfg: RunConfig) -> MimicEnv:
            import importlib

            from mimicforge.tasks import REGISTRY

            entry = REGISTRY.get(task.env_name)
            if entry is None or entry.twin is None:
                twins = ", ".join(name for name, e in REGISTRY.items() if e.twin is not None)
                raise ConfigError(f"the MuJoCo twin does not model task {task.env_name!r}; it models {twins}")
            unknown = [c for c in cfg.cameras.cameras if c not in task.cameras]
            if unknown:
                raise ConfigError(f"unknown camera {unknown[0]!r}; the task has {' and '.join(task.cameras)}")
            module, _, function = entry.twin.partition(":")
            return getattr(importlib.import_module(module), function)(twin_params(cfg))

        return build
    raise ConfigError(
        f"engine {engine!r} does not run in-process; Isaac Lab generation runs through its own driver "
        "(standalone/generate.py inside the Isaac Lab container)"
    )
