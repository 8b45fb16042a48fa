"""``inspect`` summarises any file it can open: obs keys with dtype, shape and size; the failed subtask of the
demos in a ``_failed.hdf5``."""

from __future__ import annotations

import json

import numpy as np

from mimicforge.datasets import DatasetWriter, summarize
from mimicforge.datasets import layout
from tests.datasets.broken_files import training_mixed_obs
from tests.datasets.episodes import make_episode

ENV = "Isaac-Stack-Cube-Franka-IK-Rel-Mimic-v0"


def test_obs_keys_with_dtype_shape_and_size(real_dataset, tmp_path):
    s = summarize(training_mixed_obs(real_dataset, tmp_path / "m.hdf5"))
    obs = {k["key"]: k for k in s["obs"]}
    cam = obs["table_cam"]
    assert (cam["dtype"], cam["shape"], cam["demos"]) == ("uint8", [8, 8, 3], 2)
    assert cam["bytes"] == (236 + 233) * 8 * 8 * 3
    assert obs["joint_pos"]["varies"] is True and "varies" not in obs["eef_pos"]
    assert obs["eef_pos"]["shape"] == [3] and obs["eef_pos"]["demos"] == 10


def test_failed_demos_show_the_subtask_they_failed(cli, tmp_path):
    failed = tmp_path / "gen_failed.hdf5"
    with DatasetWriter(failed, env_name=ENV) as w:
        for i, sub in enumerate([1, 3]):
            record = {"attempt": i, "success": False, "failed_subtask": sub, "source_demos": ["demo_2", "demo_5"]}
            w.write_demo(make_episode(12, i), success=False, attrs={layout.ATTR_METRICS: json.dumps(record)})
    s = summarize(failed)
    assert [d["failed_subtask"] for d in s["demos"]] == [1, 3]
    assert s["demos"][0]["failed_subtask_name"] == "stack_1: Stack red cube on top of blue cube"
    assert s["demos"][1]["failed_subtask_name"].startswith("final: ")
    r = cli("inspect", str(failed))
    assert r.returncode == 0
    assert "failed in subtask" in r.stdout
    assert "demo_0" in r.stdout and "1 (stack_1: Stack red cube on top of blue cube)" in r.stdout


def test_inspect_text_lists_obs_keys(cli, real_dataset):
    r = cli("inspect", str(real_dataset))
    assert r.returncode == 0
    rows = [line.split() for line in r.stdout.splitlines()]
    assert ["eef_pos", "float32", "(3,)", "10"] == next(row[:4] for row in rows if row and row[0] == "eef_pos")
    assert not any(row and row[0] == "datagen_info" for row in rows)
    assert np.isclose(float(next(row for row in rows if row and row[0] == "object")[4]), 337.4)
