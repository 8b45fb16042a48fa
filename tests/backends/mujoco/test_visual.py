"""The cameras' lighter Panda meshes: the same picture for a fraction of the triangles, physics untouched."""

from __future__ import annotations

import numpy as np
import pytest

from mimicforge.backends.mujoco.params import CameraParams, TwinParams

ARM_POSE = [0.4, -0.3, 0.2, -2.2, 0.1, 2.0, 1.2]  # the hand over the cubes, not the reset pose


@pytest.fixture(scope="module")
def scene():
    """A physics model and data at a moved arm, and rigs drawing the full and the lighter meshes."""
    import mujoco

    from mimicforge.backends.mujoco.render import CameraRig
    from mimicforge.backends.mujoco.scene import build_model

    model = build_model(TwinParams())
    data = mujoco.MjData(model)
    data.qpos[:7] = ARM_POSE
    mujoco.mj_forward(model, data)
    full = CameraRig(mujoco, model, TwinParams(camera=CameraParams(mesh_detail=1.0)))
    light = CameraRig(mujoco, model, TwinParams())
    yield mujoco, model, data, full, light
    full.close()
    light.close()


def _agreement(a_rig, b_rig, data, camera):
    rgb = np.abs(a_rig.render(data, camera, "rgb").astype(int) - b_rig.render(data, camera, "rgb")).mean()
    seg = (a_rig.render(data, camera, "semantic_segmentation")
           != b_rig.render(data, camera, "semantic_segmentation")).any(axis=-1).mean()
    return rgb, seg


def test_lighter_meshes_keep_a_fifth_of_the_triangles_and_leave_physics_alone(scene) -> None:
    mujoco, model, _, _, _ = scene
    from mimicforge.backends.mujoco.visual import RenderModel

    assert RenderModel(mujoco, TwinParams(camera=CameraParams(mesh_detail=1.0)), model).model is model
    lighter = RenderModel(mujoco, TwinParams(), model)
    assert lighter.model is not model
    assert int(model.nmeshface) == 134300  # the package's meshes, as the physics uses them
    assert 0.15 * 134300 < lighter.triangles < 0.25 * 134300


@pytest.mark.parametrize("camera", ["table_cam", "table_high_cam"])
def test_lighter_meshes_draw_the_same_picture(scene, camera) -> None:
    _, _, data, full, light = scene
    rgb, seg = _agreement(full, light, data, camera)
    assert rgb < 2.0  # mean absolute difference, grey levels of 255
    assert seg < 1e-3  # share of pixels whose label differs


def test_palette_colours_come_through_the_split(scene) -> None:
    """At full detail the split into palette-coloured, untextured parts reproduces the textured original."""
    mujoco, model, data, full, _ = scene
    from mimicforge.backends.mujoco.render import CameraRig
    from mimicforge.backends.mujoco.visual import build_render_spec

    params = TwinParams(camera=CameraParams(mesh_detail=1.0))
    split = build_render_spec(mujoco, params, model).compile()
    assert int(split.nmeshface) >= 0.999 * int(model.nmeshface)
    meshes = [g for g in range(split.ngeom) if split.geom_type[g] == mujoco.mjtGeom.mjGEOM_MESH]
    assert all(int(np.max(split.mat_texid[split.geom_matid[g]])) < 0 for g in meshes)
    split_data = mujoco.MjData(split)
    split_data.qpos[:] = data.qpos
    mujoco.mj_forward(split, split_data)
    rig = CameraRig(mujoco, split, params)  # at detail 1.0 the rig draws the model it is given
    try:
        for camera in ("table_cam", "table_high_cam"):
            rgb = np.abs(full.render(data, camera, "rgb").astype(int) - rig.render(split_data, camera, "rgb"))
            assert rgb.mean() < 0.5
            assert (full.render(data, camera, "semantic_segmentation")
                    == rig.render(split_data, camera, "semantic_segmentation")).all()
    finally:
        rig.close()


def test_the_lighter_copy_follows_the_physics_state(scene) -> None:
    mujoco, model, data, full, light = scene
    moved = mujoco.MjData(model)
    moved.qpos[:] = data.qpos
    moved.qpos[:7] = [0.0, -0.57, 0.0, -2.81, 0.0, 3.04, 0.74]
    moved.qpos[9:12] = [0.5, 0.0, 0.3]  # cube_1 lifted in the air
    mujoco.mj_forward(model, moved)
    before = light.render(data, "table_high_cam", "semantic_segmentation")
    after = light.render(moved, "table_high_cam", "semantic_segmentation")
    assert (before != after).any(axis=-1).mean() > 0.005
    full_after = full.render(moved, "table_high_cam", "semantic_segmentation")
    assert (after != full_after).any(axis=-1).mean() < 1e-3
