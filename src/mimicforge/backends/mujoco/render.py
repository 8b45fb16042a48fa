"""Offscreen cameras of the Blueprint task: rgb, depth, semantic segmentation and surface normals.

``table_cam`` and ``table_high_cam`` sit where Isaac's Blueprint cameras do, with the same pinhole
(focal length 24 mm, horizontal aperture 20.955 mm) at any resolution of the same aspect.

- rgb: (H, W, 3) uint8.
- depth: (H, W) float32, metres along the optical axis (Isaac's ``distance_to_image_plane``); +inf
  where nothing is hit.
- semantic_segmentation: (H, W, 4) uint8 RGBA in Isaac's colours (``SEGMENTATION_COLORS``). Isaac
  tags the robot, table and cubes; its ground plane ends up unlabelled (spec §3.7), and so does ours.
- normals: (H, W, 3) float32 unit vectors in the world frame, 0 where nothing is hit. MuJoCo has no
  normal pass, so they come from the depth image: back-projected points, crossed image gradients.

One ``mujoco.Renderer`` serves both cameras; it is made on first use, which is when an OpenGL
context is needed (EGL or OSMesa without a display, see ``deps``). It draws the render-only copy of
the model with lighter Panda meshes (``visual``), posed like the physics state it is given.
"""

from __future__ import annotations

import math
import weakref
from types import ModuleType
from typing import Any

import numpy as np

from mimicforge.backends.mujoco import deps
from mimicforge.backends.mujoco.params import CUBES, TwinParams
from mimicforge.backends.mujoco.scene import CAMERAS, TABLE_BODY
from mimicforge.errors import ConfigError

MODALITIES = ("rgb", "depth", "semantic_segmentation", "normals")
SEGMENTATION_COLORS: dict[str, tuple[int, int, int, int]] = {
    "cube_1": (255, 36, 66, 255),
    "cube_2": (255, 184, 48, 255),
    "cube_3": (55, 255, 139, 255),
    "table": (255, 237, 218, 255),
    "ground": (100, 100, 100, 255),
    "robot": (125, 125, 125, 255),
    "UNLABELLED": (125, 125, 125, 255),
    "BACKGROUND": (10, 10, 10, 255),
}
# The spec found Isaac's ground tag set on an attribute its config class does not have.
GROUND_LABELLED = False


def geom_labels(model: Any) -> list[str]:
    """Semantic label of every geom: its body's cube name, 'table', 'robot', or UNLABELLED."""
    labels = []
    for g in range(model.ngeom):
        body = model.body(int(model.geom_bodyid[g])).name
        if body in CUBES:
            labels.append(body)
        elif body == TABLE_BODY:
            labels.append("table")
        elif body.startswith("panda_"):
            labels.append("robot")
        elif model.geom(g).name == "ground" and GROUND_LABELLED:
            labels.append("ground")
        else:
            labels.append("UNLABELLED")
    return labels


class CameraRig:
    def __init__(self, mujoco: ModuleType, model: Any, params: TwinParams) -> None:
        from mimicforge.backends.mujoco.visual import RenderModel

        self._mujoco = mujoco
        self._scene = RenderModel(mujoco, params, model)
        self._model = model = self._scene.model
        self.height, self.width = params.camera.height, params.camera.width
        deps.adopt_headless_gl(mujoco)
        try:
            self._renderer = mujoco.Renderer(model, height=self.height, width=self.width)
        except Exception as exc:  # GL context creation fails in many library-specific ways
            raise deps.renderer_error(exc) from None
        # Free the GL context at the latest when the interpreter exits, while OpenGL can still do it
        # (an OSMesa context freed during interpreter teardown prints a traceback).
        self._finalizer = weakref.finalize(self, self._renderer.close)
        self._option = mujoco.MjvOption()
        self._option.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = False
        self._option.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = False
        self._option.flags[mujoco.mjtRndFlag.mjRND_SKYBOX] = False
        colors = np.array([SEGMENTATION_COLORS[label] for label in geom_labels(model)], dtype=np.uint8)
        self._colors = np.concatenate([colors, np.array([SEGMENTATION_COLORS["BACKGROUND"]], dtype=np.uint8)])
        self._camera_ids = {name: model.camera(name).id for name in CAMERAS}
        f = 0.5 * self.height / math.tan(math.radians(float(model.cam_fovy[0])) / 2.0)
        u = (np.arange(self.width) + 0.5 - 0.5 * self.width) / f
        v = (np.arange(self.height) + 0.5 - 0.5 * self.height) / f
        self._rays = np.stack([*np.meshgrid(u, v), np.ones((self.height, self.width))], axis=-1)

    def render(self, data: Any, camera: str, modality: str) -> np.ndarray:
        if camera not in self._camera_ids:
            raise ConfigError(f"unknown camera {camera!r}; the twin has {', '.join(CAMERAS)}")
        if modality not in MODALITIES:
            raise ConfigError(f"unknown modality {modality!r}; choose one of {', '.join(MODALITIES)}")
        r = self._renderer
        r.disable_depth_rendering()
        r.disable_segmentation_rendering()
        if modality in ("depth", "normals"):
            r.enable_depth_rendering()
        elif modality == "semantic_segmentation":
            r.enable_segmentation_rendering()
        data = self._scene.sync(data)
        r.update_scene(data, camera=camera, scene_option=self._option)
        image = r.render()
        if modality == "rgb":
            return image.copy()
        if modality == "semantic_segmentation":
            return self._colorize(image)
        depth = self._depth(image)
        return depth if modality == "depth" else self._normals(depth, data.cam_xmat[self._camera_ids[camera]])

    def _colorize(self, seg: np.ndarray) -> np.ndarray:
        ids, types = seg[..., 0], seg[..., 1]
        index = np.where((types == int(self._mujoco.mjtObj.mjOBJ_GEOM)) & (ids >= 0), ids, len(self._colors) - 1)
        return self._colors[index]

    def _depth(self, depth: np.ndarray) -> np.ndarray:
        m = self._model
        far = float(m.vis.map.zfar * m.stat.extent)
        out = depth.astype(np.float32, copy=True)
        out[out >= 0.999 * far] = np.inf
        return out

    def _normals(self, depth: np.ndarray, cam_xmat: np.ndarray) -> np.ndarray:
        """World-frame normals from a depth image (optical frame: x right, y down, z forward)."""
        hit = np.isfinite(depth)
        d = np.where(hit, depth, 0.0).astype(np.float64)
        points = self._rays * d[..., None]
        du = np.gradient(points, axis=1)
        dv = np.gradient(points, axis=0)
        n = np.cross(du, dv)
        norm = np.linalg.norm(n, axis=-1, keepdims=True)
        n = np.divide(n, norm, out=np.zeros_like(n), where=norm > 1e-12)
        facing = np.sum(n * points, axis=-1, keepdims=True) > 0.0  # flip normals that point away from the camera
        n = np.where(facing, -n, n)
        optical_to_world = cam_xmat.reshape(3, 3) @ np.diag([1.0, -1.0, -1.0])
        world = n @ optical_to_world.T
        inside = hit.copy()  # gradients across a silhouette mix two surfaces: keep pixels with hit neighbours
        inside[1:, :] &= hit[:-1, :]
        inside[:-1, :] &= hit[1:, :]
        inside[:, 1:] &= hit[:, :-1]
        inside[:, :-1] &= hit[:, 1:]
        world[~inside] = 0.0
        return world.astype(np.float32)

    def close(self) -> None:
        self._finalizer()


def to_uint8(image: np.ndarray, modality: str) -> np.ndarray:
    """An RGB picture of any modality: normals as (n + 1) / 2, depth as grey (near = bright)."""
    if modality == "rgb":
        return image
    if modality == "semantic_segmentation":
        return image[..., :3]
    if modality == "normals":
        return np.clip((image + 1.0) * 127.5, 0, 255).astype(np.uint8)
    finite = np.isfinite(image)
    near, far = (float(image[finite].min()), float(image[finite].max())) if finite.any() else (0.0, 1.0)
    grey = np.where(finite, 1.0 - (image - near) / max(far - near, 1e-6), 0.0)
    return np.repeat((grey * 255).astype(np.uint8)[..., None], 3, axis=-1)


def contact_sheet(env: Any, modalities: tuple[str, ...] = ("rgb",)) -> np.ndarray:
    """One image: a row per modality, a column per camera."""
    rows = [np.concatenate([to_uint8(env.render(c, m), m) for c in env.cameras], axis=1) for m in modalities]
    return np.concatenate(rows, axis=0)
