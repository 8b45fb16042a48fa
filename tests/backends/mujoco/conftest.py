"""Fixtures for the MuJoCo twin's tests: the real NVIDIA dataset (read from ../shared/data, never copied
into the repository), a shared twin, and a way to run the ``mimicforge`` command as a user does."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mimicforge.backends.mujoco import deps  # noqa: E402
from mimicforge.errors import BackendUnavailable  # noqa: E402

try:  # import MuJoCo the backend's way first: with MUJOCO_GL unset it picks a headless platform
    deps.import_mujoco()
except BackendUnavailable as exc:
    pytest.skip(str(exc), allow_module_level=True)

REPO = Path(__file__).resolve().parents[3]
SOURCE = REPO.parent / "shared" / "data" / "franka_stack_annotated_10.hdf5"


@pytest.fixture(scope="session")
def source_path() -> Path:
    if not SOURCE.is_file():
        pytest.fail(f"{SOURCE} is missing: the tests need ../shared/data beside the checkout")
    return SOURCE


@pytest.fixture(scope="module")
def twin() -> Iterator[object]:
    from mimicforge.backends.mujoco.env import FrankaStackTwin

    with FrankaStackTwin(seed=0) as env:
        yield env


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str


def run_cli(*args: str, env: dict[str, str | None] | None = None, timeout: float = 600) -> CliResult:
    """``python -m mimicforge ARGS`` in a fresh process; ``env`` values of None remove a variable."""
    full = {k: v for k, v in os.environ.items() if k != "MIMICFORGE_DEBUG"}
    for key, value in (env or {}).items():
        if value is None:
            full.pop(key, None)
        else:
            full[key] = value
    proc = subprocess.run([sys.executable, "-m", "mimicforge", *args], capture_output=True, text=True, env=full,
                          timeout=timeout, cwd=REPO)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def mimicforge_cli():
    return run_cli
