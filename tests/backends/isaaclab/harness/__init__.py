"""A Kit-free Isaac Lab Mimic: NVIDIA's ``isaaclab_mimic`` generator from the real ``isaaclab`` wheel, on the twin.

Test and benchmark support, not part of mimicforge. ``install()`` puts two meta-path finders in front of
``sys.meta_path`` (see ``loader``): from then on ``import isaaclab_mimic.datagen.generation`` (and everything
it imports) runs the wheel's own sources, each checked against the wheel's RECORD hash, with the stand-ins of
``standins.STANDINS`` at the Isaac Sim boundary (the live env is the MuJoCo twin, ``twin_env``) and inert
modules for Kit / USD. mimicforge's driver (``RealIsaac``) then runs unchanged: ``isaaclab.app.AppLauncher``,
``isaaclab_mimic.envs`` (gym registration), ``gym.make`` and ``isaaclab_mimic.datagen.generation`` all
resolve through the harness.

A subprocess gets the harness from ``site_dir()`` on PYTHONPATH (its ``sitecustomize`` calls ``install``
when ``MIMICFORGE_ISAAC_HARNESS`` names the wheel version).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.backends.isaaclab.harness.loader import KitFinder, LoadLog, Wheel, WheelFinder
from tests.backends.isaaclab.harness.standins import BUILDERS, KIT_UPSTREAM, STANDINS

DEFAULT_VERSION = "2.3.2.post1"
ENV_VAR = "MIMICFORGE_ISAAC_HARNESS"
# Package __init__s that run although they hold more than imports: isaaclab_mimic's (a version string) and
# isaaclab_mimic.envs (the gym registrations the driver relies on).
RUN_INITS = ("isaaclab_mimic", "isaaclab_mimic.envs")
# Package __init__s registered without running although they hold code: they read files beside the
# installed package (extension.toml) or import every task of Isaac Lab.
FORCE_LAZY = ("isaaclab", "isaaclab_tasks", "isaaclab_assets")


@dataclass
class Harness:
    version: str
    wheel: Wheel
    log: LoadLog
    finders: tuple[KitFinder, WheelFinder]

    def report(self) -> dict[str, object]:
        """What ran: verified upstream files, stand-ins with their importers, Kit modules, lazy packages."""
        return {
            "wheel": self.wheel.path.name,
            "upstream_files_verified": len(self.log.verified),
            "record_check": "every loaded upstream file matches the wheel's RECORD sha256",
            "standins": [{"module": s.module, "forced_by": s.forced_by, "why": s.why,
                          "imported_by": self.log.standins.get(s.module)} for s in STANDINS],
            "kit_modules": dict(sorted(self.log.kit.items())),
            "lazy_packages": sorted(set(self.log.lazy_packages)),
        }


_installed: Harness | None = None


def wheel_path(version: str = DEFAULT_VERSION) -> Path:
    from tests.backends.isaaclab.wheel_sources import wheel

    return wheel(version, "3.11")  # the 2.3 wheels are built for Isaac Sim 5's Python


def install(version: str = DEFAULT_VERSION) -> Harness:
    """Serve Isaac Lab from the wheel of ``version`` in this process (idempotent)."""
    global _installed
    if _installed is not None:
        if _installed.version != version:
            raise RuntimeError(f"the harness already serves isaaclab {_installed.version}; one version per process")
        return _installed
    loaded = [m for m in sys.modules if m.split(".")[0] in ("isaaclab", "isaaclab_mimic", "isaaclab_tasks")]
    if loaded:
        raise RuntimeError(f"isaaclab modules already imported ({', '.join(sorted(loaded)[:3])}...)")
    wheel = Wheel(wheel_path(version))
    log = LoadLog()
    kit = KitFinder(log, KIT_UPSTREAM)
    upstream = WheelFinder(wheel, BUILDERS, RUN_INITS, FORCE_LAZY, log)
    sys.meta_path[:0] = [kit, upstream]
    _installed = Harness(version, wheel, log, (kit, upstream))
    return _installed


def installed() -> Harness | None:
    return _installed


def site_dir() -> Path:
    """A folder whose ``sitecustomize`` installs the harness in a child process (with ``ENV_VAR`` set)."""
    return Path(__file__).resolve().parent / "site"


def child_env(version: str = DEFAULT_VERSION, base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for a subprocess that runs on the harness: sitecustomize first, then the checkout."""
    env = dict(os.environ if base is None else base)
    repo = Path(__file__).resolve().parents[4]
    parts = [str(site_dir()), str(repo / "src"), str(repo)]
    if env.get("PYTHONPATH"):
        parts.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(parts)
    env[ENV_VAR] = version
    return env
