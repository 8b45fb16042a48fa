"""``FrankaStackTwin``: Isaac-Stack-Cube-Franka-IK-Rel as a MuJoCo ``MimicEnv`` that runs on a CPU.

One env step is Isaac's: the action is processed once (IK command, gripper target), then five physics
steps of 10 ms each recompute the IK on the current kinematics (``mj_step1``), set the servo targets,
and integrate (``mj_step2``, then ``substeps - 1`` more MuJoCo steps holding the IK increment; see
``ControlParams``). Observations, poses and signals are computed once, after the step, and served from
that cache until the next step, so the generator's many queries per step cost nothing.

Everything random comes from one ``numpy.random.Generator`` (re-seeded by ``reset(seed)``), and every
reset clears MuJoCo's data, so an episode depends only on its seed or initial state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mimicforge.backends.base import Tree, state_at
from mimicforge.backends.mujoco import deps, scene
from mimicforge.backends.mujoco.ik import DifferentialIK
from mimicforge.backends.mujoco.params import (
    ARM_JOINTS,
    CUBES,
    DEFAULT_JOINT_POS,
    FINGER_JOINTS,
    TwinParams,
)
from mimicforge.geometry import (
    axis_angle_to_mat,
    quat_to_mat,
    relative_axis_angle_rows,
    yaw_quat,
)
from mimicforge.backends.mujoco.signals import cubes_stacked, subtask_signals
from mimicforge.errors import ConfigError
from mimicforge.tasks import FRANKA_STACK, TaskSpec, thresholds_for

EEF = "franka"
_NO_NOISE = np.zeros(0)
ROBOT_ROOT_POSE = np.array([0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0])
CAMERAS = tuple(scene.CAMERAS)
MODALITIES = ("rgb", "depth", "semantic_segmentation", "normals")
# The observation terms of Isaac's stack task, in its order, with their sizes (float32 in the returned dict).
OBS_LAYOUT = (("actions", 7), ("joint_pos", 9), ("joint_vel", 9), ("object", 39), ("cube_positions", 9),
              ("cube_orientations", 12), ("eef_pos", 3), ("eef_quat", 4), ("gripper_pos", 2))


class FrankaStackTwin:
    """The MuJoCo twin of Isaac Lab's Franka cube-stacking task (IK-Rel actions, Mimic interface)."""

    task: TaskSpec = FRANKA_STACK
    action_dim = FRANKA_STACK.action_layout.dim  # the task registry's IK-Rel layout
    cameras = CAMERAS
    modalities = MODALITIES

    def __init__(self, params: TwinParams | None = None, *, seed: int | None = None) -> None:
        self.params = params or TwinParams()
        self._mujoco = mujoco = deps.import_mujoco()
        self.model = scene.build_model(self.params)
        self.data = mujoco.MjData(self.model)
        c = self.params.control
        self.step_dt = c.step_dt
        self._decimation = c.decimation
        self._step1, self._step2, self._mj_step = mujoco.mj_step1, mujoco.mj_step2, mujoco.mj_step
        self._substeps = c.substeps
        self._hold_increment = c.hold_increment
        m = self.model
        self._hand = m.body("panda_hand").id
        self._robot_q = slice(int(m.jnt_qposadr[m.joint(ARM_JOINTS[0]).id]),
                              int(m.jnt_qposadr[m.joint(FINGER_JOINTS[1]).id]) + 1)
        self._robot_v = slice(int(m.jnt_dofadr[m.joint(ARM_JOINTS[0]).id]),
                              int(m.jnt_dofadr[m.joint(FINGER_JOINTS[1]).id]) + 1)
        self._arm_ctrl = slice(0, len(ARM_JOINTS))
        self._finger_ctrl = slice(len(ARM_JOINTS), len(ARM_JOINTS) + len(FINGER_JOINTS))
        self._ik = DifferentialIK(mujoco, m, self.data, c, self._arm_ctrl)
        self._cube_q = {n: int(m.jnt_qposadr[m.joint(f"{n}_joint").id]) for n in CUBES}
        self._cube_v = {n: int(m.jnt_dofadr[m.joint(f"{n}_joint").id]) for n in CUBES}
        first = self._cube_q[CUBES[0]]
        if [self._cube_q[n] for n in CUBES] != [first + 7 * i for i in range(len(CUBES))]:
            raise ValueError("the cubes' free joints must be consecutive in qpos")
        self._cube_block = slice(first, first + 7 * len(CUBES))
        self._cube_bodies = [m.body(n).id for n in CUBES]
        if self._cube_bodies != list(range(self._cube_bodies[0], self._cube_bodies[0] + len(CUBES))):
            raise ValueError("the cubes' bodies must be consecutive")
        self._thresholds = thresholds_for(self.params.success_rule, self.task.thresholds)
        self._q_low = m.jnt_range[[m.joint(n).id for n in ARM_JOINTS], 0].copy()
        self._q_high = m.jnt_range[[m.joint(n).id for n in ARM_JOINTS], 1].copy()
        self._default_q = np.asarray(DEFAULT_JOINT_POS, dtype=np.float64)
        self._eef_offset = np.asarray(c.eef_offset, dtype=np.float64)
        self._finger_targets = (c.finger_open, c.finger_close)
        self._rng = np.random.default_rng(seed)
        self._last_action = np.zeros(self.action_dim)
        self._processed = np.zeros(8)
        self._bound = False
        self._views()
        self._rig: Any = None
        self._visuomotor_rig: Any = None
        self.reset(seed)

    # ------------------------------------------------------------------------------------ episodes
    def reset(self, seed: int | None = None) -> dict[str, np.ndarray]:
        """Isaac's reset events: default pose + N(0, 0.02) on the arm joints, then the cube sampler."""
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        rng = self._rng
        c = self.params.control
        q = self._default_q.copy()
        q[:7] = np.clip(q[:7] + rng.normal(0.0, c.joint_noise_std, size=7), self._q_low, self._q_high)
        poses = self._sample_cubes(rng)
        # Start from float32 values, as Isaac Lab's tensors are: the initial_state a dataset records is then
        # exactly the state the episode started from, and replaying its actions reproduces it bit for bit.
        q = q.astype(np.float32).astype(np.float64)
        poses = {n: p.astype(np.float32).astype(np.float64) for n, p in poses.items()}
        self._set(q, np.zeros(9), {n: (p, np.zeros(6)) for n, p in poses.items()})
        return self._obs

    def _sample_cubes(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Rejection sampling with a 3-D minimum separation; the last try is accepted regardless."""
        s = self.params.cubes
        placed: list[np.ndarray] = []
        poses: dict[str, np.ndarray] = {}
        for name in CUBES:
            for attempt in range(s.max_tries):
                x, y, yaw = rng.uniform(s.x[0], s.x[1]), rng.uniform(s.y[0], s.y[1]), rng.uniform(*s.yaw)
                pos = np.array([x, y, self.params.scene.cube_rest_z])
                if attempt == s.max_tries - 1 or all(np.linalg.norm(pos - p) >= s.min_separation for p in placed):
                    break
            placed.append(pos)
            poses[name] = np.concatenate([pos, yaw_quat(yaw)])
        return poses

    def reset_to(self, state: Tree) -> dict[str, np.ndarray]:
        """Set the scene to a state tree (rows of shape (n,) or (1, n), e.g. a dataset's initial_state)."""
        robot = state["articulation"]["robot"]
        q = np.asarray(robot["joint_position"], dtype=np.float64).reshape(-1)
        v = np.asarray(robot["joint_velocity"], dtype=np.float64).reshape(-1)
        cubes = {}
        for name in CUBES:
            obj = state["rigid_object"][name]
            cubes[name] = (np.asarray(obj["root_pose"], dtype=np.float64).reshape(-1),
                           np.asarray(obj["root_velocity"], dtype=np.float64).reshape(-1))
        sizes = {"joint_position": (q.size, 9), "joint_velocity": (v.size, 9)}
        for name, (pose, vel) in cubes.items():
            sizes[f"{name}/root_pose"] = (pose.size, 7)
            sizes[f"{name}/root_velocity"] = (vel.size, 6)
        wrong = [f"{k} has {got} values, not {want}" for k, (got, want) in sizes.items() if got != want]
        if wrong:
            raise ValueError(f"not a state of this scene: {'; '.join(wrong)}")
        self._set(q, v, cubes)
        return self._obs

    def _set(self, q: np.ndarray, v: np.ndarray, cubes: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> None:
        m, d = self.model, self.data
        self._mujoco.mj_resetData(m, d)
        d.qpos[self._robot_q] = q
        d.qvel[self._robot_v] = v
        for name, (pose, vel) in cubes.items():
            a, b = self._cube_q[name], self._cube_v[name]
            d.qpos[a:a + 7] = pose
            d.qvel[b:b + 3] = vel[:3]
            d.qvel[b + 3:b + 6] = quat_to_mat(pose[3:7]).T @ vel[3:6]  # MuJoCo: angular velocity in body frame
        d.ctrl[self._arm_ctrl] = q[:7]
        d.ctrl[self._finger_ctrl] = q[7:9]
        self._mujoco.mj_forward(m, d)
        self._last_action = np.zeros(self.action_dim)
        self._processed = np.zeros(8)
        self._ik.hold()
        self._update()

    def step(self, action: np.ndarray) -> dict[str, np.ndarray]:
        a = np.asarray(action, dtype=np.float64).reshape(-1)
        if a.shape != (self.action_dim,):
            raise ValueError(f"action must have {self.action_dim} entries, got shape {np.shape(action)}")
        m, d, ik = self.model, self.data, self._ik
        if not self._bound:
            self._bind_compiled()
        self._processed[:6] = ik.command(a[:6])
        finger = self._finger_targets[1] if a[6] < 0.0 else self._finger_targets[0]
        self._ctrl_fingers.fill(finger)
        self._processed[6:] = finger
        held = self._substeps - 1 if self._hold_increment else 0  # see ControlParams.hold_increment
        free = self._substeps - 1 - held
        if ik.compiled is not None:
            ik.compiled(self._decimation, held, free)  # the same loop and mj_kinematics, compiled (``kernel``)
            self._last_action = a
            self._update()
            return self._obs
        step1, step2, mj_step, servo, hold = self._step1, self._step2, self._mj_step, ik.servo, ik.hold_target
        for _ in range(self._decimation):
            step1(m, d)
            dq = servo()  # IK on the current kinematics and the arm's servo targets, one pass
            step2(m, d)
            for _ in range(held):
                hold(dq)
                mj_step(m, d)
            for _ in range(free):
                mj_step(m, d)
        self._mujoco.mj_kinematics(m, d)
        self._last_action = a
        self._update()
        return self._obs

    # ------------------------------------------------------------------------------------ cached views
    def _views(self) -> None:
        """Views into the data that every step reads, and the buffers it writes.

        A step's float64 results go to one staging vector (``_stage``) in ``OBS_LAYOUT`` order; the step's
        observations are one float32 copy of it, each key a slice. The staged float64 values also serve the
        poses and signals, which are computed from them only when asked for."""
        m, d = self.model, self.data
        self._ctrl_fingers = d.ctrl[self._finger_ctrl]
        self._qpos_robot = d.qpos[self._robot_q]
        self._qvel_robot = d.qvel[self._robot_v]
        self._cubes_q = d.qpos[self._cube_block].reshape(len(CUBES), 7)
        self._cube_xmat = d.xmat[self._cube_bodies[0]:self._cube_bodies[-1] + 1].reshape(-1, 3, 3)
        self._hand_rot = d.xmat[self._hand].reshape(3, 3)
        self._hand_quat = d.xquat[self._hand]
        self._eef_site = d.site_xpos[m.site("eef_frame").id]  # hand + hand rotation @ eef_offset
        self._stage = np.zeros(sum(n for _, n in OBS_LAYOUT))
        self._obs_slices: list[tuple[str, slice]] = []
        views: dict[str, np.ndarray] = {}
        start = 0
        for name, n in OBS_LAYOUT:
            self._obs_slices.append((name, slice(start, start + n)))
            views[name] = self._stage[start:start + n]
            start += n
        k = len(CUBES)
        self._st_actions, self._st_joint_pos, self._st_joint_vel = views["actions"], views["joint_pos"], views["joint_vel"]
        self._st_cubes = views["object"][:7 * k].reshape(k, 7)
        self._st_rel_eef = views["object"][7 * k:10 * k].reshape(k, 3)
        rel = views["object"][10 * k:].reshape(-1, 3)  # cube_1 - cube_2, cube_2 - cube_3, cube_1 - cube_3
        self._st_rel_chain, self._st_rel_ends = rel[:2], rel[2]
        self._st_cube_pos = views["cube_positions"].reshape(k, 3)
        self._st_cube_quat = views["cube_orientations"].reshape(k, 4)
        self._eef_pos = views["eef_pos"]
        self._st_eef_quat, self._st_gripper = views["eef_quat"], views["gripper_pos"]
        self._cube_pos = dict(zip(CUBES, self._st_cube_pos, strict=True))
        self._fingers = np.zeros(len(FINGER_JOINTS))
        self._eef_pose = np.eye(4)
        self._eef_rot = self._eef_pose[:3, :3]
        self._cube_rot = np.zeros((k, 3, 3))
        self._cube_poses: dict[str, np.ndarray] | None = None
        self._signals: dict[str, bool] | None = None
        self._success: bool | None = None
        self._stage_compiled = None  # bound with the compiled loop, at the first step
        self._action_compiled = None
        self._stage_args = (
            self._qpos_robot, self._default_q, self._qvel_robot, self._cubes_q, self._eef_site, self._hand_quat,
            self._hand_rot, self._cube_xmat, self._st_actions, self._st_joint_pos, self._st_joint_vel,
            self._st_cubes, self._st_rel_eef, self._st_rel_chain, self._st_rel_ends, self._st_cube_pos,
            self._st_cube_quat, self._eef_pos, self._st_eef_quat, self._st_gripper, self._fingers,
            self._eef_rot, self._cube_rot)

    def _bind_compiled(self) -> None:
        """At the first step: the compiled staging (``kernel.stage``) where the compiled loop is in use."""
        if self._ik.compiled is not None:
            self._stage_compiled = deps.physics_kernel().stage
            self._action_compiled = deps.physics_kernel().relative_action
        self._bound = True

    def _update(self) -> None:
        """Stage everything a step is asked for; the observations now, poses and signals when asked."""
        if self._stage_compiled is not None:
            self._stage_compiled(self._last_action, *self._stage_args)
        else:
            self._stage_numpy()
        obs = self._obs_row = self._stage.astype(np.float32)
        self._obs = {name: obs[part] for name, part in self._obs_slices}
        self._cube_poses = self._signals = self._success = None

    def _stage_numpy(self) -> None:
        cubes = self._cubes_q  # (pos, quat) per cube, in CUBES order
        pos = cubes[:, :3]
        eef = self._eef_pos
        np.copyto(eef, self._eef_site)
        np.copyto(self._st_actions, self._last_action)
        np.subtract(self._qpos_robot, self._default_q, out=self._st_joint_pos)
        np.copyto(self._st_joint_vel, self._qvel_robot)
        np.copyto(self._st_cubes, cubes)
        np.subtract(pos, eef, out=self._st_rel_eef)
        np.subtract(pos[:2], pos[1:], out=self._st_rel_chain)
        np.subtract(pos[0], pos[2], out=self._st_rel_ends)
        np.copyto(self._st_cube_pos, pos)
        np.copyto(self._st_cube_quat, cubes[:, 3:])
        np.copyto(self._st_eef_quat, self._hand_quat)
        fingers = self._fingers
        np.copyto(fingers, self._qpos_robot[7:9])
        self._st_gripper[0] = fingers[0]
        self._st_gripper[1] = -fingers[1]
        np.copyto(self._eef_rot, self._hand_rot)
        np.copyto(self._cube_rot, self._cube_xmat)

    def observations(self) -> dict[str, np.ndarray]:
        return self._obs

    def get_state(self) -> Tree:
        return state_at(self.states_from_rows(self.state_row()[None]), 0)

    # ------------------------------------------------------------------------------------ recorded rows
    def observation_row(self) -> np.ndarray:
        """The observation as one float32 row (a new array every step; ``observations()`` are its slices)."""
        return self._obs_row

    def observations_from_rows(self, rows: np.ndarray) -> Tree:
        return {name: rows[:, part] for name, part in self._obs_slices}

    def state_row(self) -> np.ndarray:
        """The state as one flat row: qpos, qvel and the cubes' rotation matrices (MuJoCo's ``xmat``, the
        normalized quaternion's matrix), so that a step records one copy and ``states_from_rows`` builds the
        trees of a whole episode at once."""
        d = self.data
        return np.concatenate((d.qpos, d.qvel, self._cube_xmat.reshape(-1)))

    def states_from_rows(self, rows: np.ndarray) -> Tree:
        rows = np.asarray(rows, dtype=np.float64)
        n, nq, nv = len(rows), self.model.nq, self.model.nv
        qpos, qvel = rows[:, :nq], rows[:, nq:nq + nv]
        rot = rows[:, nq + nv:].reshape(n, len(CUBES), 3, 3)
        objects = {}
        for i, name in enumerate(CUBES):
            a, b = self._cube_q[name], self._cube_v[name]
            velocity = np.empty((n, 6))
            velocity[:, :3] = qvel[:, b:b + 3]
            # MuJoCo's free-joint angular velocity is in the body frame; Isaac Lab records it in the world frame
            velocity[:, 3:] = np.matmul(rot[:, i], qvel[:, b + 3:b + 6, None])[:, :, 0]
            objects[name] = {"root_pose": qpos[:, a:a + 7].copy(), "root_velocity": velocity}
        return {
            "articulation": {"robot": {"root_pose": np.tile(ROBOT_ROOT_POSE, (n, 1)), "root_velocity": np.zeros((n, 6)),
                                       "joint_position": qpos[:, self._robot_q].copy(),
                                       "joint_velocity": qvel[:, self._robot_v].copy()}},
            "rigid_object": objects,
        }

    def get_robot_eef_pose(self, eef_name: str = EEF) -> np.ndarray:
        if eef_name != EEF:
            raise KeyError(f"unknown end effector {eef_name!r}; this task has {EEF!r}")
        pose = self._eef_pose.copy()
        pose[:3, 3] = self._eef_pos
        return pose

    def get_object_poses(self) -> dict[str, np.ndarray]:
        if self._cube_poses is None:
            poses = np.zeros((len(CUBES), 4, 4))
            poses[:, :3, :3] = self._cube_rot
            poses[:, :3, 3] = self._st_cube_pos
            poses[:, 3, 3] = 1.0
            self._cube_poses = dict(zip(CUBES, poses, strict=True))
        return {n: p.copy() for n, p in self._cube_poses.items()}

    def get_subtask_term_signals(self) -> dict[str, bool]:
        if self._signals is None:
            self._signals = subtask_signals(self._cube_pos, self._eef_pos, self._fingers, self._thresholds)
        return dict(self._signals)

    def is_success(self) -> bool:
        if self._success is None:
            th = self._thresholds
            speeds = None if th.success_max_lin_vel is None else {  # free joint: linear velocity in the world frame
                n: float(np.linalg.norm(self.data.qvel[b:b + 3])) for n, b in self._cube_v.items()}
            self._success = cubes_stacked(self._cube_pos, self._fingers, th, speeds)
        return self._success

    def processed_action(self) -> np.ndarray:
        return self._processed.copy()

    # ------------------------------------------------------------------------------------ Mimic actions
    def target_eef_pose_to_action(
        self,
        target_eef_pose: Mapping[str, np.ndarray],
        gripper_action: Mapping[str, np.ndarray],
        action_noise: Mapping[str, float] | None = None,
        rng: np.random.Generator | None = None,
    ) -> np.ndarray:
        """Isaac's ``target_eef_pose_to_action``: [target - current, axis-angle(R* R^T)] (+ noise, clamped), gripper."""
        # Called every step: six values in float arithmetic (IEEE's, as numpy's element-wise operations, so the
        # same bits), one array at the end; slices and out= ufuncs on a 6-vector cost more than the arithmetic.
        # Where the physics loop is compiled, the same arithmetic runs compiled (``kernel.relative_action``).
        target = np.asarray(target_eef_pose[EEF], dtype=np.float64)
        gripper = gripper_action[EEF]
        if isinstance(gripper, np.ndarray) and gripper.ndim == 1:
            grip = float(gripper[0])
        else:
            grip = float(np.asarray(gripper, dtype=np.float64).reshape(-1)[0])
        if action_noise is not None and rng is None:
            raise ValueError("action noise needs the numpy Generator to draw it from (rng=...)")
        if self._action_compiled is not None and target.shape == (4, 4):
            out = np.empty(self.action_dim)
            if action_noise is None:
                self._action_compiled(target, self._eef_pos, self._eef_rot, _NO_NOISE, 0.0, grip, out)
            else:
                self._action_compiled(target, self._eef_pos, self._eef_rot, rng.standard_normal(6),  # type: ignore[union-attr]
                                      float(action_noise[EEF]), grip, out)
            return out
        rows = target.tolist()
        ex, ey, ez = self._eef_pos.tolist()
        rx, ry, rz = relative_axis_angle_rows(rows, self._eef_rot.tolist())
        pose = [rows[0][3] - ex, rows[1][3] - ey, rows[2][3] - ez, rx, ry, rz]
        if action_noise is not None:
            scale = float(action_noise[EEF])
            pose = [v + scale * n for v, n in zip(pose, rng.standard_normal(6).tolist(), strict=True)]  # type: ignore[union-attr]
            # clamped to [-1, 1] as np.clip would (a NaN stays NaN)
            pose = [-1.0 if v < -1.0 else 1.0 if v > 1.0 else v for v in pose]
        pose.append(grip)
        return np.array(pose)

    def action_to_target_eef_pose(self, action: np.ndarray) -> dict[str, np.ndarray]:
        """The target pose a raw action encodes from the current eef pose (no scaling, as Isaac)."""
        a = np.asarray(action, dtype=np.float64).reshape(-1)
        pose = np.eye(4)
        pose[:3, 3] = self._eef_pos + a[:3]
        pose[:3, :3] = axis_angle_to_mat(a[3:6]) @ self._eef_pose[:3, :3]
        return {EEF: pose}

    def actions_to_gripper_actions(self, actions: np.ndarray) -> dict[str, np.ndarray]:
        return {EEF: np.asarray(actions)[:, -1:]}

    # ------------------------------------------------------------------------------------ rendering
    def render(self, camera: str, modality: str) -> np.ndarray:
        return self._camera_rig().render(self.data, camera, modality)

    def render_frames(self, camera: str, modalities: Sequence[str]) -> dict[str, np.ndarray]:
        """``{modality: render(camera, modality)}``, drawn with one scene update and at most two passes."""
        return self._camera_rig().render_frames(self.data, camera, modalities)

    def render_visuomotor(self, sensor: str, modalities: Sequence[str]) -> dict[str, np.ndarray]:
        """Frames of Isaac Lab's Visuomotor stack-task cameras (its sensor names: ``table_cam``, ``wrist_cam``)
        at ``params.image_obs``'s size, segmentation in that task's Cosmos colours."""
        if sensor not in scene.VISUOMOTOR_SENSORS:
            raise ConfigError(f"unknown Visuomotor camera {sensor!r}; the twin has "
                              f"{', '.join(scene.VISUOMOTOR_SENSORS)}")
        if self._visuomotor_rig is None:
            from mimicforge.backends.mujoco.render import CameraRig
            from mimicforge.tasks import COSMOS_SEGMENTATION_COLORS

            p = self.params.image_obs
            self._visuomotor_rig = CameraRig(
                self._mujoco, self.model, self.params, cameras=tuple(scene.VISUOMOTOR_CAMERAS),
                size=(p.height, p.width), colors=COSMOS_SEGMENTATION_COLORS, scene=self._camera_rig().scene)
        return self._visuomotor_rig.render_frames(self.data, scene.VISUOMOTOR_SENSORS[sensor], modalities)

    def _camera_rig(self) -> Any:
        if self._rig is None:
            from mimicforge.backends.mujoco.render import CameraRig

            self._rig = CameraRig(self._mujoco, self.model, self.params)
        return self._rig

    @property
    def sim_args(self) -> dict[str, Any]:
        """Isaac Lab 2.3's ``sim_args`` entry of ``env_args``."""
        c = self.params.control
        return {"dt": c.physics_dt, "decimation": c.decimation, "render_interval": 2, "num_envs": 1}

    def close(self) -> None:
        if self._visuomotor_rig is not None:
            self._visuomotor_rig.close()
            self._visuomotor_rig = None
        if self._rig is not None:
            self._rig.close()
            self._rig = None

    def __enter__(self) -> FrankaStackTwin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

