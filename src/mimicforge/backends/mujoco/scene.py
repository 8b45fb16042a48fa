"""Compose the stack scene with ``mujoco.MjSpec``: Panda, table, ground, three cubes, two cameras.

The Panda comes from the ``dm-robotics-panda`` wheel at run time (its MJCF and meshes; nothing is
copied into this project). Its kinematics equal Isaac Lab's Franka once the hand is attached to
``panda_link7`` at +0.107 m, rotated -45 degrees about z (the real flange), and its joint and body
names already are Isaac's. What the package models differently from Isaac's high-PD Franka is
replaced: joint friction and damping (Isaac's have none), the finger coupling and the tendon actuator
(Isaac drives each finger with its own servo), and the collision pads (thickness calibrated).

Collision groups keep the contact search small: cubes collide with everything; the table with cubes
and the hand; the arm links only with cubes; the robot never with itself (Isaac's joint limits and
the task's motions keep it clear).
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from mimicforge.backends.mujoco import deps
from mimicforge.backends.mujoco.params import ARM_JOINTS, CUBES, FINGER_JOINTS, TwinParams
from mimicforge.geometry import quat_mul
from mimicforge.errors import BackendUnavailable

log = logging.getLogger(__name__)

# contype / conaffinity bits
_TABLE_BIT = 1
_CUBE_BIT = 2

# Isaac's Blueprint cameras: position and "ros"-convention orientation (w, x, y, z) in the env frame,
# pinhole with focal length 24 mm and horizontal aperture 20.955 mm (spec §3.7).
CAMERAS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float, float]]] = {
    "table_cam": ((1.0, 0.0, 0.33), (-0.3799, 0.5963, 0.5963, -0.3799)),
    "table_high_cam": ((1.4, 1.8, 1.2), (-0.1393, 0.2025, 0.8185, -0.5192)),
}
FOCAL_LENGTH_MM = 24.0
HORIZONTAL_APERTURE_MM = 20.955
TABLE_BODY = "table"
GROUND_GEOM = "ground"
_HAND_PREFIX = "hand:"


# The Visuomotor stack task's cameras (Isaac Lab ``stack_ik_rel_visuomotor_env_cfg.py``), same lens as above:
# MuJoCo camera name -> (parent body or None for the env frame, position, "ros" orientation (w, x, y, z)).
# Its ``table_cam`` sits higher than the Blueprint's, so the twin names it ``visuomotor_table_cam``.
VISUOMOTOR_CAMERAS: dict[str, tuple[str | None, tuple[float, float, float], tuple[float, float, float, float]]] = {
    "visuomotor_table_cam": (None, (1.0, 0.0, 0.4), (0.35355, -0.61237, -0.61237, 0.35355)),
    "wrist_cam": ("panda_hand", (0.13, 0.0, -0.15), (-0.70614, 0.03701, 0.03701, -0.70614)),
}
VISUOMOTOR_SENSORS = {"table_cam": "visuomotor_table_cam", "wrist_cam": "wrist_cam"}  # Isaac name -> ours


def ros_to_mujoco_camera(quat_ros: tuple[float, float, float, float]) -> np.ndarray:
    """ROS cameras look along +z with y down; MuJoCo's look along -z with y up: turn 180 degrees about x."""
    q = np.asarray(quat_ros, dtype=np.float64)
    q = quat_mul(q / np.linalg.norm(q), np.array([0.0, 1.0, 0.0, 0.0]))
    return q / np.linalg.norm(q)


def vertical_fov_deg(height: int, width: int) -> float:
    """Isaac derives the vertical aperture from the horizontal one and the image aspect."""
    vertical_aperture = HORIZONTAL_APERTURE_MM * height / width
    return math.degrees(2.0 * math.atan(0.5 * vertical_aperture / FOCAL_LENGTH_MM))


def _load_panda(mujoco: ModuleType, params: TwinParams) -> Any:
    """The arm spec with the hand attached, cleaned of what Isaac's Franka does not have."""
    folder = deps.panda_asset_dir()
    arm = mujoco.MjSpec.from_file(str(folder / "panda.xml"))
    hand = mujoco.MjSpec.from_file(str(folder / "panda_hand.xml"))
    for collection in (hand.equalities, hand.tendons, hand.actuators, hand.textures, hand.materials,
                       hand.sites):
        for element in list(collection):
            hand.delete(element)
    for collection in (arm.sensors, arm.sites):
        for element in list(collection):
            arm.delete(element)
    arm.delete(arm.body("panda_link8"))  # a frame only; Isaac's hand hangs off panda_link7
    half = -math.pi / 8.0  # -45 degrees about z
    flange = arm.body("panda_link7").add_frame(pos=[0.0, 0.0, 0.107], quat=[math.cos(half), 0, 0, math.sin(half)])
    flange.attach_body(hand.body("panda_hand"), _HAND_PREFIX, "")
    # Isaac's names carry no prefix: strip the one attaching needs.
    for collection in (arm.bodies, arm.joints, arm.geoms):
        for element in collection:
            if element.name.startswith(_HAND_PREFIX):
                element.name = element.name[len(_HAND_PREFIX):]
    for geom in arm.geoms:  # the hand's materials were dropped in favour of the arm's, same names
        if geom.material.startswith(_HAND_PREFIX):
            geom.material = geom.material[len(_HAND_PREFIX):]
    return arm


def _configure_robot(mujoco: ModuleType, spec: Any, params: TwinParams) -> None:
    c, s = params.control, params.scene
    for name, armature in zip(ARM_JOINTS, c.arm_armature, strict=True):
        j = spec.joint(name)
        j.damping = [c.arm_extra_damping, 0.0, 0.0]
        j.frictionloss = 0.0
        j.armature = armature
    for name in FINGER_JOINTS:
        j = spec.joint(name)
        j.damping = [c.finger_extra_damping, 0.0, 0.0]
        j.frictionloss = 0.0
        j.armature = c.finger_armature
        j.range = [0.0, c.finger_open]
    for g in spec.geoms:
        if g.type == mujoco.mjtGeom.mjGEOM_MESH:
            body = g.parent.name
            if body in ("panda_leftfinger", "panda_rightfinger"):
                g.contype, g.conaffinity = 0, 0
            else:
                g.contype = 0
                g.conaffinity = _CUBE_BIT | (_TABLE_BIT if body == "panda_hand" else 0)
    for name in ("panda_leftfinger", "panda_rightfinger"):
        spec.delete(spec.geom(f"{name}_collision"))
        finger = spec.body(name)
        for part, box in finger_boxes(s).items():
            center, half = box
            finger.add_geom(name=f"{name}_{part}", type=mujoco.mjtGeom.mjGEOM_BOX, pos=center, size=half,
                            contype=0, conaffinity=_CUBE_BIT | _TABLE_BIT, condim=4, friction=list(s.friction),
                            solref=list(s.contact_solref), rgba=[0.0, 0.0, 0.0, 0.0], group=3)


def finger_boxes(s: Any) -> dict[str, tuple[list[float], list[float]]]:
    """Collision boxes of one finger in its own frame (the joint slides along +y, the pad faces -y).

    Fitted to the finger mesh of the package: a fingertip pad (the only part that touches a held cube)
    and the recessed upper finger. The pad's inner face sits ``finger_pad_inset`` inside the mesh.
    """
    inset = s.finger_pad_inset
    pad_lo, pad_hi = s.finger_pad_z
    pad_y = (-inset, s.finger_pad_depth)
    body_y = s.finger_body_y
    return {
        "pad": ([0.0, 0.5 * (pad_y[0] + pad_y[1]), 0.5 * (pad_lo + pad_hi)],
                [s.finger_pad_half_width, 0.5 * (pad_y[1] - pad_y[0]), 0.5 * (pad_hi - pad_lo)]),
        "body": ([0.0, 0.5 * (body_y[0] + body_y[1]), 0.5 * pad_lo],
                 [s.finger_body_half_width, 0.5 * (body_y[1] - body_y[0]), 0.5 * pad_lo]),
    }


def _add_actuators(mujoco: ModuleType, spec: Any, params: TwinParams) -> None:
    c = params.control
    limits = c.arm_force_limit
    for i, name in enumerate(ARM_JOINTS):
        a = spec.add_actuator(name=f"{name}_servo", target=name, trntype=mujoco.mjtTrn.mjTRN_JOINT)
        a.set_to_position(kp=c.arm_kp, kv=c.arm_kv)
        a.ctrllimited = 0
        if limits is not None:
            a.forcelimited = 1
            a.forcerange = [-limits[i], limits[i]]
    for name in FINGER_JOINTS:
        a = spec.add_actuator(name=f"{name}_servo", target=name, trntype=mujoco.mjtTrn.mjTRN_JOINT)
        a.set_to_position(kp=c.finger_kp, kv=c.finger_kv)
        a.ctrllimited = 0


def _add_world(mujoco: ModuleType, spec: Any, params: TwinParams) -> None:
    s = params.scene
    top = s.table_top_z
    table = spec.worldbody.add_body(name=TABLE_BODY, pos=[s.table_center[0], s.table_center[1], 0.0])
    table.add_geom(name="table_top", type=mujoco.mjtGeom.mjGEOM_BOX,
                   size=[s.table_half_extent[0], s.table_half_extent[1], 0.5 * s.table_thickness],
                   pos=[0.0, 0.0, top - 0.5 * s.table_thickness], rgba=[0.62, 0.5, 0.38, 1.0],
                   contype=_TABLE_BIT, conaffinity=_TABLE_BIT | _CUBE_BIT, friction=list(s.friction),
                   solref=list(s.contact_solref))
    leg = 0.5 * (s.table_height - s.table_thickness)
    table.add_geom(name="table_stand", type=mujoco.mjtGeom.mjGEOM_BOX,
                   size=[s.table_half_extent[0] - 0.05, s.table_half_extent[1] - 0.05, leg],
                   pos=[0.0, 0.0, top - s.table_thickness - leg], rgba=[0.35, 0.35, 0.38, 1.0],
                   contype=0, conaffinity=0)
    spec.worldbody.add_geom(name=GROUND_GEOM, type=mujoco.mjtGeom.mjGEOM_PLANE, size=[5.0, 5.0, 0.1],
                            pos=[0.0, 0.0, top - s.table_height], rgba=[0.45, 0.45, 0.45, 1.0],
                            contype=0, conaffinity=0)
    half = 0.5 * s.cube_edge
    for i, name in enumerate(CUBES):
        body = spec.worldbody.add_body(name=name, pos=[0.4 + 0.1 * i, 0.0, s.cube_rest_z])
        body.add_freejoint(name=f"{name}_joint")
        body.add_geom(name=name, type=mujoco.mjtGeom.mjGEOM_BOX, size=[half, half, half],
                      density=s.cube_density, rgba=list(s.cube_rgba[i]), condim=4,
                      contype=_TABLE_BIT | _CUBE_BIT, conaffinity=_TABLE_BIT | _CUBE_BIT,
                      friction=list(s.friction), solref=list(s.contact_solref))
    spec.worldbody.add_light(name="key", pos=[0.5, 0.0, 2.5], dir=[0.0, 0.0, -1.0], castshadow=False,
                             diffuse=[0.6, 0.6, 0.6], specular=[0.1, 0.1, 0.1])
    spec.worldbody.add_light(name="fill", pos=[1.6, 1.2, 1.5], dir=[-0.7, -0.5, -0.5], castshadow=False,
                             diffuse=[0.3, 0.3, 0.3], specular=[0.0, 0.0, 0.0])
    fovy = vertical_fov_deg(params.camera.height, params.camera.width)
    for name, (pos, quat_ros) in CAMERAS.items():
        spec.worldbody.add_camera(name=name, pos=list(pos), quat=list(ros_to_mujoco_camera(quat_ros)), fovy=fovy)
    fovy = vertical_fov_deg(params.image_obs.height, params.image_obs.width)
    for name, (parent, pos, quat_ros) in VISUOMOTOR_CAMERAS.items():
        body = spec.worldbody if parent is None else spec.body(parent)
        body.add_camera(name=name, pos=list(pos), quat=list(ros_to_mujoco_camera(quat_ros)), fovy=fovy)


def build_spec(params: TwinParams) -> Any:
    """The full scene as an ``MjSpec`` (compile with ``.compile()``)."""
    mujoco = deps.import_mujoco()
    spec = _load_panda(mujoco, params)
    spec.modelname = "franka_cube_stack"
    c, s = params.control, params.scene
    spec.option.timestep = c.physics_dt / c.substeps
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    spec.option.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
    spec.option.impratio = s.impratio
    spec.visual.global_.offwidth = max(640, params.camera.width)
    spec.visual.global_.offheight = max(480, params.camera.height)
    spec.visual.quality.shadowsize = 0
    spec.stat.extent = 1.5
    spec.stat.center = [0.5, 0.0, 0.2]
    _configure_robot(mujoco, spec, params)
    _add_actuators(mujoco, spec, params)
    _add_world(mujoco, spec, params)
    return spec


# Frames on the hand that the controller and the observations read at every physics step, as sites so
# that MuJoCo's kinematics computes their poses (hand position + hand rotation @ offset, as before) and
# ``mj_jacSite`` their Jacobians. A group no camera draws; the render-only model does not have them.
HAND_SITES = {"ik_frame": "ik_offset", "eef_frame": "eef_offset", "jacobian_reference": "jacobian_reference"}
_HIDDEN_SITE_GROUP = 5


def build_model(params: TwinParams) -> Any:
    """Compile the scene; MuJoCo's compile errors become BackendUnavailable (a broken model install)."""
    spec = build_spec(params)
    hand = spec.body("panda_hand")
    for name, offset in HAND_SITES.items():
        hand.add_site(name=name, pos=list(getattr(params.control, offset)), group=_HIDDEN_SITE_GROUP)
    mujoco = deps.import_mujoco()
    cached = None
    folder = model_cache_dir()
    if folder is not None:
        cached = folder / f"{_model_key(mujoco, params)}.mjb"
        if cached.is_file():
            try:
                return mujoco.MjModel.from_binary_path(str(cached))
            except (OSError, ValueError):
                pass  # unreadable (a disk error, a foreign file): compile and write it again
    try:
        model = spec.compile()
    except ValueError as exc:
        raise BackendUnavailable(
            f"the Panda model from dm-robotics-panda does not compile ({str(exc).strip().splitlines()[0]}); "
            f"reinstall it with: {deps.PIP_PANDA} --force-reinstall"
        ) from None
    if cached is not None:
        _keep(mujoco, model, cached)
    return model


# A new process's first compile of the scene takes about 0.7 s, nearly all of it MuJoCo decoding and
# hulling the Panda's meshes; loading the compiled model from MuJoCo's own binary format (MJB) takes
# about 0.05 s. Every worker and command that builds a twin pays the compile, so the compiled model is
# kept, keyed by everything the compiled scene depends on: MuJoCo's version, the twin's parameters, the
# code that builds the scene from them (this module and the ones it reads) and the Panda's model files.
# (The scene's own XML would be a finer key, but MuJoCo compiles the spec to write it.)
MODEL_CACHE_ENV = "MIMICFORGE_MODEL_CACHE"
_MODEL_CACHE_KEEP = 8  # compiled scenes kept (about 28 MB each); the least recently written go first
_STALE_WRITE_S = 600.0  # a temporary file this old belongs to a write that was killed


def model_cache_dir() -> Path | None:
    """``$MIMICFORGE_MODEL_CACHE`` (``0`` turns the cache off), else ``$XDG_CACHE_HOME/mimicforge/models``."""
    value = os.environ.get(MODEL_CACHE_ENV)
    if value is not None and value.strip() in ("0", "off", ""):
        return None
    if value:
        return Path(value)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mimicforge" / "models"


def _model_key(mujoco: ModuleType, params: TwinParams) -> str:
    from mimicforge import geometry
    from mimicforge.backends.mujoco import params as params_module

    digest = hashlib.sha256(f"mujoco {mujoco.__version__}\n{params!r}\n".encode())
    for module in (__file__, params_module.__file__, geometry.__file__, deps.__file__):
        digest.update(Path(module).read_bytes())
    for path in sorted(deps.panda_asset_dir().rglob("*")):
        if path.is_file():
            st = path.stat()
            digest.update(f"{path}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:32]


def _keep(mujoco: ModuleType, model: Any, path: Path) -> None:
    """Write the compiled model atomically (a temporary name, then a rename) and prune old entries; a cache
    that cannot be written is only a slower start, never an error."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        mujoco.mj_saveModel(model, str(tmp), None)
        os.replace(tmp, path)
        entries = sorted(path.parent.glob("*.mjb"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
        for old in entries[_MODEL_CACHE_KEEP:]:
            old.unlink(missing_ok=True)
        # A process killed inside its write leaves its temporary file; one untouched for longer than any write
        # takes (about 0.1 s) is such a leftover, whichever machine sharing the folder wrote it.
        for stale in path.parent.glob(".*.mjb.*"):
            if time.time() - stale.stat().st_mtime > _STALE_WRITE_S:
                stale.unlink(missing_ok=True)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        log.debug("compiled model not cached in %s: %s", path.parent, exc)
