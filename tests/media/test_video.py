"""Previews: rendered from recorded states (NVIDIA's Isaac Lab file included) or from image folders."""

from __future__ import annotations

import imageio.v3 as iio
import numpy as np
from PIL import Image

from mimicforge.config import CameraConfig
from mimicforge.media.images import write_png
from mimicforge.media.video import preview_frames, write_video
from mimicforge.outputs import image_path


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


def test_image_folders_are_preferred_when_the_run_wrote_them(tmp_path, real_dataset):
    cams = CameraConfig(cameras=("table_cam",), output_dir=tmp_path)
    image_path(tmp_path, "table_cam", "rgb", 4, 0).parent.mkdir(parents=True)
    for t in range(3):
        write_png(image_path(tmp_path, "table_cam", "rgb", 4, t), "rgb", np.full((8, 8, 3), 40 * t, np.uint8))
    frames = list(preview_frames(real_dataset, "demo_4", cams))
    assert [int(f.mean()) for f in frames] == [0, 40, 80]


def test_preview_errors_are_one_line(cli, real_dataset, tmp_path):
    r = cli("preview", str(real_dataset), "--demo", "demo_42")
    assert r.returncode == 2 and "no demo 'demo_42'" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = cli("preview", str(real_dataset), "--out", str(tmp_path / "x.avi"))
    assert r.returncode == 2 and "must end in .mp4 or .gif" in r.stderr
