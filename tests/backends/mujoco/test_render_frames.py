"""The fast camera path draws exactly what the one-modality path draws.

``render_frames`` (one scene update per camera, labels and depth from one segmentation pass, planar normals)
and the PNG encoder that writes the frames must not change a pixel: every modality of both cameras is
compared, bit for bit, with ``render(camera, modality)`` (one ``mujoco.Renderer`` pass per modality, as
before) and the normals with the original whole-array formula, on recorded states of NVIDIA's demos.
"""

from __future__ import annotations

import io

import imageio.v3 as iio
import numpy as np
import pytest

from mimicforge.backends.base import state_at
from mimicforge.backends.mujoco.render import MODALITIES
from mimicforge.datasets import DatasetReader
from mimicforge.media.images import to_png_array, write_png


def reference_normals(rays: np.ndarray, depth: np.ndarray, cam_xmat: np.ndarray) -> np.ndarray:
    """The twin's first normals formula, kept as the reference: whole (H, W, 3) arrays at once."""
    hit = np.isfinite(depth)
    points = rays * np.where(hit, depth, 0.0).astype(np.float64)[..., None]
    n = np.cross(np.gradient(points, axis=1), np.gradient(points, axis=0))
    norm = np.linalg.norm(n, axis=-1, keepdims=True)
    n = np.divide(n, norm, out=np.zeros_like(n), where=norm > 1e-12)
    n = np.where(np.sum(n * points, axis=-1, keepdims=True) > 0.0, -n, n)
    world = n @ (cam_xmat.reshape(3, 3) @ np.diag([1.0, -1.0, -1.0])).T
    inside = hit.copy()
    inside[1:, :] &= hit[:-1, :]
    inside[:-1, :] &= hit[1:, :]
    inside[:, 1:] &= hit[:, :-1]
    inside[:, :-1] &= hit[:, 1:]
    world[~inside] = 0.0
    return world.astype(np.float32)


@pytest.fixture(scope="module")
def states(source_path):
    with DatasetReader(source_path) as r:
        demo = r.demo(r.demo_names[0], parts=("states",))
    n = len(demo.states["articulation"]["robot"]["joint_position"])
    return [state_at(demo.states, t) for t in (0, n // 3, n // 2, n - 1)]


def test_render_frames_equal_one_pass_per_modality_renders(twin, states, tmp_path) -> None:
    for state in states:
        twin.reset_to(state)
        for camera in twin.cameras:
            fast = twin.render_frames(camera, MODALITIES)
            assert list(fast) == list(MODALITIES)
            for modality in MODALITIES:
                slow = twin.render(camera, modality)
                assert fast[modality].dtype == slow.dtype and fast[modality].shape == slow.shape
                assert np.array_equal(fast[modality], slow), (camera, modality)
            rig = twin._rig
            ref = reference_normals(rig._rays[camera], fast["depth"], rig._scene.sync(twin.data).cam_xmat[
                rig._camera_ids[camera]])
            assert np.array_equal(fast["normals"], ref), camera
            assert np.count_nonzero(ref) > ref.size // 4  # the comparison covers real surfaces
            for modality in MODALITIES:  # the PNG files hold exactly what the previous encoder stored
                write_png(tmp_path / "f.png", modality, fast[modality])
                before = io.BytesIO()
                iio.imwrite(before, to_png_array(modality, fast[modality]), extension=".png")
                assert np.array_equal(iio.imread(tmp_path / "f.png"), iio.imread(before.getvalue())), modality


def test_render_frames_keeps_the_requested_order_and_subset(twin, states) -> None:
    twin.reset_to(states[1])
    frames = twin.render_frames("table_high_cam", ("normals", "semantic_segmentation"))
    assert list(frames) == ["normals", "semantic_segmentation"]
    assert np.array_equal(frames["semantic_segmentation"], twin.render("table_high_cam", "semantic_segmentation"))
