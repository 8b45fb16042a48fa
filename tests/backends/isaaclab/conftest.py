"""Fixtures for the Isaac Lab driver tests: a settings builder and a run helper over the FAKE Isaac boundary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mimicforge.backends.isaaclab import driver
from mimicforge.config import RunConfig, load_config
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
