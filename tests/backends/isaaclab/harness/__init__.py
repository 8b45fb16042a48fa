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

Two generations: 2.3.2.post1 (Python 3.11, the default) and 3.0.0 (Python 3.12 only: its tests and the
parity bench run it with ``.venv-isaaclab3/bin/python``, built by ``scripts/setup-isaaclab3.sh``). Each has
its ``Profile``: the stand-ins its imports force and which package ``__init__``s run.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from collections.abc import Callable
from types import ModuleType

from tests.backends.isaaclab.harness import standins
from tests.backends.isaaclab.harness.loader import KitFinder, LoadLog, Wheel, WheelFinder
from tests.backends.isaaclab.harness.standins import Standin

DEFAULT_VERSION = "2.3.2.post1"
ENV_VAR = "MIMICFORGE_ISAAC_HARNESS"
REPO = Path(__file__).resolve().parents[4]
# The Python 3.12 environment that runs the 3.0 harness (scripts/setup-isaaclab3.sh).
VENV_3 = REPO / ".venv-isaaclab3"


@dataclass(frozen=True)
class Profile:
    """What one Isaac Lab generation needs from the harness."""

    python: str  # the only Python PyPI serves its wheel for
    standins: tuple[Standin, ...]
    builders: dict[str, Callable[[ModuleType], None]]
    kit_upstream: tuple[str, ...]
    # Package __init__s that run although they hold more than imports (2.x: isaaclab_mimic's version string,
    # isaaclab_mimic.envs's gym registrations the driver relies on).
    run_inits: tuple[str, ...]
    # Package __init__s registered without running although they hold code: they read files beside the
    # installed package (2.x's extension.toml) or import every task of Isaac Lab (isaaclab_tasks).
    force_lazy: tuple[str, ...]
    # Packages otherwise answered as inert Kit modules that this generation gets for real (3.0: warp, whose
    # arrays its recorder and asset data use; CPU warp from PyPI, the version the wheel pins).
    real: tuple[str, ...] = ()


PROFILES = {
    "2.3.2.post1": Profile("3.11", standins.STANDINS, standins.BUILDERS, standins.KIT_UPSTREAM,
                           ("isaaclab_mimic", "isaaclab_mimic.envs"),
                           ("isaaclab", "isaaclab_tasks", "isaaclab_assets")),
    # 3.0's package __init__s are lazy themselves (lazy_export() over a .pyi stub) and run as shipped;
    # isaaclab_tasks would still import every task (import_packages).
    "3.0.0": Profile("3.12", standins.STANDINS_3, standins.BUILDERS_3, standins.KIT_UPSTREAM_3,
                     ("isaaclab_mimic", "isaaclab_mimic.envs"), ("isaaclab_tasks",), real=("warp",)),
}


def profile(version: str) -> Profile:
    if version not in PROFILES:
        raise RuntimeError(f"the harness knows isaaclab {', '.join(PROFILES)}, not {version}")
    return PROFILES[version]


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
            "verified_files": sorted(self.log.verified),
            "standins": [{"module": s.module, "forced_by": s.forced_by, "why": s.why,
                          "imported_by": self.log.standins.get(s.module)} for s in profile(self.version).standins],
            "kit_modules": dict(sorted(self.log.kit.items())),
            "lazy_packages": sorted(set(self.log.lazy_packages)),
        }


_installed: Harness | None = None


def wheel_path(version: str = DEFAULT_VERSION) -> Path:
    from tests.backends.isaaclab.wheel_sources import wheel

    return wheel(version, profile(version).python)


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
    prof = profile(version)
    wheel = Wheel(wheel_path(version))
    log = LoadLog()
    kit = KitFinder(log, prof.kit_upstream, prof.real)
    upstream = WheelFinder(wheel, prof.builders, prof.run_inits, prof.force_lazy, log)
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
    parts = [str(site_dir()), str(REPO / "src"), str(REPO)]
    if env.get("PYTHONPATH"):
        parts.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(parts)
    env[ENV_VAR] = version
    return env


def python_for(version: str = DEFAULT_VERSION) -> str | None:
    """The interpreter that runs the harness of ``version`` (None: its environment is not built here)."""
    import sys

    if profile(version).python == f"{sys.version_info[0]}.{sys.version_info[1]}":
        return sys.executable
    python = VENV_3 / "bin" / "python"
    return str(python) if version == "3.0.0" and python.is_file() else None


def tampered_copy(wheel: Path, member: str, old: bytes, new: bytes, dest: Path) -> Path:
    """A copy of ``wheel`` in ``dest`` with ``old`` replaced by ``new`` in ``member`` (RECORD left as it was)."""
    import zipfile

    tampered = dest / wheel.name
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(tampered, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            dst.writestr(item, data.replace(old, new) if item.filename == member else data)
    return tampered
