"""STAND-IN for Isaac Lab's ``ManagerBasedRLEnv`` (Isaac Sim boundary): the MuJoCo twin behind the env API
that the real ``ManagerBasedRLMimicEnv`` / ``FrankaCubeStackIKRelMimicEnv`` and ``isaaclab_mimic`` use.

What is upstream and runs unchanged: the env config (``FrankaCubeStackIKRelMimicEnvCfg`` and everything it
inherits), the observation and success functions named in that config (``ee_frame_pos``, ``object_grasped``,
``object_stacked``, ``cubes_stacked`` ...), the Mimic env methods, and the ``RecorderManager`` with its
recorder terms and ``HDF5DatasetFileHandler``. What is ours: the physics (one ``FrankaStackTwin`` per env),
the scene views those functions read (``scene["robot"].data.joint_pos`` ...), a minimal action manager and
the step / reset order of ``ManagerBasedRLEnv`` (record pre-step, decimated physics, observations, record
post-step). All tensors are CPU torch.

Isaac Lab 3.0 (``ManagerBasedRLEnv3``) differs at exactly this boundary, and the stand-in follows it: every
quaternion the scene hands out (``root_quat_w``, ``root_pose`` in ``get_state``, the frame's
``target_quat_w``) is x, y, z, w (the twin, like Isaac Lab 2.x, keeps w, x, y, z: converted here), and asset
data are warp-backed arrays read through ``.torch`` (``cube.data.root_pos_w.torch``); the stack task's
success also reads the cubes' ``root_lin_vel_w``.
"""

from __future__ import annotations

import dataclasses
import os
import re
import time
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import gymnasium as gym
import numpy as np
import torch

ARM_AND_FINGERS = tuple(f"panda_joint{i}" for i in range(1, 8)) + ("panda_finger_joint1", "panda_finger_joint2")
OBSERVATION_GROUPS = ("policy", "subtask_terms")  # camera groups need a renderer the generation path never reads
# Fault injection for the dead-generator tests: after this many resets, the next scene read that is not
# part of a reset (the one DataGenerator.generate makes right after its reset request) raises, as a
# simulator whose physics view was invalidated would.
FAULT_ENV = "MIMICFORGE_HARNESS_FAULT_AFTER_RESETS"
FAULT_MESSAGE = "physics simulation view is invalid (fault injected by the test harness)"
# Hang injection for the stall tests (a Kit process that hangs rather than dies, IsaacLab#4473): the first
# process to create the marker file named here hangs inside env.step of its second attempt, in a sleep that
# signals do not end (Python resumes it after any handler), until it is SIGKILLed; later processes run.
HANG_ENV = "MIMICFORGE_HARNESS_HANG_ONCE"
# Where the env writes (on close) the twin's own cube poses, w, x, y, z as the twin keeps them, of every scene
# read (an .npz of (reads, envs, 7) per cube): what the recorder was handed, before any conversion.
TRACE_ENV = "MIMICFORGE_HARNESS_TRACE"


def _t(x: Any) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x), dtype=torch.float32)


WXYZ_TO_XYZW = [1, 2, 3, 0]


class TorchView(torch.Tensor):
    """A tensor that also answers ``.torch`` (Isaac Lab 3.0's asset data are warp arrays read that way);
    operations on it give plain tensors."""

    __torch_function__ = torch._C._disabled_torch_function_impl

    @property
    def torch(self) -> torch.Tensor:
        return self.as_subclass(torch.Tensor)


def twin_params(cfg: Any) -> Any:
    """Twin parameters with the cube reset event of the env config (pose range, minimum separation)."""
    from mimicforge.backends.mujoco.params import TwinParams

    params = TwinParams()
    term = getattr(getattr(cfg, "events", None), "randomize_cube_positions", None)
    if term is None:
        return params
    pose = term.params.get("pose_range", {})

    def span(key: str, default: tuple[float, float]) -> tuple[float, float]:
        r = pose.get(key, default)  # Isaac Lab samples uniform(r[0], r[1]); 2.3's yaw is (-1.0, 1, 0)
        return float(r[0]), float(r[1])

    cubes = dataclasses.replace(params.cubes, x=span("x", params.cubes.x), y=span("y", params.cubes.y),
                                yaw=span("yaw", params.cubes.yaw),
                                min_separation=float(term.params.get("min_separation", params.cubes.min_separation)))
    return dataclasses.replace(params, cubes=cubes)


# ------------------------------------------------------------------------------------------ scene views
class _RobotData:
    def __init__(self, env: ManagerBasedRLEnv) -> None:
        self._env = env
        self.joint_names = list(ARM_AND_FINGERS)

    @property
    def joint_pos(self) -> torch.Tensor:
        return self._env.view(self._env.snapshot()["articulation"]["robot"]["joint_position"])

    @property
    def joint_vel(self) -> torch.Tensor:
        return self._env.view(self._env.snapshot()["articulation"]["robot"]["joint_velocity"])

    @property
    def default_joint_pos(self) -> torch.Tensor:
        from mimicforge.backends.mujoco.params import DEFAULT_JOINT_POS

        return self._env.view(_t(DEFAULT_JOINT_POS).repeat(self._env.num_envs, 1))

    @property
    def default_joint_vel(self) -> torch.Tensor:
        return self._env.view(torch.zeros(self._env.num_envs, len(ARM_AND_FINGERS)))

    @property
    def root_pos_w(self) -> torch.Tensor:
        return self._env.view(self._env.snapshot()["articulation"]["robot"]["root_pose"][:, :3])

    @property
    def root_quat_w(self) -> torch.Tensor:
        return self._env.view(self._env.snapshot()["articulation"]["robot"]["root_pose"][:, 3:7])


class _Robot:
    def __init__(self, env: ManagerBasedRLEnv) -> None:
        self.data = _RobotData(env)
        self.joint_names = self.data.joint_names
        self.num_joints = len(self.joint_names)

    def find_joints(self, names: str | Sequence[str], preserve_order: bool = False) -> tuple[list[int], list[str]]:
        patterns = [names] if isinstance(names, str) else list(names)
        ids = [i for i, j in enumerate(self.joint_names) if any(re.fullmatch(p, j) for p in patterns)]
        return ids, [self.joint_names[i] for i in ids]


class _CubeData:
    def __init__(self, env: ManagerBasedRLEnv, name: str) -> None:
        self._env, self._name = env, name

    def _pose(self) -> torch.Tensor:
        return self._env.snapshot()["rigid_object"][self._name]["root_pose"]

    @property
    def root_pos_w(self) -> torch.Tensor:
        return self._env.view(self._pose()[:, :3])

    @property
    def root_quat_w(self) -> torch.Tensor:
        return self._env.view(self._pose()[:, 3:7])

    @property
    def root_pose_w(self) -> torch.Tensor:
        return self._env.view(self._pose())

    @property
    def root_lin_vel_w(self) -> torch.Tensor:
        return self._env.view(self._env.snapshot()["rigid_object"][self._name]["root_velocity"][:, :3])


class _FrameData:
    """The ``ee_frame`` FrameTransformer: one target, the end effector (panda_hand + 0.1034 m)."""

    def __init__(self, env: ManagerBasedRLEnv) -> None:
        self._env = env

    @property
    def target_pos_w(self) -> torch.Tensor:
        return self._env.view(self._env.snapshot()["ee_frame"]["target_pos_w"])

    @property
    def target_quat_w(self) -> torch.Tensor:
        return self._env.view(self._env.snapshot()["ee_frame"]["target_quat_w"])


class TwinScene:
    """``env.scene``: entities by name, ``env_origins`` and ``get_state`` in Isaac Lab's layout."""

    def __init__(self, env: ManagerBasedRLEnv) -> None:
        self._env = env
        from mimicforge.backends.mujoco.params import CUBES

        self._entities: dict[str, Any] = {"robot": _Robot(env), "ee_frame": SimpleNamespace(data=_FrameData(env))}
        self._entities.update({n: SimpleNamespace(data=_CubeData(env, n)) for n in CUBES})
        self.env_origins = torch.zeros(env.num_envs, 3)
        self.surface_grippers: dict[str, Any] = {}
        self.num_envs = env.num_envs

    def __getitem__(self, name: str) -> Any:
        return self._entities[name]

    def keys(self) -> list[str]:
        return list(self._entities)

    def get_state(self, is_relative: bool = False) -> dict[str, Any]:
        """Root poses relative to the env origins (all zero here), as ``InteractiveScene.get_state`` gives."""
        self._env.check_fault()
        snap = self._env.snapshot()
        return {group: {name: {k: v.clone() for k, v in entity.items()} for name, entity in snap[group].items()}
                for group in ("articulation", "rigid_object")}


# ------------------------------------------------------------------------------------------ managers
class _ActionTerm:
    def __init__(self) -> None:
        self.processed_actions = torch.zeros(1, 0)


class TwinActions:
    """``env.action_manager``: the raw action and the two terms' processed actions (arm IK, gripper)."""

    def __init__(self, env: ManagerBasedRLEnv) -> None:
        self._env = env
        self.action = torch.zeros(env.num_envs, 7)
        self.prev_action = torch.zeros(env.num_envs, 7)
        self._terms = {"arm_action": _ActionTerm(), "gripper_action": _ActionTerm()}
        self.active_terms = list(self._terms)
        self.total_action_dim = 7

    def get_term(self, name: str) -> _ActionTerm:
        return self._terms[name]

    def process_action(self, action: torch.Tensor) -> None:
        self.prev_action[:] = self.action
        self.action[:] = action.to(torch.float32)

    def after_step(self) -> None:
        processed = torch.stack([_t(tw.processed_action()) for tw in self._env.twins])
        self._terms["arm_action"].processed_actions = processed[:, :6]
        self._terms["gripper_action"].processed_actions = processed[:, 6:]


class _NoTerminations:
    active_terms: list[str] = []  # setup_env_config sets env_cfg.terminations = None


class _Sim:
    def __init__(self) -> None:
        self.stopped = False

    def is_stopped(self) -> bool:
        return self.stopped

    def is_playing(self) -> bool:
        return True

    def has_rtx_sensors(self) -> bool:
        return False


# ------------------------------------------------------------------------------------------ the env
class ManagerBasedRLEnv(gym.Env):
    """STAND-IN for ``isaaclab.envs.ManagerBasedRLEnv``, backed by ``num_envs`` MuJoCo twins."""

    is_vector_env = True
    metadata = {"render_modes": [None], "isaac_sim_version": None}
    quat_xyzw = False  # Isaac Lab 3.0: quaternions x, y, z, w (the twin's are w, x, y, z)
    torch_views = False  # Isaac Lab 3.0: asset data answer .torch

    def __init__(self, cfg: Any, render_mode: str | None = None, **kwargs: Any) -> None:
        from mimicforge.backends.mujoco.env import FrankaStackTwin
        from isaaclab.managers.recorder_manager import RecorderManager

        self.cfg = cfg
        self.render_mode = render_mode
        self.num_envs = int(cfg.scene.num_envs)
        self.device = "cpu"  # the twin's tensors live on the CPU whatever device the driver asked for (cuda:0)
        self.physics_dt = float(cfg.sim.dt)
        self.step_dt = float(cfg.sim.dt) * int(cfg.decimation)
        # Isaac Lab's reset events draw from the global torch RNG; the twins take their seed from the config
        # (the env's, else the generation seed the driver writes), so runs with different seeds see different scenes.
        seed = getattr(cfg, "seed", None)
        if seed is None:
            seed = getattr(getattr(cfg, "datagen_config", None), "seed", None)
        seed = int(seed) if seed is not None else 0
        seeds = np.random.SeedSequence(seed).spawn(self.num_envs)
        params = twin_params(cfg)
        self.twins = [FrankaStackTwin(params, seed=int(s.generate_state(1)[0])) for s in seeds]
        self.scene = TwinScene(self)
        self.sim = _Sim()
        self.action_manager = TwinActions(self)
        self.termination_manager = _NoTerminations()
        self.action_space = gym.spaces.Box(-np.inf, np.inf, shape=(self.num_envs, 7))
        self.single_action_space = gym.spaces.Box(-np.inf, np.inf, shape=(7,))
        self.common_step_counter = 0
        self.episode_length_buf = torch.zeros(self.num_envs, dtype=torch.long)
        self.extras: dict[str, Any] = {}
        self.closed = False
        self.resets = 0
        self._fault_after = int(os.environ.get(FAULT_ENV, "0") or 0)
        self._in_reset = False
        self._snapshot: dict[str, Any] | None = None
        self._trace_path = os.environ.get(TRACE_ENV) or None
        self._trace: dict[str, list[np.ndarray]] = {}
        self.obs_buf = self._observations()
        self.recorder_manager = RecorderManager(cfg.recorders, self)

    # ---------------------------------------------------------------------------------- twin state
    def snapshot(self) -> dict[str, Any]:
        """The twins' state as (num_envs, ...) tensors, read once per step or reset."""
        if self._snapshot is None:
            states = [tw.get_state() for tw in self.twins]
            tree: dict[str, Any] = {}
            for group in ("articulation", "rigid_object"):
                tree[group] = {name: {k: torch.stack([_t(s[group][name][k]) for s in states]) for k in entity}
                               for name, entity in states[0][group].items()}
            if self._trace_path:
                for name, entity in tree["rigid_object"].items():
                    self._trace.setdefault(name, []).append(entity["root_pose"].numpy().copy())
            tree["ee_frame"] = {
                "target_pos_w": torch.stack([_t(tw.get_robot_eef_pose()[:3, 3]) for tw in self.twins]).unsqueeze(1),
                "target_quat_w": torch.stack([_t(tw.observations()["eef_quat"]) for tw in self.twins]).unsqueeze(1),
            }
            if self.quat_xyzw:
                for group in ("articulation", "rigid_object"):
                    for entity in tree[group].values():
                        entity["root_pose"] = torch.cat([entity["root_pose"][:, :3],
                                                         entity["root_pose"][:, 3:7][:, WXYZ_TO_XYZW]], dim=1)
                tree["ee_frame"]["target_quat_w"] = tree["ee_frame"]["target_quat_w"][..., WXYZ_TO_XYZW]
            self._snapshot = tree
        return self._snapshot

    def view(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor.as_subclass(TorchView) if self.torch_views else tensor

    # ---------------------------------------------------------------------------------- observations
    def _observations(self) -> dict[str, Any]:
        """Every term of the config's ``policy`` and ``subtask_terms`` groups, computed by its own function."""
        out: dict[str, Any] = {}
        for group in OBSERVATION_GROUPS:
            group_cfg = getattr(self.cfg.observations, group, None)
            if group_cfg is None:
                continue
            terms = {}
            for f in dataclasses.fields(group_cfg):
                term = getattr(group_cfg, f.name)
                if hasattr(term, "func") and callable(term.func):
                    terms[f.name] = term.func(self, **(term.params or {})).clone()
            out[group] = torch.cat(list(terms.values()), dim=-1) if group_cfg.concatenate_terms else terms
        return out

    # ---------------------------------------------------------------------------------- env API
    def reset(self, seed: int | None = None, env_ids: Sequence[int] | torch.Tensor | None = None,
              options: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        ids = list(range(self.num_envs)) if env_ids is None else [int(i) for i in env_ids]
        self._in_reset = True
        self.recorder_manager.record_pre_reset(ids)
        for i in ids:
            self.twins[i].reset(seed)
            self.episode_length_buf[i] = 0
        self._snapshot = None
        self.action_manager.action[ids] = 0.0
        self.obs_buf = self._observations()
        self.recorder_manager.record_post_reset(ids)
        self._in_reset = False
        self.resets += 1
        return self.obs_buf, self.extras

    def check_fault(self) -> None:
        if self._fault_after and not self._in_reset and self.resets > self._fault_after:
            raise RuntimeError(FAULT_MESSAGE)

    def hang_if_asked(self) -> None:
        marker = os.environ.get(HANG_ENV)
        if not marker or self.resets < 2 or getattr(self, "_hang_done", False):
            return
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            self._hang_done = True
            return
        while True:
            time.sleep(3600)

    def step(self, action: torch.Tensor) -> tuple[dict[str, Any], torch.Tensor, torch.Tensor, torch.Tensor, dict]:
        self.hang_if_asked()
        self.action_manager.process_action(action)
        self.recorder_manager.record_pre_step()
        for i, twin in enumerate(self.twins):
            twin.step(action[i].detach().cpu().numpy())
        self._snapshot = None
        self.action_manager.after_step()
        self.episode_length_buf += 1
        self.common_step_counter += 1
        self.obs_buf = self._observations()
        self.recorder_manager.record_post_step()
        zeros = torch.zeros(self.num_envs, dtype=torch.bool)
        return self.obs_buf, torch.zeros(self.num_envs), zeros, zeros.clone(), self.extras

    def close(self) -> None:
        if not self.closed:
            if self._trace_path:
                np.savez(self._trace_path, **{name: np.stack(rows) for name, rows in self._trace.items()})
            self.recorder_manager.close()
            for twin in self.twins:
                twin.close()
            self.closed = True

    @property
    def unwrapped(self) -> ManagerBasedRLEnv:
        return self


class ManagerBasedRLEnv3(ManagerBasedRLEnv):
    """STAND-IN for Isaac Lab 3.0's ``ManagerBasedRLEnv``: x, y, z, w quaternions and ``.torch`` data views."""

    quat_xyzw = True
    torch_views = True
