"""Previews: rendered from recorded states (NVIDIA's Isaac Lab file included) or from image folders."""

from __future__ import annotations

import logging
import shutil

import h5py
import imageio.v3 as iio
import numpy as np
from PIL import Image

from mimicforge.config import CameraConfig
from mimicforge.media.images import write_png
from mimicforge.media.video import preview_frames, write_video
from mimicforge.outputs import dataset_images, image_path


def test_preview_of_an_isaac_lab_demo_renders_its_recorded_states(cli, real_dataset, tmp_path):
    out = tmp_path / "demo_9.mp4"
    r = cli("preview", str(real_dataset), "--demo", "9", "--out", str(out), "--width", "96", "--height", "54",
            "--cameras", "table_cam", "--json")
    assert r.returncode == 0, r.stderr
    frames = iio.imread(out)
    assert frames.shape == (179 + 1, 54, 96, 3)  # demo_9 has 179 steps: its initial state plus every state
    assert frames[0].std() > 10 and np.abs(frames[-1].astype(int) - frames[0].astype(int)).mean() > 1


def test_gif_keeps_the_frame_rate(real_dataset, tmp_path):
    cams = CameraConfig(cameras=("table_high_cam",), width=48, height=27, output_dir=tmp_path)
    n = write_video(preview_frames(real_dataset, "demo_2", cams), tmp_path / "p.gif", fps=10)
    assert n == 194 + 1
    total = 0
    with Image.open(tmp_path / "p.gif") as im:  # identical frames may be merged, their durations summed
        for k in range(im.n_frames):
            im.seek(k)
            total += im.info["duration"]
    assert total == 100 * n


def demo_steps(path, demo: str) -> int:
    with h5py.File(path, "r") as f:
        return int(f["data"][demo].attrs["num_samples"])


def write_frames(root, demo: int, count: int) -> None:
    image_path(root, "table_cam", "rgb", demo, 0).parent.mkdir(parents=True)
    for t in range(count):
        write_png(image_path(root, "table_cam", "rgb", demo, t), "rgb", np.full((8, 8, 3), t % 200, np.uint8))


def test_image_folders_are_preferred_when_the_run_wrote_them(tmp_path, real_dataset):
    cams = CameraConfig(cameras=("table_cam",), output_dir=tmp_path)
    n = demo_steps(real_dataset, "demo_4") + 1  # the twin's frames: before each action, and after the last
    write_frames(dataset_images(tmp_path, real_dataset), 4, n)
    frames = list(preview_frames(real_dataset, "demo_4", cams))
    assert [int(f.mean()) for f in frames] == [t % 200 for t in range(n)]


def test_old_layout_is_read_with_a_hint_and_another_runs_frames_are_refused(cli, tmp_path, real_dataset, caplog):
    """Folders of the former layout shared by every run (``<output_dir>/<cam>_<mod>/demo_k``) are still read,
    with one line on how to move them; frames whose count does not fit the demo are another run's: one line,
    exit 2 (previewing NVIDIA's 236-step demo_0 used to play 285 frames of another run, silently)."""
    ds = tmp_path / "human.hdf5"
    shutil.copy(real_dataset, ds)
    cams = CameraConfig(cameras=("table_cam",), output_dir=tmp_path / "output")
    write_frames(tmp_path / "output", 4, demo_steps(ds, "demo_4"))
    with caplog.at_level(logging.WARNING):
        assert len(list(preview_frames(ds, "demo_4", cams))) == demo_steps(ds, "demo_4")
    hints = [r.getMessage() for r in caplog.records if "old image layout" in r.getMessage()]
    old, own = tmp_path / "output" / "table_cam_rgb", tmp_path / "output" / "human"
    assert len(hints) == 1 and f"mv {old} {own}/" in hints[0]
    write_frames(tmp_path / "output" / "human", 0, 285)
    r = cli("preview", str(ds), "--demo", "0", "--cameras", "table_cam", "--output-dir", str(tmp_path / "output"),
            "--out", str(tmp_path / "p.mp4"))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert f"holds 285 frames but demo_0 of {ds} has {demo_steps(ds, 'demo_0')} steps" in r.stderr
    assert not (tmp_path / "p.mp4").exists()


def test_preview_errors_are_one_line(cli, real_dataset, tmp_path):
    r = cli("preview", str(real_dataset), "--demo", "demo_42")
    assert r.returncode == 2 and "no demo 'demo_42'" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = cli("preview", str(real_dataset), "--out", str(tmp_path / "x.avi"))
    assert r.returncode == 2 and "must end in .mp4 or .gif" in r.stderr
