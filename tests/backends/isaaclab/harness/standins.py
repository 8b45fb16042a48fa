"""STAND-INS at the Isaac Sim boundary: the few upstream modules the harness does not run from the wheel.

Each entry says which upstream import needs it and why it cannot run here: ``STANDINS`` for 2.3.2.post1,
``STANDINS_3`` for 3.0.0 (where ``isaaclab.app`` itself runs from the wheel, deprecated ``AppLauncher``
included, down to the launcher module that would start Kit). Everything else the generation
path imports (``isaaclab_mimic.datagen``, ``isaaclab.utils.math``, ``isaaclab.utils.datasets``,
``isaaclab.managers.recorder_manager``, the env configs, the task's mdp functions ...) is NVIDIA's code.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any


@dataclass(frozen=True)
class Standin:
    module: str
    forced_by: str  # the upstream import that reaches it
    why: str


STANDINS = (
    Standin("isaaclab.envs.manager_based_rl_env",
            "isaaclab/envs/manager_based_rl_mimic_env.py: from isaaclab.envs import ManagerBasedRLEnv",
            "the live env: Kit's SimulationContext, the USD scene, PhysX (here: the MuJoCo twin, twin_env.py)"),
    Standin("isaaclab.app",
            "the driver's boundary (RealIsaac.launch_app): from isaaclab.app import AppLauncher",
            "starts Kit / Isaac Sim; here an app object whose close() records the exit code"),
)
# Upstream packages served as Kit modules (inert): Omniverse UI widgets, imported by env configs for the
# optional GUI window (isaaclab/envs/manager_based_env_cfg.py: from .ui import ViewerCfg, BaseEnvWindow).
KIT_UPSTREAM = ("isaaclab.envs.ui", "isaaclab.ui")


def env_module_builder(env_class: str) -> Callable[[ModuleType], None]:
    """The stand-in ``isaaclab.envs.manager_based_rl_env`` whose env is ``twin_env.<env_class>``."""

    def build(module: ModuleType) -> None:
        from tests.backends.isaaclab.harness import twin_env

        env = getattr(twin_env, env_class)
        module.ManagerBasedRLEnv = env  # type: ignore[attr-defined]
        module.ManagerBasedEnv = env  # type: ignore[attr-defined]
        module.VecEnvStepReturn = tuple  # type: ignore[attr-defined]
        module.VecEnvObs = dict  # type: ignore[attr-defined]

    return build


build_env_module = env_module_builder("ManagerBasedRLEnv")


class HarnessApp:
    """What ``AppLauncher(args).app`` returns: no Kit, but the same close() the driver calls."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.closed_with: int | None = None

    def is_running(self) -> bool:
        return self.closed_with is None

    def close(self, exit_code: int = 0) -> None:  # Isaac Sim 5 keeps exit_code through its fast shutdown
        self.closed_with = exit_code


class AppLauncher:
    """STAND-IN for ``isaaclab.app.AppLauncher``: parses the same flags the driver passes."""

    def __init__(self, launcher_args: argparse.Namespace | dict | None = None, **kwargs: Any) -> None:
        if isinstance(launcher_args, dict):
            launcher_args = argparse.Namespace(**launcher_args)
        self.app = HarnessApp(launcher_args or argparse.Namespace(**kwargs))

    @staticmethod
    def add_app_launcher_args(parser: argparse.ArgumentParser) -> None:
        group = parser.add_argument_group("app_launcher arguments")
        group.add_argument("--headless", action="store_true", default=False)
        group.add_argument("--enable_cameras", action="store_true", default=False)
        group.add_argument("--device", type=str, default="cuda:0")
        group.add_argument("--livestream", type=int, default=-1)
        group.add_argument("--verbose", action="store_true")
        group.add_argument("--info", action="store_true")
        group.add_argument("--experience", type=str, default="")
        group.add_argument("--kit_args", type=str, default="")
        group.add_argument("--xr", action="store_true", default=False)
        group.add_argument("--rendering_mode", type=str, default=None)


def build_app_module(module: ModuleType) -> None:
    module.AppLauncher = AppLauncher  # type: ignore[attr-defined]


BUILDERS = {
    "isaaclab.envs.manager_based_rl_env": build_env_module,
    "isaaclab.app": build_app_module,
}


# ------------------------------------------------------------------------------------------ Isaac Lab 3.0
STANDINS_3 = (
    Standin("isaaclab.envs.manager_based_rl_env",
            "isaaclab/envs/manager_based_rl_mimic_env.py: from . import ManagerBasedRLEnv (isaaclab/envs/__init__.pyi:"
            " from .manager_based_rl_env import ManagerBasedRLEnv)",
            "the live env: Kit's SimulationContext, the USD scene, PhysX or Newton (here: the MuJoCo twin with "
            "3.0's x, y, z, w quaternions and .torch data views, twin_env.ManagerBasedRLEnv3)"),
    Standin("isaaclab.app.sim_launcher",
            "isaaclab/app/app_launcher.py: from .sim_launcher import add_launcher_args, launch_simulation "
            "(reached from the driver's boundary: from isaaclab.app import AppLauncher); "
            "isaaclab_tasks/utils/hydra.py: from isaaclab.app import validate_launch",
            "launch_simulation starts Kit (isaaclab_physx's KitLauncher) or Newton; here the launcher's option list "
            "of 3.0 (no --headless / --enable_cameras) and a runtime that records the exit code it is closed with"),
)
# 3.0 keeps the Omniverse UI widgets in the same places; they are Kit.
KIT_UPSTREAM_3 = KIT_UPSTREAM


build_env_module_3 = env_module_builder("ManagerBasedRLEnv3")


class KitRuntime:
    """What ``launch_simulation`` yields: nothing runs; the exit status ``AppLauncher``'s app closed it with."""

    launched: list[dict[str, Any]] = []
    closed_with: list[int | None] = []


def add_launcher_args_3(parser: argparse.ArgumentParser) -> None:
    """Isaac Lab 3.0's launcher options (``isaaclab_physx/app/kit_launcher.py``: ``add_launcher_args``)."""
    group = parser.add_argument_group("kit_launcher arguments")
    group.add_argument("--livestream", type=int, default=-1)
    group.add_argument("--xr", action="store_true", default=False)
    group.add_argument("--device", type=str, default="cuda:0")
    group.add_argument("--visualizer", "--viz", nargs="*", default=None)
    group.add_argument("--verbose", action="store_true")
    group.add_argument("--info", action="store_true")
    group.add_argument("--experience", type=str, default="")
    group.add_argument("--deterministic", action="store_true")
    group.add_argument("--kit_args", type=str, default="")
    group.add_argument("--anim_recording_enabled", action="store_true")
    group.add_argument("--anim_recording_start_time", type=float, default=0)
    group.add_argument("--anim_recording_stop_time", type=float, default=10)
    group.add_argument("--max_visible_envs", type=int, default=None)


def build_sim_launcher_module(module: ModuleType) -> None:
    import contextlib

    @contextlib.contextmanager
    def launch_simulation(env_cfg: Any, launcher_args: Any = None) -> Any:
        KitRuntime.launched.append(dict(launcher_args or {}))
        try:
            yield None
        except SystemExit as exc:  # AppLauncher's app.close(exit_code=...) unwinds the launch this way
            KitRuntime.closed_with.append(exc.code)
            raise

    def not_here(name: str) -> Any:
        def refuse(*args: Any, **kwargs: Any) -> Any:
            raise NotImplementedError(f"isaaclab.app.{name} plans a Kit / Newton launch; the harness has none")

        return refuse

    class Scan:  # named in isaaclab_tasks/utils/hydra.py's imports only
        pass

    module.add_launcher_args = add_launcher_args_3  # type: ignore[attr-defined]
    module.launch_simulation = launch_simulation  # type: ignore[attr-defined]
    module.Scan = Scan  # type: ignore[attr-defined]
    module.SimulationLauncher = Scan  # type: ignore[attr-defined]
    for name in ("scan", "validate_launch", "fuse_kit_args"):
        setattr(module, name, not_here(name))


BUILDERS_3 = {
    "isaaclab.envs.manager_based_rl_env": build_env_module_3,
    "isaaclab.app.sim_launcher": build_sim_launcher_module,
}
