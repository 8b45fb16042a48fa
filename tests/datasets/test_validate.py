"""``validate`` checks what the next consumer of a file needs, and reports one line per kind of problem.

Each broken file here passed the former checks ("valid") or drowned in one line per demo; built from NVIDIA's
annotated demos by ``broken_files``."""

from __future__ import annotations

import json

import h5py
import pytest

from mimicforge.datasets import validate
from mimicforge.datasets.validate import ANNOTATED, TRAINING, check
from tests.datasets.broken_files import (
    annotated_plus_training,
    annotated_without_pose,
    training_copy,
    training_mixed_obs,
    training_with_holes,
)


def test_the_real_sources_and_their_training_copy_are_valid(real_dataset, tmp_path):
    assert check(real_dataset).kind == ANNOTATED and validate(real_dataset) == []
    train = training_copy(real_dataset, tmp_path / "train.hdf5")
    assert check(train).kind == TRAINING and validate(train) == []


def test_annotated_source_lacking_an_object_pose_that_generate_reads(real_dataset, tmp_path):
    lines = validate(annotated_without_pose(real_dataset, tmp_path / "a.hdf5"))
    assert lines == ["obs/datagen_info/object_pose lacks cube_2 (generate needs it for "
                     "Isaac-Stack-Cube-Franka-IK-Rel-Mimic-v0); in demo_3"]


def test_training_data_with_deleted_keys_and_nan(real_dataset, tmp_path):
    lines = validate(training_with_holes(real_dataset, tmp_path / "t.hdf5"))
    assert len(lines) == 4, lines
    text = "\n".join(lines)
    assert "actions contains NaN or infinite values; in demo_2" in text
    assert "obs/joint_pos contains NaN or infinite values; in demo_5" in text
    assert "obs/eef_pos is missing from some demos (9 of 10 have it;" in text and text.count("in demo_7") == 1
    # the whole group is named once, not each of its datasets
    assert "states/rigid_object/cube_2 is missing from some demos" in text and "cube_2/root_pose" not in text


def test_training_data_whose_demos_differ_in_obs(real_dataset, tmp_path):
    lines = validate(training_mixed_obs(real_dataset, tmp_path / "m.hdf5"))
    assert len(lines) == 2, lines
    assert lines[0].startswith("obs/table_cam is only in some demos (2 of 10;")
    assert lines[0].endswith("in 2 demos: demo_0, demo_1")
    assert lines[1].startswith("obs/joint_pos is float64 (T, 9) where the other demos have float32 (T, 9)")
    assert lines[1].endswith("in demo_6")


def test_annotated_and_unannotated_demos_give_one_line_not_one_per_demo(real_dataset, tmp_path):
    lines = validate(annotated_plus_training(real_dataset, tmp_path / "mix.hdf5"))
    assert len(lines) == 1, lines
    assert lines[0].startswith("demos without obs/datagen_info in an annotated file")
    assert lines[0].endswith("in 10 demos: demo_10, demo_11, demo_12, demo_13, demo_14, demo_15, ... and 4 more")


def test_source_signals_boundaries_and_actions(real_dataset, tmp_path):
    """What generate reads besides poses: every subtask signal of the task rising, boundaries its offsets cannot
    cross, actions of the task's width."""
    bad = tmp_path / "s.hdf5"
    import shutil

    shutil.copy(real_dataset, bad)
    with h5py.File(bad, "r+") as f:
        del f["data/demo_1/obs/datagen_info/subtask_term_signals/grasp_2"]
        sig = f["data/demo_4/obs/datagen_info/subtask_term_signals/stack_1"]
        sig[...] = False
        stack = f["data/demo_5/obs/datagen_info/subtask_term_signals/stack_1"]
        grasp = f["data/demo_5/obs/datagen_info/subtask_term_signals/grasp_1"][()]
        stack[...] = grasp  # stack_1 rises with grasp_1: subtask 1 would be empty
    text = "\n".join(validate(bad))
    assert "obs/datagen_info/subtask_term_signals lacks grasp_2 (generate needs it for" in text
    assert "subtask signal 'stack_1' never turns True" in text and "in demo_4" in text
    assert "subtask boundaries too close for the task's offsets" in text and "demo_5 (subtask 1 (stack_1)" in text


def test_cli_validate_json_for_ci(cli, real_dataset, tmp_path):
    bad = training_with_holes(real_dataset, tmp_path / "t.hdf5")
    r = cli("validate", "--json", str(bad))
    assert r.returncode == 1
    j = json.loads(r.stdout)
    assert j["valid"] is False and j["kind"] == TRAINING and j["num_demos"] == 10
    by_kind = {p["problem"]: p["demos"] for p in j["by_kind"]}
    assert by_kind["actions contains NaN or infinite values"] == ["demo_2"]
    assert len(j["problems"]) == 4
    ok = cli("validate", "--json", str(real_dataset))
    assert ok.returncode == 0 and json.loads(ok.stdout)["valid"] is True


@pytest.mark.parametrize("make", [annotated_without_pose, training_with_holes, training_mixed_obs,
                                  annotated_plus_training])
def test_cli_prints_one_line_per_kind(cli, real_dataset, tmp_path, make):
    bad = make(real_dataset, tmp_path / "bad.hdf5")
    r = cli("validate", str(bad))
    assert r.returncode == 1 and r.stderr == ""
    lines = r.stdout.splitlines()
    assert "INVALID" in lines[0]
    assert len(lines) - 1 == len(validate(bad))
