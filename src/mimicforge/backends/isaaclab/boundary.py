"""The one place where mimicforge touches Isaac Sim and Isaac Lab.

Every Isaac import happens inside a method of ``RealIsaac``, so ``import mimicforge`` (and this module)
works on any Python without Isaac Sim, and the driver's tests swap in a fake with the same methods.
Keep these methods thin: no decisions here, only the calls (the decisions live in the driver, where
they are tested).
"""

from __future__ import annotations

import importlib
import random
from types import ModuleType
from typing import Any, Protocol

from mimicforge.backends.isaaclab import api
from mimicforge.errors import BackendUnavailable


class IsaacBoundary(Protocol):
    def launch_app(self, *, headless: bool, enable_cameras: bool, device: str) -> Any:
        """Start Kit through ``AppLauncher`` (arguments from ``api.launcher_args``); returns the app."""

    def close_app(self, app: Any, exit_code: int) -> None:
        """Shut Kit down, keeping ``exit_code`` where the installed Isaac Sim can."""

    def load_generation(self) -> ModuleType:
        """Register the Mimic and task envs with gym; return ``isaaclab_mimic.datagen.generation``."""

    def generate_signature(self) -> api.Signature | None:
        """Parameters of ``DataGenerator.generate`` (None if it cannot be found)."""

    def make_env(self, env_name: str, env_cfg: Any) -> Any:
        """``gym.make(env_name, cfg=env_cfg).unwrapped``: creates the recorder's HDF5 files."""

    def export_mode(self, name: str) -> Any:
        """A ``DatasetExportMode`` member by name."""

    def seed_everything(self, seed: int) -> None:
        """Seed ``random``, numpy and torch, as Isaac Lab's generation script does."""


class RealIsaac:
    """The boundary backed by the installed Isaac Lab (inside Isaac Sim's Python)."""

    def launch_app(self, *, headless: bool, enable_cameras: bool, device: str) -> Any:
        try:
            from isaaclab.app import AppLauncher
        except ImportError as exc:
            raise BackendUnavailable(
                f"Isaac Lab is not importable here ({exc}); run inside the Isaac Lab container "
                "(docker compose run --rm isaac-lab) or use ENGINE=mujoco"
            ) from None
        args = api.launcher_args(AppLauncher, enable_cameras=enable_cameras, device=device)
        return AppLauncher(args.namespace, **args.kwargs).app

    def close_app(self, app: Any, exit_code: int) -> None:
        # Newer Isaac Sim releases take the status to keep when Kit's fast shutdown ends the process;
        # older ones end it with 0, which launch.sh corrects from the status file (see standalone.py).
        if "exit_code" in api.names(api.signature_of(app.close)):
            app.close(exit_code=exit_code)
        else:
            app.close()

    def load_generation(self) -> ModuleType:
        for module in api.REGISTRATION_MODULES:
            importlib.import_module(module)
        return importlib.import_module(api.GENERATION_MODULE)

    def generate_signature(self) -> api.Signature | None:
        module, cls, method = api.DATA_GENERATOR_GENERATE
        try:
            func = getattr(getattr(importlib.import_module(module), cls), method)
        except (ImportError, AttributeError):
            return None
        return api.signature_of(func, skip_self=True)

    def make_env(self, env_name: str, env_cfg: Any) -> Any:
        import gymnasium as gym

        return gym.make(env_name, cfg=env_cfg).unwrapped

    def export_mode(self, name: str) -> Any:
        module, cls, _ = api.EXPORT_MODE
        return getattr(importlib.import_module(module), cls)[name]

    def seed_everything(self, seed: int) -> None:
        import numpy as np
        import torch

        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)
