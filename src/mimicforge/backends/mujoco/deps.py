"""The twin's optional dependencies: MuJoCo, the Panda model package, and an offscreen OpenGL.

All checks live here so that a missing piece fails once, in one line, with the command that fixes it.

``MUJOCO_GL`` is read by ``import mujoco`` itself, which raises a bare RuntimeError on a bad value, so
it is checked before MuJoCo is imported. When it is unset on a machine without a display, a working
headless platform is chosen (EGL, else OSMesa) so that rendering works without any setup, also when
the program imported MuJoCo first (``adopt_headless_gl``); an explicit value is always respected.
"""

from __future__ import annotations

import ctypes.util
import importlib.metadata
import logging
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from mimicforge.errors import BackendUnavailable, ConfigError

PIP_SIM = "pip install 'mimicforge[sim]'"
PIP_PANDA = "pip install --no-deps dm-robotics-panda==0.4.8"
APT_EGL = "apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri libopengl0"
APT_OSMESA = "apt-get install libosmesa6"

# Values MuJoCo's Python bindings accept on Linux (``mujoco.gl_context``).
_GL_VALUES = ("egl", "osmesa", "glfw", "glx", "disable", "disabled", "off", "false", "0",
              "enable", "enabled", "on", "true", "1")
log = logging.getLogger(__name__)
_HEADLESS_LIBS = (("egl", "EGL"), ("osmesa", "OSMesa"))


def check_mujoco_gl() -> str | None:
    """Validate ``MUJOCO_GL`` (or pick a headless default when unset); returns the value in force."""
    raw = os.environ.get("MUJOCO_GL")
    if raw is not None:
        value = raw.strip().lower()
        if value and value not in _GL_VALUES:
            raise ConfigError(
                f"MUJOCO_GL={raw!r} is not a rendering platform MuJoCo knows; set MUJOCO_GL=egl or "
                "MUJOCO_GL=osmesa for headless rendering (glfw needs a display), or unset it"
            )
        return value or None
    if "mujoco" in sys.modules or not _headless():
        return None  # an imported MuJoCo has fixed its platform already: see adopt_headless_gl
    for value, lib in _HEADLESS_LIBS:
        if ctypes.util.find_library(lib):
            os.environ["MUJOCO_GL"] = value
            return value
    return None


def _headless() -> bool:
    return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def adopt_headless_gl(mujoco: ModuleType) -> None:
    """Give an already imported MuJoCo a headless OpenGL platform if it ended up with none.

    ``import mujoco`` fixes its platform from ``MUJOCO_GL`` once. A program that imported MuJoCo
    before the twin (with ``MUJOCO_GL`` unset, on a machine without a display) got GLFW, which cannot
    work there; the renderer looks the context class up when it is made, so pointing it at EGL (or
    OSMesa) is enough. An explicit ``MUJOCO_GL`` is never overridden.
    """
    if os.environ.get("MUJOCO_GL") or not _headless():
        return
    from importlib import import_module

    for value, lib in _HEADLESS_LIBS:
        if not ctypes.util.find_library(lib):
            continue
        try:
            context = import_module(f"mujoco.{value}").GLContext
            import_module("mujoco.rendering.classic.gl_context").GLContext = context
        except (ImportError, AttributeError):
            continue
        os.environ["MUJOCO_GL"] = value
        return


def import_mujoco() -> ModuleType:
    """``import mujoco`` with a one-line error naming the install command."""
    check_mujoco_gl()
    # PyOpenGL (imported by mujoco's renderer) logs at INFO that an optional speed-up is missing.
    logging.getLogger("OpenGL.acceleratesupport").setLevel(logging.WARNING)
    try:
        import mujoco
    except ImportError as exc:
        raise BackendUnavailable(
            f"the MuJoCo twin needs the 'mujoco' package ({exc}); install it with: {PIP_SIM}"
        ) from None
    return mujoco


def panda_asset_dir() -> Path:
    """Folder of the Panda arm and hand models shipped in the ``dm-robotics-panda`` wheel.

    Located through the package metadata, without importing ``dm_robotics.panda`` (whose modules pull
    in a large, stale dependency tree that the twin does not need).
    """
    try:
        dist = importlib.metadata.distribution("dm-robotics-panda")
    except importlib.metadata.PackageNotFoundError:
        raise BackendUnavailable(
            f"the MuJoCo twin builds its Panda from the 'dm-robotics-panda' package; install it with: {PIP_PANDA}"
        ) from None
    folder = Path(str(dist.locate_file("dm_robotics/panda/assets/panda")))
    for name in ("panda.xml", "panda_hand.xml"):
        if not (folder / name).is_file():
            raise BackendUnavailable(
                f"{folder / name} is missing from the installed dm-robotics-panda; reinstall it with: "
                f"{PIP_PANDA} --force-reinstall"
            )
    return folder


def renderer_error(exc: BaseException) -> BackendUnavailable:
    """A one-line explanation of why an offscreen OpenGL context could not be made."""
    gl = os.environ.get("MUJOCO_GL", "") or "unset (glfw)"
    if gl == "osmesa":
        hint = f"install OSMesa ({APT_OSMESA}) or use MUJOCO_GL=egl"
    elif gl == "egl":
        hint = f"install Mesa's EGL ({APT_EGL}) or use MUJOCO_GL=osmesa"
    else:
        hint = f"set MUJOCO_GL=egl ({APT_EGL}) or MUJOCO_GL=osmesa ({APT_OSMESA}) on a machine without a display"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return BackendUnavailable(f"cannot render offscreen with MUJOCO_GL={gl} ({first}); {hint}")


def physics_kernel() -> ModuleType | None:
    """The compiled physics loop (the ``kernel`` module), or None without Numba or MuJoCo's shared library
    (the twin then steps in Python, with the same numbers)."""
    global _KERNEL
    if _KERNEL is _UNSET:
        try:
            from mimicforge.backends.mujoco import kernel
        except (ImportError, OSError) as exc:
            log.debug("compiled physics loop unavailable (%s); stepping in Python", exc)
            _KERNEL = None
        else:
            _KERNEL = kernel
    return _KERNEL


_UNSET = object()
_KERNEL: Any = _UNSET
