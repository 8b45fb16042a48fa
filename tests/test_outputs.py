from __future__ import annotations

from pathlib import Path

import pytest

from mimicforge.errors import ConfigError
from mimicforge.outputs import MetricsLog, MetricsRecord, OutputPaths, image_path, read_metrics


def test_paths_beside_output():
    p = OutputPaths.beside("x/name.hdf5")
    assert p.failed == Path("x/name_failed.hdf5")
    assert p.config == Path("x/name.config.toml")
    assert p.metrics == Path("x/name.metrics.jsonl")
    with pytest.raises(ConfigError):
        OutputPaths.beside("x/name.txt")


def test_image_layout():
    assert image_path("output", "table_cam", "rgb", 3, 7) == Path("output/table_cam_rgb/demo_3/step_0007.png")


def test_metrics_survive_a_cut_last_line(tmp_path):
    path = tmp_path / "m.jsonl"
    with MetricsLog(path) as log:
        log.write(MetricsRecord(attempt=0, success=True, steps=10, seconds=0.5, source_demos=["demo_1"],
                                failed_subtask=None, demo="demo_0"))
    with open(path, "a") as fh:
        fh.write('{"attempt": 1, "succ')  # a crash mid-line
    with MetricsLog(path) as log:
        log.write(MetricsRecord(attempt=1, success=False, steps=12, seconds=0.6, source_demos=["demo_2"],
                                failed_subtask=0))
    recs = list(read_metrics(path))
    assert [r["attempt"] for r in recs] == [0, 1]
    assert recs[1]["failed_subtask"] == 0 and recs[0]["demo"] == "demo_0"
