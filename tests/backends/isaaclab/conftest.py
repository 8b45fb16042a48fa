"""Fixtures for the Isaac Lab driver tests: a settings builder and a run helper over the FAKE Isaac boundary, and
the real ``isaaclab`` wheel that the Kit-free harness runs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from mimicforge.backends.isaaclab import driver
from mimicforge.config import RunConfig, load_config
from tests.backends.isaaclab import harness
from tests.backends.isaaclab.fake_isaac import FakeIsaac


@pytest.fixture
def make_cfg(tmp_path: Path, real_dataset: Path):
    def build(**flags: Any) -> RunConfig:
        base = {"input_file": str(real_dataset), "output_file": str(tmp_path / "datasets" / "gen.hdf5"),
                "output_dir": str(tmp_path / "output"), "num_trials": 2, "engine": "isaaclab"}
        base.update(flags)
        return load_config(env={}, flags=base)

    return build


def run(cfg: RunConfig, isaac: FakeIsaac, **kwargs: Any) -> driver.Summary:
    sim = driver.launch(cfg, isaac=isaac, device="cpu", source_of=isaac.source_of)
    return driver.generate(cfg, sim, device="cpu", **kwargs)


@pytest.fixture(scope="module")
def wheel() -> Path:
    """The harness's ``isaaclab`` wheel (downloaded once); skipped where PyPI is unreachable, except in CI."""
    try:
        return harness.wheel_path()
    except RuntimeError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"the isaaclab {harness.DEFAULT_VERSION} wheel is not reachable: {exc}")
