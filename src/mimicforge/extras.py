"""Optional dependencies: import one, or raise ``BackendUnavailable`` with the one-line install command."""

from __future__ import annotations

import importlib
from types import ModuleType

from mimicforge.errors import BackendUnavailable


def require(module: str, hint: str) -> ModuleType:
    """``module`` imported, or ``BackendUnavailable(hint)`` (the hint names the ``pip install`` command)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise BackendUnavailable(hint) from None
