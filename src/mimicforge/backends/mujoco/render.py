"""Offscreen cameras of the Blueprint task: rgb, depth, semantic segmentation and surface normals.

``table_cam`` and ``table_high_cam`` sit where Isaac's Blueprint cameras do, with the same pinhole
(focal length 24 mm, horizontal aperture 20.955 mm) at any resolution of the same aspect.

- rgb: (H, W, 3) uint8.
- depth: (H, W) float32, metres along the optical axis (Isaac's ``distance_to_image_plane``); +inf
  where nothing is hit.
- semantic_segmentation: (H, W, 4) uint8 RGBA in Isaac's colours (the task registry's). Isaac
  tags the robot, table and cubes; its ground plane ends up unlabelled (spec §3.7), and so does ours.
- normals: (H, W, 3) float32 unit vectors in the world frame, 0 where nothing is hit. MuJoCo has no
  normal pass, so they come from the depth image: back-projected points, crossed image gradients.

One ``mujoco.Renderer`` per kind of pass serves both cameras, each made on first use, which is when an
OpenGL context is needed (EGL or OSMesa without a display, see ``deps``): rgb draws into MuJoCo's
multisampled offscreen buffer (smoothed edges); segmentation and depth, whose passes MuJoCo draws with
multisampling off, into a single-sampled one, the same pixels without resolving four samples per pixel
on reading them back (on Mesa's software renderer that resolve was half of a segmentation frame's time).
Both draw the render-only copy of the model with lighter Panda meshes (``visual``), posed like the
physics state they are given.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import Any

import numpy as np

from mimicforge.backends.mujoco import deps
from mimicforge.backends.mujoco.params import CUBES, TwinParams
from mimicforge.backends.mujoco.scene import CAMERAS, TABLE_BODY
from mimicforge.errors import ConfigError
from mimicforge.tasks import STACK_SEGMENTATION_COLORS

MODALITIES = ("rgb", "depth", "semantic_segmentation", "normals")
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
    """Cameras of one resolution and segmentation palette (by default the Blueprint's two at
    ``params.camera``'s size); rigs of one twin may share its render-only model (``scene``)."""

    def __init__(self, mujoco: ModuleType, model: Any, params: TwinParams, *, cameras: Sequence[str] = tuple(CAMERAS),
                 size: tuple[int, int] | None = None, colors: Mapping[str, tuple[int, int, int, int]] | None = None,
                 scene: Any = None) -> None:
        from mimicforge.backends.mujoco.visual import RenderModel

        self._mujoco = mujoco
        self._scene = scene if scene is not None else RenderModel(mujoco, params, model)
        self._model = model = self._scene.model
        self.height, self.width = size if size is not None else (params.camera.height, params.camera.width)
        deps.adopt_headless_gl(mujoco)
        self._renderers: dict[bool, Any] = {}  # multisampled (rgb) or not (segmentation, depth)
        self._finalizers: list[weakref.finalize] = []
        self._id_renderer()  # the GL context is checked here, at construction
        self._option = mujoco.MjvOption()
        self._option.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = False
        self._option.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = False
        self._option.flags[mujoco.mjtRndFlag.mjRND_SKYBOX] = False
        palette = STACK_SEGMENTATION_COLORS if colors is None else colors
        labels = np.array([palette[label] for label in geom_labels(model)], dtype=np.uint8)
        self._colors = np.concatenate([labels, np.array([palette["BACKGROUND"]], dtype=np.uint8)])
        self._camera_ids = {name: model.camera(name).id for name in cameras}
        self._rays = {name: self._pixel_rays(float(model.cam_fovy[i])) for name, i in self._camera_ids.items()}
        self._ray_planes = {name: (np.ascontiguousarray(r[..., 0]), np.ascontiguousarray(r[..., 1]))
                            for name, r in self._rays.items()}

    @property
    def scene(self) -> Any:
        return self._scene

    def _make_renderer(self, multisampled: bool) -> Any:
        quality = self._model.vis.quality
        samples = quality.offsamples
        if not multisampled:
            quality.offsamples = 0  # read when the context's buffers are made
        try:
            renderer = self._mujoco.Renderer(self._model, height=self.height, width=self.width)
        except Exception as exc:  # GL context creation fails in many library-specific ways
            raise deps.renderer_error(exc) from None
        finally:
            quality.offsamples = samples
        # Free the GL context at the latest when the interpreter exits, while OpenGL can still do it
        # (an OSMesa context freed during interpreter teardown prints a traceback).
        self._finalizers.append(weakref.finalize(self, renderer.close))
        self._renderers[multisampled] = renderer
        return renderer

    def _rgb_renderer(self) -> Any:
        return self._renderers.get(True) or self._make_renderer(True)

    def _id_renderer(self) -> Any:
        return self._renderers.get(False) or self._make_renderer(False)

    def _pixel_rays(self, fovy_deg: float) -> np.ndarray:
        f = 0.5 * self.height / math.tan(math.radians(fovy_deg) / 2.0)
        u = (np.arange(self.width) + 0.5 - 0.5 * self.width) / f
        v = (np.arange(self.height) + 0.5 - 0.5 * self.height) / f
        return np.stack([*np.meshgrid(u, v), np.ones((self.height, self.width))], axis=-1)

    def render(self, data: Any, camera: str, modality: str) -> np.ndarray:
        if camera not in self._camera_ids:
            raise ConfigError(f"unknown camera {camera!r}; the twin has {', '.join(self._camera_ids)}")
        if modality not in MODALITIES:
            raise ConfigError(f"unknown modality {modality!r}; choose one of {', '.join(MODALITIES)}")
        r = self._rgb_renderer() if modality == "rgb" else self._id_renderer()
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
        return depth if modality == "depth" else self._normals(camera, depth, data.cam_xmat[self._camera_ids[camera]])

    def render_frames(self, data: Any, camera: str, modalities: Sequence[str]) -> dict[str, np.ndarray]:
        """Several modalities of one camera, each exactly as ``render`` draws it, from one scene update and at
        most two passes: rgb, and one segmentation pass whose colour buffer gives the labels and whose depth
        buffer gives depth and normals (``mujoco.Renderer`` draws its depth pass in segmentation mode too)."""
        if camera not in self._camera_ids:
            raise ConfigError(f"unknown camera {camera!r}; the twin has {', '.join(self._camera_ids)}")
        for modality in modalities:
            if modality not in MODALITIES:
                raise ConfigError(f"unknown modality {modality!r}; choose one of {', '.join(MODALITIES)}")
        data = self._scene.sync(data)
        out: dict[str, np.ndarray] = {}
        if "rgb" in modalities:
            r = self._rgb_renderer()
            r.update_scene(data, camera=camera, scene_option=self._option)
            r.disable_depth_rendering()
            r.disable_segmentation_rendering()
            out["rgb"] = r.render()
        if any(m != "rgb" for m in modalities):
            r = self._id_renderer()
            r.update_scene(data, camera=camera, scene_option=self._option)
            ids, raw_depth = self._id_pass(r)
            if "semantic_segmentation" in modalities:
                out["semantic_segmentation"] = ids
            if "depth" in modalities or "normals" in modalities:
                depth = self._depth(raw_depth)
                if "depth" in modalities:
                    out["depth"] = depth
                if "normals" in modalities:
                    out["normals"] = self._normals(camera, depth, data.cam_xmat[self._camera_ids[camera]])
        return {m: out[m] for m in modalities}

    def _id_pass(self, r: Any) -> tuple[np.ndarray, np.ndarray]:
        """One segmentation-mode pass of renderer ``r`` read back twice: (segmentation colours, metric depth),
        both as the ``mujoco.Renderer`` segmentation and depth passes of the same scene would return them."""
        mj = self._mujoco
        scene, rect, context = r.scene, r._rect, r._mjr_context  # noqa: SLF001 (the renderer's own GL state)
        flags = scene.flags.copy()
        ids = np.empty((self.height, self.width, 3), dtype=np.uint8)
        depth = np.empty((self.height, self.width), dtype=np.float32)
        try:
            scene.flags[mj.mjtRndFlag.mjRND_SEGMENT] = True
            scene.flags[mj.mjtRndFlag.mjRND_IDCOLOR] = True
            if r._gl_context:  # noqa: SLF001
                r._gl_context.make_current()  # noqa: SLF001
            mj.mjr_render(rect, scene, context)
            mj.mjr_readPixels(ids, depth, rect, context)
        finally:
            np.copyto(scene.flags, flags)
        # Segment ids: 0 is the background, id + 1 a scene geom; a geom of the model gets its label's colour.
        background = len(self._colors) - 1
        lut = np.full(scene.ngeom + 1, background, dtype=np.intp)
        geom_type = int(mj.mjtObj.mjOBJ_GEOM)
        for g in scene.geoms[:scene.ngeom]:
            if g.segid != -1 and g.objtype == geom_type and g.objid >= 0:
                lut[g.segid + 1] = g.objid
        kernel = deps.physics_kernel()
        if kernel is not None:  # the same mapping in one compiled pass
            seg = kernel.segment_colours(ids, lut, self._colors)
        else:
            code = ids.astype(np.uint32)
            seg = self._colors[lut[code[..., 0] + (code[..., 1] << 8) + (code[..., 2] << 16)]]
        # Reversed-z window depth to metres, with the renderer's float32 coefficients and float64 division.
        m = self._model
        far, near = np.float32(m.vis.map.zfar * m.stat.extent), np.float32(m.vis.map.znear * m.stat.extent)
        c = np.float32(-0.5) * (-(far + near) / (far - near)) - np.float32(0.5)
        d = np.float32(-0.5) * (-(np.float32(2) * far * near) / (far - near))
        metres = (d / (depth.astype(np.float64) + c)).astype(np.float32)
        return np.flipud(seg), np.flipud(metres)

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

    def _normals(self, camera: str, depth: np.ndarray, cam_xmat: np.ndarray) -> np.ndarray:
        """World-frame normals from a depth image (optical frame: x right, y down, z forward): the cross
        product of the back-projected points' image gradients, worked out one coordinate plane at a time."""
        optical_to_world = cam_xmat.reshape(3, 3) @ np.diag([1.0, -1.0, -1.0])
        kernel = deps.physics_kernel()
        if kernel is not None:  # the same numbers from one compiled pass (``kernel.optical_normals``)
            n3, inside = kernel.optical_normals(depth, self._ray_planes[camera][0], self._ray_planes[camera][1])
            world = n3 @ optical_to_world.T
            world[~inside] = 0.0
            return world.astype(np.float32)
        hit = np.isfinite(depth)
        d = np.where(hit, depth, 0.0).astype(np.float64)
        rays = self._rays[camera]
        p = [rays[..., k] * d for k in range(3)]
        du = [_gradient(c, 1) for c in p]
        dv = [_gradient(c, 0) for c in p]
        n = [du[1] * dv[2] - du[2] * dv[1], du[2] * dv[0] - du[0] * dv[2], du[0] * dv[1] - du[1] * dv[0]]
        norm = np.sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2])
        n = [np.divide(c, norm, out=np.zeros_like(c), where=norm > 1e-12) for c in n]
        facing = (n[0] * p[0] + n[1] * p[1]) + n[2] * p[2] > 0.0  # flip normals that point away from the camera
        for c in n:
            np.negative(c, out=c, where=facing)
        world = np.stack(n, axis=-1) @ optical_to_world.T
        inside = hit.copy()  # gradients across a silhouette mix two surfaces: keep pixels with hit neighbours
        inside[1:, :] &= hit[:-1, :]
        inside[:-1, :] &= hit[1:, :]
        inside[:, 1:] &= hit[:, :-1]
        inside[:, :-1] &= hit[:, 1:]
        world[~inside] = 0.0
        return world.astype(np.float32)

    def close(self) -> None:
        for finalizer in self._finalizers:
            finalizer()


def _gradient(f: np.ndarray, axis: int) -> np.ndarray:
    """``np.gradient(f, axis=axis)`` of a 2-D array (central differences, one-sided at the edges)."""
    g = np.moveaxis(np.empty_like(f), axis, 0)
    f = np.moveaxis(f, axis, 0)
    np.subtract(f[2:], f[:-2], out=g[1:-1])
    g[1:-1] /= 2.0
    g[0] = f[1] - f[0]
    g[-1] = f[-1] - f[-2]
    return np.moveaxis(g, 0, axis)


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
