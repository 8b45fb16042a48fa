"""A render-only copy of the twin's model with lighter Panda meshes.

The Panda's visual meshes from dm-robotics-panda have 134,300 triangles. Without a GPU, Mesa's software
OpenGL spends most of a frame transforming them (about 14 of 17 ms for ``table_cam`` at 176 x 320, and
the same at 32 x 64: the cost is per triangle, not per pixel). The cameras therefore draw a copy of
the model whose meshes keep a fraction of their triangles (``CameraParams.mesh_detail``), while the
physics keeps the original model untouched: nothing here changes a simulated number.

The meshes are coloured by a small palette texture (dark grey, white, light grey and a few accents)
through per-corner texture coordinates, which a decimated mesh no longer has. So each textured mesh is
split into one part per palette colour (the texel under each triangle's centroid), each part is
decimated on its own and drawn in its colour with the original material's lighting; meshes without a
texture are decimated whole. Decimation is quadric-error edge collapse from ``fast-simplification``.

The copy has the same bodies, joints and cameras as the physics model, so a state is carried over by
copying ``qpos`` and running forward kinematics (``RenderModel.sync``).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from mimicforge.backends.mujoco.params import TwinParams
from mimicforge.errors import BackendUnavailable

_MIN_TRIANGLES = 16  # parts are not decimated below this


def _decimate(vertices: np.ndarray, faces: np.ndarray, keep: float) -> tuple[np.ndarray, np.ndarray]:
    """(vertices, faces) with about ``keep`` of the triangles, unused vertices dropped."""
    if keep < 1.0 and len(faces) * keep >= _MIN_TRIANGLES:
        try:
            import fast_simplification
        except ImportError:
            raise BackendUnavailable(
                "rendering with mesh_detail < 1 needs fast-simplification: pip install 'mimicforge[sim]' "
                "(or set the camera mesh detail to 1.0)"
            ) from None
        v, f = fast_simplification.simplify(vertices, faces, target_reduction=1.0 - keep)
        if len(f) >= _MIN_TRIANGLES:
            vertices, faces = np.asarray(v, dtype=np.float64), np.asarray(f, dtype=np.int64)
    used, compact = np.unique(faces, return_inverse=True)
    return vertices[used], compact.reshape(faces.shape)


@dataclass(frozen=True)
class _Part:
    vertices: np.ndarray  # (n, 3) in the compiled mesh's frame
    faces: np.ndarray  # (m, 3)
    rgba: tuple[float, float, float, float] | None  # None: the geom's own material


def _mesh_parts(model: Any, mesh: int, texture: np.ndarray | None, keep: float) -> list[_Part]:
    va, vn = model.mesh_vertadr[mesh], model.mesh_vertnum[mesh]
    fa, fn = model.mesh_faceadr[mesh], model.mesh_facenum[mesh]
    vertices = np.asarray(model.mesh_vert[va:va + vn], dtype=np.float64)
    faces = np.asarray(model.mesh_face[fa:fa + fn], dtype=np.int64)
    if texture is None or model.mesh_texcoordnum[mesh] == 0:
        return [_Part(*_decimate(vertices, faces, keep), None)]
    ta = model.mesh_texcoordadr[mesh]
    uv = np.asarray(model.mesh_texcoord[ta:ta + model.mesh_texcoordnum[mesh]], dtype=np.float64)
    centroid = uv[np.asarray(model.mesh_facetexcoord[fa:fa + fn])].mean(axis=1)
    h, w = texture.shape[:2]
    col = np.clip((centroid[:, 0] % 1.0 * w).astype(int), 0, w - 1)
    row = np.clip((centroid[:, 1] % 1.0 * h).astype(int), 0, h - 1)
    texel = texture[row, col, :3]
    colours, which = np.unique(texel, axis=0, return_inverse=True)
    parts = []
    for k, colour in enumerate(colours):
        v, f = _decimate(vertices, faces[which.reshape(-1) == k], keep)
        if len(v) >= 4:  # MuJoCo's least mesh; a lone triangle of an accent colour is left out
            parts.append(_Part(v, f, (*(float(c) / 255.0 for c in colour), 1.0)))
    return parts


def _texture(mujoco: ModuleType, model: Any, material: int) -> np.ndarray | None:
    """The 2-D colour texture of a material, (H, W, C) uint8, or None."""
    if material < 0:
        return None
    tex = int(model.mat_texid[material, mujoco.mjtTextureRole.mjTEXROLE_RGB])
    if tex < 0 or model.tex_type[tex] != mujoco.mjtTexture.mjTEXTURE_2D:
        return None
    h, w, c = int(model.tex_height[tex]), int(model.tex_width[tex]), int(model.tex_nchannel[tex])
    adr = int(model.tex_adr[tex])
    return np.asarray(model.tex_data[adr:adr + h * w * c], dtype=np.uint8).reshape(h, w, c)


def build_render_spec(mujoco: ModuleType, params: TwinParams, model: Any) -> Any:
    """The scene's spec with every mesh geom replaced by its decimated, palette-coloured parts."""
    from mimicforge.backends.mujoco.scene import build_spec

    keep = params.camera.mesh_detail
    spec = build_spec(params)
    parts_of: dict[int, list[_Part]] = {}
    added_materials: dict[tuple[int, tuple[float, ...]], str] = {}
    added_meshes: set[str] = set()
    # A mesh geom is found again in the spec by its body and mesh (the Panda's are mostly unnamed).
    in_spec = {(e.parent.name, e.meshname): e for e in spec.geoms if e.type == mujoco.mjtGeom.mjGEOM_MESH}
    for g in range(model.ngeom):
        if model.geom_type[g] != mujoco.mjtGeom.mjGEOM_MESH:
            continue
        mesh, material = int(model.geom_dataid[g]), int(model.geom_matid[g])
        if mesh not in parts_of:
            parts_of[mesh] = _mesh_parts(model, mesh, _texture(mujoco, model, material), keep)
        old = in_spec.pop((model.body(int(model.geom_bodyid[g])).name, model.mesh(mesh).name))
        body = old.parent
        for k, part in enumerate(parts_of[mesh]):
            mesh_name = f"{model.mesh(mesh).name}_part{k}"
            if mesh_name not in added_meshes:
                added_meshes.add(mesh_name)
                spec.add_mesh(name=mesh_name, uservert=part.vertices.astype(np.float32).ravel().tolist(),
                              userface=part.faces.astype(np.int32).ravel().tolist(),
                              inertia=mujoco.mjtMeshInertia.mjMESH_INERTIA_SHELL)
            material_name = old.material
            if part.rgba is not None:
                key = (material, part.rgba)
                if key not in added_materials:
                    base = model.mat(material)
                    added_materials[key] = f"{base.name}_{len(added_materials)}"
                    spec.add_material(name=added_materials[key], rgba=list(part.rgba),
                                      specular=float(model.mat_specular[material]),
                                      shininess=float(model.mat_shininess[material]),
                                      reflectance=float(model.mat_reflectance[material]),
                                      emission=float(model.mat_emission[material]))
                material_name = added_materials[key]
            # The part's vertices are in the compiled mesh's frame, which the compiled geom pose places.
            body.add_geom(name=f"visual_{g}_part{k}", type=mujoco.mjtGeom.mjGEOM_MESH, meshname=mesh_name,
                          material=material_name, pos=model.geom_pos[g].tolist(),
                          quat=model.geom_quat[g].tolist(), group=int(model.geom_group[g]),
                          contype=0, conaffinity=0, density=0.0)
        spec.delete(old)
    for mesh in range(model.nmesh):
        spec.delete(spec.mesh(model.mesh(mesh).name))
    return spec


class RenderModel:
    """What the cameras draw: the physics model itself (``mesh_detail`` 1.0) or its lighter copy."""

    def __init__(self, mujoco: ModuleType, params: TwinParams, model: Any) -> None:
        self._mujoco = mujoco
        if params.camera.mesh_detail >= 1.0:
            self.model, self.data = model, None
        else:
            self.model = build_render_spec(mujoco, params, model).compile()
            self.data = mujoco.MjData(self.model)

    @property
    def triangles(self) -> int:
        m = self.model
        return int(sum(m.mesh_facenum[m.geom_dataid[g]] for g in range(m.ngeom)
                       if m.geom_type[g] == self._mujoco.mjtGeom.mjGEOM_MESH))

    def sync(self, data: Any) -> Any:
        """The data to draw for the physics state ``data`` (itself, or the copy at the same state)."""
        if self.data is None:
            return data
        self.data.qpos[:] = data.qpos
        self._mujoco.mj_kinematics(self.model, self.data)
        self._mujoco.mj_camlight(self.model, self.data)
        return self.data
