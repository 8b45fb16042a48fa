"""``mimicforge export lerobot`` loaded back by LeRobot itself: ``LeRobotDataset(repo_id, root=DIR)``.

Real generated datasets (the twin, from NVIDIA's annotated demos), NVIDIA's own Isaac Lab file, the real CLI in
subprocesses and a SIGKILL for the crash test. Runs where lerobot is installed (``bash scripts/setup-train.sh``
makes ``.venv-train``; CI runs this file there)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

try:
    from lerobot.datasets.lerobot_dataset import LeRobotDataset
except ImportError:
    pytest.skip("lerobot not installed: bash scripts/setup-train.sh", allow_module_level=True)

from mimicforge.cli import main  # noqa: E402
from mimicforge.datasets import merge_datasets  # noqa: E402
from tests.conftest import REPO, run_cli  # noqa: E402
from tests.datasets.format_copies import make_format3_copy  # noqa: E402

# Largest mean absolute difference, per frame, between a decoded video frame and its source frame (0..255 scale).
# LeRobot's default AV1 encoding (crf 30, yuv420p) of small renders measures about 2-3 here; 6 leaves room for
# codec builds without letting a wrong or shifted frame through (neighbouring frames differ by more).
VIDEO_TOLERANCE = 6.0


def wxyz_to_xyzw(q: np.ndarray) -> np.ndarray:
    return np.concatenate([q[..., 1:4], q[..., :1]], axis=-1)


def export(dataset: Path, out: Path, *args: str) -> dict:
    """The command's own entry point, in this process (LeRobot and torch are imported once per session; the
    crash test below runs it as a separate process)."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(["export", "lerobot", str(dataset), "--out", str(out), "--json", *args])
    assert code == 0, stderr.getvalue()
    return json.loads(stdout.getvalue().strip().splitlines()[-1])


def expected(dataset: Path, demos: list[str] | None = None) -> dict[str, list[np.ndarray]]:
    """Per demo, the exported action and observation.state straight from the HDF5 (quaternions to x, y, z, w)."""
    out: dict[str, list[np.ndarray]] = {"action": [], "observation.state": [], "names": []}
    with h5py.File(dataset, "r") as f:
        legacy = int(f.attrs.get("format_version", 0)) == 0
        for name in demos or list(f["data"]):
            g = f["data"][name]
            quat = g["obs/eef_quat"][()]
            out["action"].append(g["actions"][()].astype(np.float32))
            out["observation.state"].append(np.concatenate(
                [g["obs/eef_pos"][()], wxyz_to_xyzw(quat) if legacy else quat, g["obs/gripper_pos"][()]], 1
            ).astype(np.float32))
            out["names"].append(name)
    return out


def features_text(info: dict) -> str:
    return "info.json features:\n" + "\n".join(f"  {k}: {json.dumps(v)}" for k, v in info["features"].items())


def column(ds: LeRobotDataset, key: str) -> np.ndarray:
    return np.stack([np.asarray(v) for v in ds.hf_dataset[key]])


def check_low_dim(ds: LeRobotDataset, want: dict[str, list[np.ndarray]]) -> None:
    lengths = [len(a) for a in want["action"]]
    assert ds.meta.total_episodes == len(lengths) and ds.num_episodes == len(lengths)
    assert [int(n) for n in ds.meta.episodes["length"]] == lengths
    episode_index = column(ds, "episode_index").reshape(-1)
    assert np.array_equal(np.bincount(episode_index), lengths)
    for key in ("action", "observation.state"):
        assert np.array_equal(column(ds, key), np.concatenate(want[key])), key


def test_state_only_20_demos_load_in_lerobot(state_dataset, tmp_path) -> None:
    out = tmp_path / "state"
    summary = export(state_dataset, out)
    ds = LeRobotDataset("local/state", root=out)
    want = expected(state_dataset)
    check_low_dim(ds, want)
    info = json.loads((out / "meta/info.json").read_text())
    print(f"\n20-demo state-only export: {summary}\n{features_text(info)}")
    print(f"episodes {ds.meta.total_episodes}, frames {ds.meta.total_frames}, lengths "
          f"{[int(n) for n in ds.meta.episodes['length']]}")
    assert info["codebase_version"] == "v3.0" and info["fps"] == 20 and info["robot_type"] == "franka"
    assert info["features"]["observation.state"]["names"][3:7] == ["eef_quat.qx", "eef_quat.qy", "eef_quat.qz",
                                                                   "eef_quat.qw"]
    assert not any(k.startswith("observation.images") for k in info["features"])
    tasks = ds.meta.tasks
    assert list(tasks.index) == ["Stack the red cube on the blue cube, then the green cube on the red cube."]
    provenance = json.loads((out / "meta/mimicforge.json").read_text())
    assert provenance["episodes"] == want["names"] and provenance["quaternion_order"] == "xyzw"

    # meta/stats.json: numpy's statistics over every frame
    stats = json.loads((out / "meta/stats.json").read_text())
    for key in ("action", "observation.state"):
        data = np.concatenate(want[key]).astype(np.float64)
        s = stats[key]
        np.testing.assert_allclose(s["mean"], data.mean(0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(s["std"], data.std(0), rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(s["min"], data.min(0), rtol=0, atol=1e-7)
        np.testing.assert_allclose(s["max"], data.max(0), rtol=0, atol=1e-7)
        assert int(np.asarray(s["count"]).reshape(-1)[0]) == len(data)


def test_delta_timestamps_windows(state_dataset, tmp_path) -> None:
    out = tmp_path / "window"
    export(state_dataset, out, "--demos", "0-2")
    want = expected(state_dataset, ["demo_0", "demo_1", "demo_2"])
    dt = 1 / 20
    ds = LeRobotDataset("local/window", root=out,
                        delta_timestamps={"observation.state": [-dt, 0.0], "action": [0.0, dt, 2 * dt]})
    first = len(want["action"][0])
    # the first frame of episode 1: its past is padded (a copy of itself), its future is its own actions
    item = ds[first]
    assert int(item["episode_index"]) == 1 and tuple(item["action"].shape) == (3, 7)
    np.testing.assert_array_equal(item["action"].numpy(), want["action"][1][:3])
    np.testing.assert_array_equal(item["observation.state"].numpy()[1], want["observation.state"][1][0])
    assert item["observation.state_is_pad"].tolist() == [True, False]
    # the last frame of episode 0: the future is padded, not taken from episode 1
    item = ds[first - 1]
    assert item["action_is_pad"].tolist() == [False, True, True]
    np.testing.assert_array_equal(item["action"].numpy()[0], want["action"][0][-1])
    np.testing.assert_array_equal(item["observation.state"].numpy(), want["observation.state"][0][-2:])


def decoded_error(ds: LeRobotDataset, key: str, source: list[np.ndarray], steps: list[int], offset: int) -> float:
    worst = 0.0
    for t in steps:
        frame = ds[offset + t][key]  # (3, H, W) float in [0, 1], decoded from the MP4
        got = frame.permute(1, 2, 0).numpy() * 255.0
        worst = max(worst, float(np.abs(got - source[t].astype(np.float64)).mean()))
    return worst


def test_images_in_obs_become_videos_within_tolerance(image_dataset, tmp_path) -> None:
    out = tmp_path / "images"
    summary = export(image_dataset, out)
    assert summary["cameras"] == ["table_cam", "wrist_cam"]
    ds = LeRobotDataset("local/images", root=out)
    want = expected(image_dataset)
    check_low_dim(ds, want)
    info = json.loads((out / "meta/info.json").read_text())
    print(f"\n2-demo image export: {summary}\n{features_text(info)}")
    assert info["features"]["observation.images.table_cam"]["dtype"] == "video"
    assert info["features"]["observation.images.wrist_cam"]["shape"] == [48, 64, 3]
    assert sorted(p.name for p in (out / "videos").iterdir()) == ["observation.images.table_cam",
                                                                   "observation.images.wrist_cam"]
    offset = 0
    with h5py.File(image_dataset, "r") as f:
        for name, actions in zip(want["names"], want["action"], strict=True):
            t = len(actions)
            steps = [0, 1, t // 2, t - 1]
            for cam in ("table_cam", "wrist_cam"):
                source = f[f"data/{name}/obs/{cam}"][()]
                err = decoded_error(ds, f"observation.images.{cam}", list(source), steps, offset)
                print(f"{name} {cam}: worst mean abs error {err:.2f} / 255 over frames {steps}")
                assert err <= VIDEO_TOLERANCE, (name, cam, err)
                # the right frame, not a neighbour: frame t matches source t better than source t+5
                got = ds[offset + t // 2][f"observation.images.{cam}"].permute(1, 2, 0).numpy() * 255.0
                assert np.abs(got - source[t // 2]).mean() < np.abs(got - source[min(t // 2 + 5, t - 1)]).mean()
            offset += t


def test_image_folders_become_videos(folder_dataset, tmp_path) -> None:
    dataset, images = folder_dataset
    out = tmp_path / "folders"
    summary = export(dataset, out, "--output-dir", str(images))
    assert summary["cameras"] == ["table_cam", "table_high_cam"]
    ds = LeRobotDataset("local/folders", root=out)
    want = expected(dataset)
    check_low_dim(ds, want)
    from mimicforge.media.sources import FolderSource

    offset = 0
    for name, actions in zip(want["names"], want["action"], strict=True):
        t = len(actions)
        for cam in ("table_cam", "table_high_cam"):
            src = FolderSource(images, dataset, cam, int(name.removeprefix("demo_")))
            source = [src.frame("rgb", s) for s in range(t)]
            assert decoded_error(ds, f"observation.images.{cam}", source, [0, t // 2, t - 1], offset) <= VIDEO_TOLERANCE
        offset += t


def test_isaac_lab_3_format_and_merged_files_export(state_dataset, image_dataset, tmp_path) -> None:
    v3 = make_format3_copy(state_dataset, tmp_path / "v3.hdf5")
    export(v3, tmp_path / "v3", "--demos", "0-3")
    export(state_dataset, tmp_path / "legacy", "--demos", "0-3")
    a, b = LeRobotDataset("local/v3", root=tmp_path / "v3"), LeRobotDataset("local/legacy", root=tmp_path / "legacy")
    for key in ("action", "observation.state", "observation.environment_state"):
        assert np.array_equal(column(a, key), column(b, key)), key
    check_low_dim(a, expected(state_dataset, [f"demo_{k}" for k in range(4)]))

    merged = tmp_path / "merged.hdf5"
    merge_datasets(merged, [image_dataset, state_dataset], common_keys=True)  # the image demos lose their cameras
    export(merged, tmp_path / "merged", "--images", "none")
    check_low_dim(LeRobotDataset("local/merged", root=tmp_path / "merged"), expected(merged))


def test_nvidias_isaac_lab_file_exports(real_dataset, tmp_path) -> None:
    """Isaac Lab 2.0's writer: legacy quaternions, no sim_args (20 fps from the task registry)."""
    summary = export(real_dataset, tmp_path / "nvidia", "--demos", "0-1", "--repo-id", "nvidia/stack")
    assert summary["fps"] == 20 and summary["episodes"] == 2
    check_low_dim(LeRobotDataset("nvidia/stack", root=tmp_path / "nvidia"),
                  expected(real_dataset, ["demo_0", "demo_1"]))


def test_a_killed_export_publishes_nothing_and_the_next_starts_over(state_dataset, tmp_path) -> None:
    out = tmp_path / "killed"
    env = {k: v for k, v in os.environ.items() if k != "MIMICFORGE_DEBUG"}
    proc = subprocess.Popen([sys.executable, "-m", "mimicforge", "export", "lerobot", str(state_dataset), "--out",
                             str(out), "--progress-interval", "0"], cwd=REPO, env=env, stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True)
    assert proc.stderr is not None
    deadline = time.monotonic() + 300
    for line in proc.stderr:  # plain progress lines (not a terminal): one per episode
        if line.startswith("export: 3/20"):
            break
        assert time.monotonic() < deadline and proc.poll() is None, line
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    partial = tmp_path / "killed.partial"
    assert not out.exists() and partial.is_dir() and (partial / "meta/info.json").exists()

    r = run_cli("export", "lerobot", str(state_dataset), "--out", str(out), cwd=REPO)
    assert r.returncode == 0, r.stderr
    line = next(s for s in r.stderr.splitlines() if f"{partial} is left from an export that did not finish" in s)
    assert line.endswith("starting over"), r.stderr
    assert not partial.exists()
    check_low_dim(LeRobotDataset("local/state", root=out), expected(state_dataset))

    again = run_cli("export", "lerobot", str(state_dataset), "--out", str(out), "--demos", "0", "--overwrite",
                    cwd=REPO)
    assert again.returncode == 0, again.stderr
    assert LeRobotDataset("local/state", root=out).meta.total_episodes == 1
