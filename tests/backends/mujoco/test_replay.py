"""Calibration against NVIDIA's 10 human demos: open-loop replay in the twin (issue acceptance figures)."""

from __future__ import annotations

import json

import h5py
import pytest

from mimicforge.backends.mujoco.replay import replay_dataset


@pytest.fixture(scope="module")
def report(source_path):
    return replay_dataset(source_path)


def test_pre_grasp_motion_tracks_isaac_within_millimetres(report) -> None:
    rmse = [d.pregrasp_eef_rmse_m for d in report.demos]
    assert len(rmse) == 10
    assert report.median_pregrasp_eef_rmse_m <= 0.002
    assert max(rmse) <= 0.003
    assert all(d.pregrasp_steps >= 20 for d in report.demos)


def test_every_human_demo_replayed_open_loop_ends_stacked(report) -> None:
    assert report.success_rate == 1.0


def test_grasp_signals_fire_on_isaacs_steps(report) -> None:
    for d in report.demos:
        for signal in ("grasp_1", "grasp_2"):
            twin_step, recorded = d.first_signals[signal]
            assert twin_step == recorded, (d.name, signal)
        twin_step, recorded = d.first_signals["stack_1"]
        assert twin_step is not None and abs(twin_step - recorded) <= 1, d.name


def test_replay_json_command(mimicforge_cli, source_path) -> None:
    r = mimicforge_cli("replay", str(source_path), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out) == {"demos", "median_pregrasp_eef_rmse_m", "success_rate"}
    assert [d["name"] for d in out["demos"]] == [f"demo_{i}" for i in range(10)]
    assert all(set(d) == {"name", "pregrasp_eef_rmse_m", "success"} for d in out["demos"])
    assert out["median_pregrasp_eef_rmse_m"] <= 0.002 and out["success_rate"] == 1.0


def _one_line_error(r) -> None:
    assert r.returncode == 2
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mimicforge: error:"), r.stderr
    assert "Traceback" not in r.stderr


def test_replay_bad_inputs_fail_in_one_line(mimicforge_cli, tmp_path, source_path) -> None:
    _one_line_error(mimicforge_cli("replay", str(tmp_path / "missing.hdf5")))
    plain = tmp_path / "unannotated.hdf5"
    with h5py.File(source_path, "r") as src, h5py.File(plain, "w") as dst:
        src.copy("data", dst)
        for name in dst["data"]:
            del dst[f"data/{name}/obs/datagen_info"]
    r = mimicforge_cli("replay", str(plain))  # generated files have no annotations: signals from observations
    assert r.returncode == 0, r.stderr
    assert "stacked 10/10" in r.stdout and "grasp_1 37/37" in r.stdout
    with h5py.File(plain, "r+") as f:
        del f["data/demo_4/obs/cube_positions"]
    r = mimicforge_cli("replay", str(plain))
    _one_line_error(r)
    assert "demo_4 lacks obs/datagen_info/subtask_term_signals (or obs/cube_positions" in r.stderr
    r = mimicforge_cli("replay", str(source_path), env={"MUJOCO_GL": "vulkan9"})
    _one_line_error(r)
    assert "MUJOCO_GL" in r.stderr
    _one_line_error(mimicforge_cli("replay", str(source_path), "--bogus-flag"))
