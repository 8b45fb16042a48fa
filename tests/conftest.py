"""Shared fixtures. The real dataset is read from ../shared/data beside the checkout (never copied in)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REAL_DATASET = REPO.parent / "shared" / "data" / "franka_stack_annotated_10.hdf5"


@pytest.fixture(scope="session")
def real_dataset() -> Path:
    if not REAL_DATASET.is_file():
        pytest.fail(f"{REAL_DATASET} is missing: the tests need ../shared/data beside the checkout")
    return REAL_DATASET


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str


def run_cli(*args: str, env: dict[str, str | None] | None = None, cwd: Path | None = None,
            timeout: float = 600) -> CliResult:
    """Run ``python -m mimicforge ARGS`` in a fresh process, as a user would; ``env`` values of None
    remove a variable."""
    full_env = {k: v for k, v in os.environ.items() if k != "MIMICFORGE_DEBUG"}
    for key, value in (env or {}).items():
        if value is None:
            full_env.pop(key, None)
        else:
            full_env[key] = value
    proc = subprocess.run(
        [sys.executable, "-m", "mimicforge", *args],
        capture_output=True, text=True, env=full_env, cwd=cwd, timeout=timeout,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def cli():
    return run_cli
