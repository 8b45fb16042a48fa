"""Every number of the twin in one place: task geometry, physics, control, and the calibration choices.

Values marked *Isaac* are Isaac Lab 2.3's (``isaaclab-mimic-spec.md`` §3); values marked *calibrated*
were chosen by replaying NVIDIA's 10 human demos open loop and comparing the end effector with the
recorded one (``mujoco-notes.md`` § Calibration; ``mimicforge replay`` measures it). Each calibrated
choice is a field, so a dataset recorded with another Isaac Lab version can be matched by changing it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mimicforge.errors import ConfigError
from mimicforge.tasks import FRANKA_STACK

# Isaac's default arm pose (``set_default_joint_pose``) and the open fingers.
DEFAULT_JOINT_POS = (0.0444, -0.1894, -0.1107, -2.5148, 0.0044, 2.3775, 0.6952, 0.04, 0.04)
ARM_JOINTS = tuple(f"panda_joint{i}" for i in range(1, 8))
FINGER_JOINTS = ("panda_finger_joint1", "panda_finger_joint2")
CUBES = ("cube_1", "cube_2", "cube_3")


@dataclass(frozen=True, kw_only=True)
class SceneParams:
    """Geometry and contact model of the table, cubes and fingers."""

    cube_edge: float = FRANKA_STACK.object_size  # Isaac: stacked origin pitch of the real data
    cube_rest_z: float = 0.0203  # Isaac: resting cube origin height; the table top sits at rest_z - edge/2
    # Calibrated: the relative IK lets a carried load drag the hand down a little every step, and that
    # drift accumulates. The recorded demos show none while carrying; a 0.026 kg block (250 kg/m^3)
    # reproduces that (1000 kg/m^3 sinks 6-8 mm per carry and doubles the full-episode error).
    cube_density: float = 250.0
    cube_rgba: tuple[tuple[float, float, float, float], ...] = (
        (0.12, 0.28, 0.85, 1.0), (0.85, 0.12, 0.12, 1.0), (0.12, 0.68, 0.22, 1.0))  # blue, red, green
    table_center: tuple[float, float] = (0.5, 0.0)  # Isaac: table at (0.5, 0, 0)
    table_half_extent: tuple[float, float] = (0.7, 0.5)  # x, y; SeattleLabTable is about 1.4 x 1.0 m
    table_thickness: float = 0.05
    table_height: float = 1.05  # Isaac: ground plane at z = -1.05 under the table top
    # Calibrated: finger collision boxes fitted to the package's finger mesh, in the finger's frame
    # (joint along +y, pad facing -y): the fingertip pad, the only part that touches a held cube, and
    # the recessed finger above it. The package's single 24 x 30 x 44 mm box touches cube edges that
    # the human operators cleared by a millimetre and knocks cubes over in replay.
    finger_pad_half_width: float = 0.009
    finger_pad_z: tuple[float, float] = (0.036, 0.054)
    finger_pad_depth: float = 0.0144
    finger_body_half_width: float = 0.0105
    finger_body_y: tuple[float, float] = (0.0116, 0.0263)
    # Calibrated: how far each pad's inner face stands proud of the finger mesh, towards the cube. The data
    # hold a cube at a finger joint sum of 42.9 mm (mean of the 20 carries; 42.2-43.9), less than the 46.8 mm
    # cube, and the twin's pads sink 2.3 mm into a cube pinched at 46 N. Measured twin hold width against
    # this value (open-loop replay, same carries): 1.85 mm -> 46.0 mm, 0.45 -> 43.45, 0.15 -> 42.90, 0 -> 42.63.
    # Open fingers now clear a centred cube by 16.5 mm a side (1.85 mm left 14.8; rigid pads at Isaac's hold
    # width would leave 18.5). Generation rate unchanged within sampling noise (61/200 either way).
    finger_pad_inset: float = 0.00015
    # Contacts that hold a pinched cube without slip: elliptic cones, torsional friction on cube and pads.
    friction: tuple[float, float, float] = (1.0, 0.005, 0.0001)
    contact_solref: tuple[float, float] = (0.01, 1.0)
    impratio: float = 10.0

    @property
    def table_top_z(self) -> float:
        return self.cube_rest_z - 0.5 * self.cube_edge


@dataclass(frozen=True, kw_only=True)
class ControlParams:
    """Isaac's IK-Rel action pipeline and joint servos, with the calibrated choices that match its response."""

    physics_dt: float = 0.01  # Isaac: sim dt
    decimation: int = 5  # Isaac: physics steps per env step (20 Hz)
    # Calibrated: MuJoCo steps per Isaac physics step; the IK runs once per 10 ms physics step regardless,
    # as in Isaac. MuJoCo softens any contact faster than two time steps: at 10 ms a 46 N pinch sinks the
    # pads 6.8 mm into the cube (a cube pinched 15 mm off-centre held 6/10 times, generation 20 %). With the
    # wrist armature below, 2 (5 ms, the contacts' 10 ms time constant) measured as 3 did: replay 1.37 mm
    # and every signal on Isaac's step, held 10/10, generation 62/200 (3: 61/200), the scripted expert
    # 200/200, and 17 % less time. Without the armature 3 was the fewest that carried every demo's cube.
    substeps: int = 2
    action_scale: float = 0.5  # Isaac: DifferentialInverseKinematicsActionCfg.scale
    ik_offset: tuple[float, float, float] = (0.0, 0.0, 0.107)  # Isaac: IK frame = panda_hand + this
    eef_offset: tuple[float, float, float] = (0.0, 0.0, 0.1034)  # Isaac: ee_frame (what Mimic reads)
    dls_lambda: float = 0.01  # Isaac: damped least squares, recomputed every physics step
    arm_kp: float = 400.0  # Isaac: FRANKA_PANDA_HIGH_PD_CFG
    arm_kv: float = 80.0
    finger_kp: float = 2000.0
    finger_kv: float = 100.0
    finger_open: float = 0.04  # Isaac: BinaryJointPositionAction open / close targets
    finger_close: float = 0.0
    # Calibrated: PhysX's panda_hand Jacobian references its linear rows at the hand's centre of mass.
    # (0, 0, 0.025) in the hand frame reproduces Isaac Lab 2.x; newer Isaac Lab uses the link origin,
    # i.e. (0, 0, 0).
    jacobian_reference: tuple[float, float, float] = (0.0, 0.0, 0.025)
    # Calibrated: Isaac Lab 2.x shifts the Jacobian to the IK frame with -skew(offset) @ J_w using the
    # offset in the hand frame, not rotated into the base frame. False gives the exact Jacobian.
    jacobian_offset_unrotated: bool = True
    # Calibrated: PhysX integrates a 10 ms physics step in one go, so its drive pulls with the IK's
    # full joint increment dq for the whole step. Over MuJoCo substeps the servo target is therefore
    # re-set to q + dq each substep (a held absolute target would relax and lag: 3.1 mm instead of 1.35).
    hold_increment: bool = True
    # Calibrated: PhysX limits the drive force it applies, not a torque clamp; MuJoCo's clamp at the
    # Franka's 87 / 12 N m effort limits bound joint 7 in 43 % of substeps and spoiled tracking.
    arm_force_limit: tuple[float, ...] | None = None
    # Calibrated: joint damping (N m s / rad) beside the servo's, about what PhysX's implicit drive adds.
    arm_extra_damping: float = 2.0
    # Contact fidelity (kg m^2 per arm joint): rotor inertia on the wrist joints 5-7. PhysX solves the drives
    # and the contacts together, so a held cube sees the servo's implicit damping as part of the hand's
    # inertia. MuJoCo integrates the servo damping implicitly only after its constraint solver has sized
    # the contact impulses with the bare joint inertia; the wrist's is tiny (joint 7: 0.0067 kg m^2 against
    # h kv = 0.27 at a 3.3 ms step), so the pads gave a pinched cube impulses for wrist accelerations 40 x
    # larger than the ones that followed. Measured at 3 substeps without it: a cube pinched 15 mm off-centre
    # spun to 4-6 rad/s at every env step, lagged the yawing hand by 9-43 deg and slid out of the grasp
    # (0/10 held with the hand yawing; generation kept 19 of 200 attempts). With 0.3 on joints 5-7: 0.3 deg,
    # 10/10 held, generation 61/200, as 8 substeps without armature gave, at 3 substeps' cost (and at 2,
    # see substeps). Open-loop replay is unchanged (median pre-grasp RMSE 1.34 -> 1.37 mm; 0.1 and 1.0
    # give 1.35 / 1.32 mm and the same generation rate within sampling noise).
    arm_armature: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.3, 0.3, 0.3)
    # Isaac: joint velocity limits (rad/s), applied by bounding the servo target (the servo's steady
    # velocity is kp / kv times its position error), not by clipping joint velocities.
    arm_velocity_limit: tuple[float, ...] | None = (2.175, 2.175, 2.175, 2.175, 2.61, 2.61, 2.61)
    # Calibrated: the finger servo as PhysX's implicit 10 ms drive behaves. Per step that drive closes
    # h^2 kp / (m + h kv + h^2 kp) = 16.5 % of the gap (h = 0.01 s, m = 0.015 kg), a decay rate of
    # 18.0 / s; a continuous servo with rotor inertia 1.0 kg (which also keeps it stable) matches it
    # with 29.5 N s/m of extra damping. Result: opening fingers reach 0.04 +- 1e-4 in Isaac's 6 steps.
    finger_armature: float = 1.0
    finger_extra_damping: float = 29.5
    joint_noise_std: float = 0.02  # Isaac reset event: Gaussian offset on the 7 arm joints
    # Step the physics and the controller in one compiled loop (``kernel``, needs Numba; the same numbers
    # as the interpreted loop, about half the time of an env step). False, or without Numba: interpreted.
    compiled: bool = True

    def __post_init__(self) -> None:
        if self.decimation < 1 or self.substeps < 1:
            raise ConfigError("decimation and substeps must be >= 1")
        if len(self.arm_armature) != 7 or min(self.arm_armature) < 0.0:
            raise ConfigError(f"arm_armature needs 7 values >= 0, one per arm joint, not {self.arm_armature}")

    @property
    def step_dt(self) -> float:
        return self.physics_dt * self.decimation


@dataclass(frozen=True, kw_only=True)
class CubeSampler:
    """Isaac's ``randomize_object_pose`` for the three cubes (uniform x, y, yaw; minimum separation)."""

    x: tuple[float, float] = (0.4, 0.6)
    y: tuple[float, float] = (-0.10, 0.10)
    yaw: tuple[float, float] = (-1.0, 1.0)
    min_separation: float = 0.1
    max_tries: int = 5000


@dataclass(frozen=True, kw_only=True)
class CameraParams:
    """Rendering resolution (H, W). Isaac's cameras are 704 x 1280; the default keeps the aspect, 1/4 size.

    ``mesh_detail``: the share of the Panda's visual-mesh triangles the cameras draw (``visual``); 1.0
    draws the package's meshes as they are. Physics always uses the full model.
    """

    height: int = 176
    width: int = 320
    mesh_detail: float = 0.2

    def __post_init__(self) -> None:
        for name, v in (("height", self.height), ("width", self.width)):
            if not 16 <= v <= 4096:
                raise ConfigError(f"camera {name} {v} is out of range; use 16..4096 pixels")
        if not 0.01 <= self.mesh_detail <= 1.0:
            raise ConfigError(f"camera mesh detail {self.mesh_detail} is out of range; use 0.01..1.0")


@dataclass(frozen=True, kw_only=True)
class TwinParams:
    scene: SceneParams = field(default_factory=SceneParams)
    control: ControlParams = field(default_factory=ControlParams)
    cubes: CubeSampler = field(default_factory=CubeSampler)
    camera: CameraParams = field(default_factory=CameraParams)
    # The Visuomotor task's cameras (image observations): 200 x 200 in Isaac Lab; mesh detail from ``camera``.
    image_obs: CameraParams = field(default_factory=lambda: CameraParams(height=200, width=200))
    # Whose success check: the Isaac Lab generation named by the SUCCESS_RULE setting (tasks.SUCCESS_RULES).
    success_rule: str = "2.3"
