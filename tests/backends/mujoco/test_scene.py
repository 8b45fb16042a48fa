"""The scene: Isaac Lab's names, the real robot's kinematics, the cube geometry and the camera poses."""

from __future__ import annotations

import dataclasses
import os
import time

import h5py
import mujoco
import numpy as np

from mimicforge.backends.mujoco import scene
from mimicforge.backends.mujoco.params import ARM_JOINTS, FINGER_JOINTS, TwinParams
from mimicforge.geometry import quat_to_mat

ISAAC_BODIES = {f"panda_link{i}" for i in range(8)} | {"panda_hand", "panda_leftfinger", "panda_rightfinger"}


def test_names_are_isaac_labs(twin) -> None:
    m = twin.model
    bodies = {m.body(i).name for i in range(m.nbody)}
    assert ISAAC_BODIES <= bodies
    assert {"cube_1", "cube_2", "cube_3"} <= bodies
    joints = [m.joint(i).name for i in range(m.njnt)]
    assert joints[:9] == [*ARM_JOINTS, *FINGER_JOINTS]  # Isaac's joint order: obs/joint_pos columns


def test_forward_kinematics_match_the_recorded_end_effector(twin, source_path) -> None:
    """The end effector computed from each demo's first joint state equals Isaac's to a micrometre."""
    m, d = twin.model, twin.data
    hand = m.body("panda_hand").id
    with h5py.File(source_path, "r") as f:
        for name in f["data"]:
            g = f["data"][name]
            d.qpos[:9] = g["initial_state/articulation/robot/joint_position"][0]
            mujoco.mj_kinematics(m, d)
            eef = d.xpos[hand] + d.xmat[hand].reshape(3, 3) @ [0, 0, 0.1034]
            assert np.abs(eef - g["obs/eef_pos"][0]).max() < 1e-6, name
            recorded = quat_to_mat(g["obs/eef_quat"][0].astype(np.float64))
            assert np.abs(d.xmat[hand].reshape(3, 3) - recorded).max() < 1e-5, name


def test_cubes_rest_at_isaacs_height_and_stack_at_the_cube_edge(twin) -> None:
    twin.reset(seed=3)
    hold = np.zeros(7)
    hold[6] = 1.0
    for _ in range(20):
        obs = twin.step(hold)
    z = obs["cube_positions"][2::3]
    np.testing.assert_allclose(z, 0.0203, atol=2e-4)
    m = twin.model
    half = m.geom_size[m.geom("cube_1").id]
    np.testing.assert_allclose(half, 0.0234)


def test_camera_optical_axes_match_the_spec(twin) -> None:
    """table_cam looks along -x, 25 degrees down, hitting the table plane at x = 0.292."""
    d, m = twin.data, twin.model
    mujoco.mj_forward(m, d)
    cam = m.camera("table_cam").id
    forward = -d.cam_xmat[cam].reshape(3, 3)[:, 2]
    pos = d.cam_xpos[cam]
    np.testing.assert_allclose(pos, [1.0, 0.0, 0.33], atol=1e-9)
    hit = pos + forward * (-pos[2] / forward[2])
    np.testing.assert_allclose(hit[:2], [0.292, 0.0], atol=2e-3)
    high = m.camera("table_high_cam").id
    np.testing.assert_allclose(-d.cam_xmat[high].reshape(3, 3)[:, 2], [-0.438, -0.794, -0.422], atol=2e-3)
    # Isaac's 704 x 1280 pinhole has a 27.0 degree vertical field of view; the aspect is kept at any size
    assert abs(scene.vertical_fov_deg(704, 1280) - 27.0) < 0.05
    assert abs(m.cam_fovy[cam] - scene.vertical_fov_deg(176, 320)) < 1e-9


def test_calibrated_choices_are_named_parameters() -> None:
    c = TwinParams().control
    assert c.jacobian_reference == (0.0, 0.0, 0.025) and c.jacobian_offset_unrotated
    assert c.arm_force_limit is None and c.arm_extra_damping == 2.0 and c.hold_increment


def _model_bytes(model: object) -> np.ndarray:
    buf = np.zeros(mujoco.mj_sizeModel(model), np.uint8)
    mujoco.mj_saveModel(model, None, buf)
    return buf


def test_the_compiled_scene_is_kept_and_reused_per_parameters(tmp_path, monkeypatch) -> None:
    """``build_model`` keeps MuJoCo's compiled model (MJB) in ``MIMICFORGE_MODEL_CACHE`` and loads it next
    time: the loaded model is byte for byte the compiled one; other parameters get their own entry; an
    unreadable entry is compiled and written again, and a killed write's old temporary file is removed;
    ``0`` keeps nothing."""
    monkeypatch.setenv(scene.MODEL_CACHE_ENV, str(tmp_path))
    params = TwinParams()
    fresh = scene.build_model(params)
    entries = list(tmp_path.glob("*.mjb"))
    assert len(entries) == 1 and not list(tmp_path.glob(".*"))  # no temporary file left
    entry = entries[0]
    stamp = entry.stat().st_mtime_ns
    loaded = scene.build_model(params)
    assert entry.stat().st_mtime_ns == stamp  # read, not written again
    assert np.array_equal(_model_bytes(loaded), _model_bytes(fresh))

    other = dataclasses.replace(params, scene=dataclasses.replace(params.scene, impratio=params.scene.impratio + 1.0))
    assert scene.build_model(other).opt.impratio == params.scene.impratio + 1.0
    assert len(list(tmp_path.glob("*.mjb"))) == 2

    # the temporary file of a write killed long ago is removed by the next write; one being written now stays
    killed, writing = tmp_path / f".{entry.name}.999999", tmp_path / f".{entry.name}.999998"
    killed.write_bytes(b"half a model")
    writing.write_bytes(b"a model being written")
    os.utime(killed, (time.time() - 3600, time.time() - 3600))
    entry.write_bytes(b"not a model")
    again = scene.build_model(params)
    assert np.array_equal(_model_bytes(again), _model_bytes(fresh))
    assert entry.stat().st_size == len(_model_bytes(fresh))  # rewritten whole
    assert not killed.exists() and writing.exists()
    writing.unlink()

    for entry in tmp_path.glob("*.mjb"):
        entry.unlink()
    monkeypatch.setenv(scene.MODEL_CACHE_ENV, "0")
    assert scene.model_cache_dir() is None
    scene.build_model(params)
    assert not list(tmp_path.iterdir())
