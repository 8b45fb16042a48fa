"""Generation backends behind the ``MimicEnv`` contract, looked up by engine name.

Heavy imports (MuJoCo, Isaac Sim) happen only when an engine is built.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import TYPE_CHECKING

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


def make_env_factory(engine: str) -> Callable[[TaskSpec, RunConfig], MimicEnv]:
    """A function building one in-process ``MimicEnv`` for the engine."""
    if engine == "mujoco":
        def build(task: TaskSpec, cfg: RunConfig) -> MimicEnv:
            from mimicforge.backends.mujoco import make_env

            cams = cfg.cameras
            return make_env(task, cameras=cams.cameras, width=cams.width, height=cams.height)

        return build
    raise ConfigError(
        f"engine {engine!r} does not run in-process; Isaac Lab generation runs through its own driver "
        "(standalone/generate.py inside the Isaac Lab container)"
    )
