"""The export's plan (names, quaternion order, fps, demo selection) and its bad-input lines: no LeRobot needed.

Real generated HDF5 files (the twin) and NVIDIA's annotated Isaac Lab file; the CLI in real subprocesses."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest

from mimicforge.errors import ConfigError, DatasetFormatError
from mimicforge.export.mapping import element_names, parse_demos, plan_export, read_episode
from tests.conftest import REPO, run_cli
from tests.datasets.format_copies import make_format3_copy


def wxyz_to_xyzw(q: np.ndarray) -> np.ndarray:
    return np.concatenate([q[..., 1:4], q[..., :1]], axis=-1)


def test_state_names_say_the_quaternion_order(state_dataset) -> None:
    plan = plan_export(state_dataset)
    state = plan.features["observation.state"]
    assert state.shape == (9,)
    assert state.names == ["eef_pos.x", "eef_pos.y", "eef_pos.z", "eef_quat.qx", "eef_quat.qy", "eef_quat.qz",
                           "eef_quat.qw", "gripper_pos.panda_finger_joint1", "gripper_pos.panda_finger_joint2"]
    assert plan.features["action"].names == ["dx", "dy", "dz", "drx", "dry", "drz", "gripper"]
    env = plan.features["observation.environment_state"]
    assert env.shape == (21,) and env.names[:7] == ["cube_1.x", "cube_1.y", "cube_1.z", "cube_1.qx", "cube_1.qy",
                                                    "cube_1.qz", "cube_1.qw"]
    assert (plan.fps, plan.images, plan.cameras, len(plan.demos)) == (20, "none", (), 20)
    assert "sim_args" in plan.fps_from
    assert plan.task.startswith("Stack the red cube on the blue cube")
    assert element_names("object", 39, ("cube_1", "cube_2", "cube_3"))[-1] == "cube_1_to_3.z"


def test_both_format_versions_export_the_same_xyzw_frames(state_dataset, tmp_path) -> None:
    v3 = make_format3_copy(state_dataset, tmp_path / "v3.hdf5")
    legacy, new = plan_export(state_dataset), plan_export(v3)
    assert (legacy.format_version, new.format_version) == (0, 1)
    with h5py.File(state_dataset, "r") as a, h5py.File(v3, "r") as b:
        for demo in ("demo_0", "demo_7"):
            x, y = read_episode(a, legacy, demo), read_episode(b, new, demo)
            for key in x:
                assert np.array_equal(x[key], y[key]), key
            obs = a[f"data/{demo}/obs"]
            raw = np.concatenate([obs["eef_pos"][()], wxyz_to_xyzw(obs["eef_quat"][()]), obs["gripper_pos"][()]], 1)
            assert np.array_equal(x["observation.state"], raw.astype(np.float32))
            assert np.array_equal(x["action"], a[f"data/{demo}/actions"][()].astype(np.float32))
            cube_1 = obs["object"][:, :7]
            assert np.array_equal(x["observation.environment_state"][:, :3], cube_1[:, :3])
            assert np.array_equal(x["observation.environment_state"][:, 3:7], wxyz_to_xyzw(cube_1[:, 3:7]))


def test_fps_from_the_registry_when_the_file_does_not_record_it(real_dataset) -> None:
    plan = plan_export(real_dataset, demos="0-1")
    assert (plan.fps, plan.fps_from, plan.demos) == (20, "the task registry", ("demo_0", "demo_1"))
    assert plan_export(real_dataset, demos="demo_3", fps=15).fps == 15


def test_unsuccessful_demos_are_left_out_unless_asked(state_dataset, tmp_path) -> None:
    copy = shutil.copyfile(state_dataset, tmp_path / "c.hdf5")
    with h5py.File(copy, "r+") as f:
        f["data/demo_3"].attrs["success"] = False
    plan = plan_export(copy)
    assert "demo_3" not in plan.demos and plan.skipped == ("demo_3",) and len(plan.demos) == 19
    assert "demo_3" in plan_export(copy, include_failed=True).demos
    with pytest.raises(DatasetFormatError, match="--include-failed"):
        plan_export(copy, demos="3")


def test_demo_selection() -> None:
    names = [f"demo_{k}" for k in range(12)]
    assert parse_demos("0,3,10-11", names) == ["demo_0", "demo_3", "demo_10", "demo_11"]
    assert parse_demos("demo_2,2", names) == ["demo_2"]
    with pytest.raises(ConfigError, match="demo_12 is not in the dataset"):
        parse_demos("11-12", names)
    with pytest.raises(ConfigError, match="'x' is not a demo"):
        parse_demos("1,x", names)


@pytest.mark.parametrize("args, message", [
    (["missing.hdf5"], "missing.hdf5"),
    (["{state}", "--state-keys", "eef_pos,joint_torque"], "has no 'joint_torque'"),
    (["{state}", "--demos", "99"], "demo_99 is not in the dataset"),
    (["{state}", "--repo-id", "no slash"], "--repo-id 'no slash'"),
    (["{state}", "--images", "obs", "--cameras", "table_cam"], "has no rgb images 'table_cam'"),
    (["{state}", "--images", "folders", "--output-dir", "{tmp}/nothing"], "no rgb image folders"),
    (["{state}", "--images", "jpeg"], "invalid choice: 'jpeg'"),
    (["{state}", "--fps", "0"], "--fps 0"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(state_dataset, tmp_path, args, message) -> None:
    out = tmp_path / "ds"
    argv = [a.format(state=state_dataset, tmp=tmp_path) for a in args]
    r = run_cli("export", "lerobot", *argv, "--out", str(out), cwd=tmp_path)
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], r.stderr
    assert not out.exists() and not (tmp_path / "ds.partial").exists()


def test_an_existing_output_is_refused(state_dataset, tmp_path) -> None:
    (tmp_path / "ds").mkdir()
    r = run_cli("export", "lerobot", str(state_dataset), "--out", str(tmp_path / "ds"), cwd=REPO)
    assert r.returncode == 2 and "--overwrite" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_without_lerobot_one_line_names_the_install(state_dataset, tmp_path) -> None:
    pytest.importorskip("h5py")
    try:
        import lerobot  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("lerobot is installed here; this checks the line a user without it gets")
    r = run_cli("export", "lerobot", str(state_dataset), "--out", str(tmp_path / "ds"), cwd=REPO)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "pip install 'mimicforge[lerobot]'" in r.stderr and "scripts/setup-train.sh" in r.stderr
    assert not (tmp_path / "ds").exists() and not (tmp_path / "ds.partial").exists()
