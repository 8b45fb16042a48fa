from __future__ import annotations

import json
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


def test_each_committed_demo_carries_its_metrics_record(tmp_path):
    # A process killed between a demo's commit and its metrics line must not lose the record: the demo
    # carries a copy, which the shard merge reads back (recorded_metrics) for any attempt without a line.
    from mimicforge.outputs import RunOutputs, recorded_metrics
    from tests.datasets.episodes import make_episode

    paths = OutputPaths.beside(tmp_path / "gen.hdf5")
    outputs = RunOutputs(paths, env_name="Isaac-Stack-Cube-Franka-IK-Rel-Mimic-v0", mode="overwrite",
                         keep_failed=True, config_text="")
    try:
        for attempt, success in enumerate((True, False, True)):
            rec = MetricsRecord(attempt=attempt, success=success, steps=20 + attempt, seconds=0.0,
                                source_demos=["demo_1"], failed_subtask=None if success else 2, worker=1)
            outputs.commit_attempt(make_episode(20 + attempt, seed=attempt), rec)
    finally:
        outputs.close()
    lines = {r["attempt"]: r for r in read_metrics(paths.metrics)}
    kept = recorded_metrics(paths.dataset, {(1, 0): "demo_0", (1, 2): "demo_1"})
    failed = recorded_metrics(paths.failed, {(1, 1): "demo_0"})
    assert set(kept) == {(1, 0), (1, 2)} and set(failed) == {(1, 1)}
    for (_, attempt), rec in {**kept, **failed}.items():
        line = lines[attempt]
        assert {k: v for k, v in rec.items() if k != "demo"} == {k: v for k, v in line.items() if k != "demo"}
    assert recorded_metrics(paths.dataset, {(1, 5): "demo_7"}) == {}


def test_a_resume_writes_the_metrics_line_a_kill_lost(tmp_path):
    # The state a SIGKILL between a demo's commit and its metrics line leaves (demo on disk, no line): the
    # next run on these outputs (single process or a restarted worker's shard) writes the line from the demo.
    from mimicforge.outputs import RunOutputs
    from tests.datasets.episodes import make_episode

    paths = OutputPaths.beside(tmp_path / "gen.hdf5")

    def open_outputs(mode: str) -> RunOutputs:
        return RunOutputs(paths, env_name="Isaac-Stack-Cube-Franka-IK-Rel-Mimic-v0", mode=mode, keep_failed=True,
                          config_text="")

    outputs = open_outputs("overwrite")
    try:
        for attempt, success in enumerate((True, False, True)):
            rec = MetricsRecord(attempt=attempt, success=success, steps=20 + attempt, seconds=0.0,
                                source_demos=["demo_1"], failed_subtask=None if success else 2)
            outputs.commit_attempt(make_episode(20 + attempt, seed=attempt), rec)
    finally:
        outputs.close()
    complete = paths.metrics.read_text().splitlines()
    assert len(complete) == 3
    paths.metrics.write_text(complete[0] + "\n" + complete[2][: len(complete[2]) // 2])  # 1 lost, 2 cut mid-line
    open_outputs("append").close()
    after = {r["attempt"]: r for r in read_metrics(paths.metrics)}
    before = {r["attempt"]: r for r in map(json.loads, complete)}
    assert after == before  # every attempt once, each as first written, demo names included
    open_outputs("append").close()
    assert len(list(read_metrics(paths.metrics))) == 3  # nothing written twice
