"""Cameras: every camera and modality renders offscreen, in Isaac's shapes, dtypes and segmentation colours."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from mimicforge.tasks import STACK_SEGMENTATION_COLORS as SEGMENTATION_COLORS
from mimicforge.errors import ConfigError

EXPECTED = {"rgb": ((176, 320, 3), np.uint8), "depth": ((176, 320), np.float32),
            "semantic_segmentation": ((176, 320, 4), np.uint8), "normals": ((176, 320, 3), np.float32)}


@pytest.fixture(scope="module")
def images(twin):
    twin.reset(seed=0)
    return {(c, m): twin.render(c, m) for c in twin.cameras for m in twin.modalities}


def test_every_camera_and_modality_has_isaacs_shape_and_dtype(twin, images) -> None:
    assert set(twin.cameras) == {"table_cam", "table_high_cam"}
    assert set(twin.modalities) == set(EXPECTED)
    for (camera, modality), image in images.items():
        shape, dtype = EXPECTED[modality]
        assert image.shape == shape and image.dtype == dtype, (camera, modality)


def test_each_cube_shows_in_its_segmentation_colour(images) -> None:
    for camera in ("table_cam", "table_high_cam"):
        seg = images[(camera, "semantic_segmentation")].reshape(-1, 4)
        present = {tuple(int(v) for v in c) for c in np.unique(seg, axis=0)}
        for label in ("cube_1", "cube_2", "cube_3", "table", "robot"):
            assert SEGMENTATION_COLORS[label] in present, (camera, label)
        assert present <= set(SEGMENTATION_COLORS.values())


def test_rgb_depth_and_normals_agree_with_the_scene(images) -> None:
    rgb = images[("table_cam", "rgb")]
    assert rgb.std() > 20  # a real picture, not a blank frame
    seg = images[("table_cam", "semantic_segmentation")]
    table = np.all(seg == SEGMENTATION_COLORS["table"], axis=-1)
    depth = images[("table_cam", "depth")]
    # the table top is 0.33 m below a camera pitched 25 degrees down: depth 0.45-2.5 m on the table
    assert np.all(np.isfinite(depth[table])) and 0.4 < np.median(depth[table]) < 2.5
    normals = images[("table_cam", "normals")]
    up = normals[table]
    up = up[np.linalg.norm(up, axis=-1) > 0.5]
    assert np.median(up[:, 2]) > 0.99  # the table faces up in the world frame
    lengths = np.linalg.norm(normals, axis=-1)
    assert np.all((np.abs(lengths - 1) < 1e-4) | (lengths == 0))


def test_resolution_is_configurable() -> None:
    from mimicforge.backends.mujoco.env import FrankaStackTwin
    from mimicforge.backends.mujoco.params import CameraParams, TwinParams

    with FrankaStackTwin(TwinParams(camera=CameraParams(height=88, width=160)), seed=0) as env:
        assert env.render("table_high_cam", "rgb").shape == (88, 160, 3)
    with pytest.raises(ConfigError):
        CameraParams(height=4, width=160)


def test_unknown_camera_or_modality_is_a_clear_error(twin) -> None:
    with pytest.raises(ConfigError, match="table_cam"):
        twin.render("wrist_cam", "rgb")
    with pytest.raises(ConfigError, match="normals"):
        twin.render("table_cam", "infrared")


@pytest.mark.parametrize("first", ["", "import mujoco\n"], ids=["twin-imports-mujoco", "program-imports-mujoco"])
def test_a_headless_machine_renders_without_setting_mujoco_gl(tmp_path, first) -> None:
    """With MUJOCO_GL and DISPLAY unset the backend picks a working offscreen platform by itself, also
    when the program imported MuJoCo before the twin."""
    script = tmp_path / "render.py"
    script.write_text(
        f"import os\n{first}from mimicforge.backends.mujoco.env import FrankaStackTwin\n"
        "with FrankaStackTwin(seed=1) as env:\n"
        "    img = env.render('table_cam', 'rgb')\n"
        "print(os.environ['MUJOCO_GL'], int(img.std() > 20))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("MUJOCO_GL", "DISPLAY", "PYOPENGL_PLATFORM")}
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    platform, ok = out.stdout.split()
    assert platform in ("egl", "osmesa") and ok == "1"
