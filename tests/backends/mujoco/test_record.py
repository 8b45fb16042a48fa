"""Recording annotated source demos: Isaac's layout, validity, determinism, the command's contract."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from mimicforge.backends.mujoco.record import record_demos
from mimicforge.backends.mujoco.replay import replay_dataset
from mimicforge.datasets import load_source_dataset, validate


def _dataset_paths(path: Path) -> set[str]:
    paths: set[str] = set()
    with h5py.File(path, "r") as f:
        for demo in f["data"].values():
            demo.visititems(lambda n, o: paths.add(n) if isinstance(o, h5py.Dataset) else None)
    return paths


def _contents(path: Path) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda n, o: out.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
        out["env_args"] = np.array(f["data"].attrs["env_args"])
    return out


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("rec") / "source.hdf5"
    result = record_demos(path, 3, seed=4)
    assert result.successes == 3
    return path


def test_recorded_file_is_a_valid_source_in_the_real_layout(recorded, source_path) -> None:
    assert validate(recorded) == []
    assert _dataset_paths(recorded) == _dataset_paths(source_path)
    source = load_source_dataset(recorded, ["grasp_1", "stack_1", "grasp_2"])
    for demo in source.demos:
        ends = demo.subtask_boundaries(["grasp_1", "stack_1", "grasp_2"])
        assert ends[1] - ends[0] > 10 and ends[2] - ends[1] > 10 and ends[3] - ends[2] > 20
    with h5py.File(recorded, "r") as f:
        args = json.loads(f["data"].attrs["env_args"])
        assert args == {"env_name": "Isaac-Stack-Cube-Franka-IK-Rel-Mimic-v0", "type": 2,
                        "sim_args": {"dt": 0.01, "decimation": 5, "render_interval": 2, "num_envs": 1}}
        for demo in f["data"].values():
            assert bool(demo.attrs["success"]) and "processed_actions" not in demo
            np.testing.assert_array_equal(demo["obs/actions"][1:], demo["actions"][:-1])  # Isaac's timing


def test_recorded_demos_replay_exactly(recorded) -> None:
    report = replay_dataset(recorded)
    assert report.success_rate == 1.0
    assert report.median_pregrasp_eef_rmse_m < 1e-5


def test_same_seed_gives_identical_files_and_another_seed_does_not(recorded, tmp_path) -> None:
    again, other = tmp_path / "again.hdf5", tmp_path / "other.hdf5"
    record_demos(again, 3, seed=4)
    record_demos(other, 1, seed=5)
    a, b = _contents(recorded), _contents(again)
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert not np.array_equal(_contents(other)["data/demo_0/actions"], a["data/demo_0/actions"])


def test_record_command_json(mimicforge_cli, tmp_path) -> None:
    out = tmp_path / "two.hdf5"
    r = mimicforge_cli("record", "--num-demos", "2", "--out", str(out), "--seed", "3", "--json")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result == {"attempts": result["attempts"], "successes": 2, "output": str(out)}
    assert result["attempts"] >= 2
    v = mimicforge_cli("validate", str(out))
    assert v.returncode == 0, v.stdout


@pytest.mark.parametrize("args, needle", [
    (["--num-demos", "0"], "num-demos"),
    (["--num-demos", "two"], "invalid int"),
    (["--num-demos", "1", "--seed", "-3"], "seed"),
])
def test_record_bad_flags_fail_in_one_line_without_output(mimicforge_cli, tmp_path, args, needle) -> None:
    out = tmp_path / "x.hdf5"
    r = mimicforge_cli("record", *args, "--out", str(out))
    assert r.returncode == 2 and needle in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_record_refuses_bad_outputs(mimicforge_cli, tmp_path) -> None:
    # (a missing output folder is created, as generate does: tests/test_cli_edges.py)
    existing = tmp_path / "taken.hdf5"
    existing.write_bytes(b"keep me")
    r = mimicforge_cli("record", "--num-demos", "1", "--out", str(existing))
    assert r.returncode == 2 and "--overwrite" in r.stderr
    assert existing.read_bytes() == b"keep me"
    r = mimicforge_cli("record", "--num-demos", "1", "--out", str(tmp_path / "x.txt"))
    assert r.returncode == 2 and ".hdf5" in r.stderr


@pytest.mark.slow
def test_record_100_demos_succeeds_on_98_percent_of_attempts(tmp_path) -> None:
    out = tmp_path / "hundred.hdf5"
    result = record_demos(out, 100, seed=0)
    assert result.successes == 100
    assert result.successes / result.attempts >= 0.98
    assert validate(out) == []
