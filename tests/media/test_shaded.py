"""Shaded segmentation: pixel values against the blueprint's formula, from folders and from HDF5 observations."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from mimicforge.media.shaded import depth_grey, shade_segmentation
from mimicforge.media.sources import FolderSource, HDF5Source, open_source
from mimicforge.outputs import image_path
from tests.media.cosmos_data import add_obs_images, make_dataset, write_folders


def test_known_pixels_follow_the_formula_with_truncation():
    seg = np.array([[[200, 100, 51, 255], [200, 100, 51, 255], [200, 100, 51, 255], [3, 255, 7, 0]]], np.uint8)
    normals_png = np.array([[[128, 128, 255], [9, 250, 0], [0, 0, 128], [77, 77, 0]]], np.uint8)
    out = shade_segmentation(seg, normals_png)
    assert out.dtype == np.uint8 and out.shape == (1, 4, 4)
    # n_z = 255/255 -> shade 1; n_z = 0 -> shade 0.5 (x and y do not count); n_z = 128/255 -> shade 0.750980...
    assert out[0, 0].tolist() == [200, 100, 51, 255]
    assert out[0, 1].tolist() == [100, 50, 25, 255]  # 25.5 truncates to 25
    assert out[0, 2].tolist() == [150, 75, 38, 255]  # 150.196, 75.098, 38.30
    assert out[0, 3].tolist() == [1, 127, 3, 255]  # 1.5, 127.5, 3.5 truncate; alpha is always 255


def test_every_pixel_matches_an_independent_float32_evaluation():
    rng = np.random.default_rng(1)
    seg = rng.integers(0, 256, (40, 30, 4), dtype=np.uint8)
    normals = rng.integers(0, 256, (40, 30, 3), dtype=np.uint8)
    out = shade_segmentation(seg, normals)
    for (i, j) in [(0, 0), (5, 7), (39, 29), (20, 11)]:
        shade = np.float32(0.5) + np.float32(normals[i, j, 2]) / np.float32(255) * np.float32(0.5)
        want = [int(np.float32(seg[i, j, c]) * shade) for c in range(3)] + [255]
        assert out[i, j].tolist() == want
    # float normals (Isaac Lab's HDF5 keeps (n + 1) / 2 as float) give the same picture as their uint8 PNG
    assert np.array_equal(shade_segmentation(seg, normals.astype(np.float32) / 255), out)
    # the light sits straight above: changing n_x, n_y changes nothing; a bright n_z never darkens
    other = normals.copy()
    other[..., :2] = 255 - other[..., :2]
    assert np.array_equal(shade_segmentation(seg, other), out)
    assert (out[..., :3] <= seg[..., :3]).all() and (out[..., :3] >= seg[..., :3] // 2).all()


def test_bad_shapes_are_rejected():
    with pytest.raises(ValueError, match="differ in size"):
        shade_segmentation(np.zeros((4, 4, 4), np.uint8), np.zeros((4, 5, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        shade_segmentation(np.zeros((4, 4, 4), np.float32), np.zeros((4, 4, 3), np.uint8))


def test_depth_as_isaac_labs_inverted_grey():
    d = np.array([[0.0, 0.0149, 0.015, 0.75, 1.5, 3.0, np.inf, np.nan]], np.float32)
    assert depth_grey(d).tolist() == [[0, 0, 252, 127, 0, 0, 0, 0]]
    assert depth_grey(d[..., None]).shape == (1, 8)


def test_folder_and_hdf5_sources_shade_what_they_store(tmp_path):
    ds = make_dataset(tmp_path / "d.hdf5", (6, 5))
    write_folders(tmp_path / "output", 0, 6)
    add_obs_images(ds, 1)
    src = open_source(ds, tmp_path / "output", "table_cam", 0)
    assert isinstance(src, FolderSource) and src.shaded_count() == 6
    shaded = list(src.frames("shaded_segmentation"))
    seg = np.asarray(Image.open(image_path(tmp_path / "output" / "d", "table_cam", "semantic_segmentation", 0, 3)))
    nor = np.asarray(Image.open(image_path(tmp_path / "output" / "d", "table_cam", "normals", 0, 3)))
    shade = np.float32(0.5) + nor[..., 2].astype(np.float32) / np.float32(255) * np.float32(0.5)
    assert np.array_equal(shaded[3][..., :3], (seg[..., :3].astype(np.float32) * shade[..., None]).astype(np.uint8))
    h5 = open_source(ds, tmp_path / "output", "table_cam", 1)
    try:
        assert isinstance(h5, HDF5Source) and h5.shaded_count() == 5
        f = next(h5.frames("shaded_segmentation", 2, 3))
        seg, nor = h5.frame("semantic_segmentation", 2), h5.frame("normals", 2)
        shade = np.float32(0.5) + nor[..., 2] * np.float32(0.5)
        assert np.array_equal(f[..., :3], (seg[..., :3].astype(np.float32) * shade[..., None]).astype(np.uint8))
        assert h5.frame("depth", 0).shape == (16, 24, 1)
    finally:
        h5.close()


def test_shade_command_writes_frames_and_a_video(cli, tmp_path):
    import imageio.v3 as iio

    ds = make_dataset(tmp_path / "d.hdf5", (7,))
    write_folders(tmp_path / "output", 0, 7, cameras=("table_cam", "table_high_cam"),
                  modalities=("semantic_segmentation", "normals"))
    r = cli("cosmos", "shade", str(ds), "--output-dir", str(tmp_path / "output"), "--cameras", "table_high_cam",
            "--video", "--json")
    assert r.returncode == 0, r.stderr
    folder = tmp_path / "output" / "d" / "table_high_cam_shaded_segmentation" / "demo_0"
    pngs = sorted(folder.glob("step_*.png"))
    assert [p.name for p in pngs] == [f"step_{t:04d}.png" for t in range(7)]
    src = FolderSource(tmp_path / "output", ds, "table_high_cam", 0)
    assert np.array_equal(np.asarray(Image.open(pngs[4])), next(src.frames("shaded_segmentation", 4, 5)))
    video = iio.imread(folder.with_suffix(".mp4"), plugin="FFMPEG")
    assert video.shape == (7, 16, 24, 3) and iio.immeta(folder.with_suffix(".mp4"), plugin="FFMPEG")["fps"] == 24
    assert not (tmp_path / "output" / "d" / "table_cam_shaded_segmentation").exists()
    r = cli("cosmos", "shade", str(ds), "--output-dir", str(tmp_path / "output"), "--cameras", "table_high_cam")
    assert r.returncode == 2 and "exists; pass --overwrite" in r.stderr
    r = cli("cosmos", "shade", str(ds), "--output-dir", str(tmp_path / "nothing"))
    assert r.returncode == 2 and "no segmentation frames" in r.stderr
