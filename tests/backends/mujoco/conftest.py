"""Fixtures for the MuJoCo twin's tests: the real NVIDIA dataset (the root conftest's), a shared twin, and
the ``mimicforge`` command run from the repository root."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

import pytest

from mimicforge.backends.mujoco import deps  # noqa: E402
from mimicforge.errors import BackendUnavailable  # noqa: E402
from tests.conftest import REPO, run_cli

try:  # import MuJoCo the backend's way first: with MUJOCO_GL unset it picks a headless platform
    deps.import_mujoco()
except BackendUnavailable as exc:
    pytest.skip(str(exc), allow_module_level=True)


@pytest.fixture(scope="session")
def source_path(real_dataset: Path) -> Path:
    return real_dataset


@pytest.fixture(scope="module")
def twin() -> Iterator[object]:
    from mimicforge.backends.mujoco.env import FrankaStackTwin

    with FrankaStackTwin(seed=0) as env:
        yield env


@pytest.fixture
def mimicforge_cli():
    return functools.partial(run_cli, cwd=REPO)
