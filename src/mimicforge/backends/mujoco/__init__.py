"""The embedded default engine: a MuJoCo twin of Isaac Lab's ``Isaac-Stack-Cube-Franka-IK-Rel`` task.

Importing this package is cheap: MuJoCo is imported by the modules that need it, when an environment
is made. A missing ``mujoco`` or ``dm-robotics-panda`` raises ``BackendUnavailable`` with the install
command (see ``deps``).

Modules: ``params`` (every number, calibration choices documented), ``scene`` (MjSpec composition),
``ik`` (Isaac's differential IK), ``env`` (the ``MimicEnv``), ``signals`` (subtask checks),
``render`` (cameras), ``expert`` (scripted demonstrator), ``record`` / ``replay`` (datasets).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mimicforge.backends.mujoco.env import FrankaStackTwin
    from mimicforge.backends.mujoco.params import TwinParams

ENV_NAME = "Isaac-Stack-Cube-Franka-IK-Rel-Mimic-v0"


def make_env(params: TwinParams | None = None, *, seed: int | None = None) -> FrankaStackTwin:
    """A new twin environment, reset with ``seed``."""
    from mimicforge.backends.mujoco.env import FrankaStackTwin

    return FrankaStackTwin(params, seed=seed)


def __getattr__(name: str) -> Any:
    if name == "FrankaStackTwin":
        from mimicforge.backends.mujoco.env import FrankaStackTwin

        return FrankaStackTwin
    if name == "TwinParams":
        from mimicforge.backends.mujoco.params import TwinParams

        return TwinParams
    raise AttributeError(name)
