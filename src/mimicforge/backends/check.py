"""``check_env``: does an environment keep the ``MimicEnv`` contract the generator relies on?

It exercises the environment the way the generator and the recorder do and lists every breach it finds
(an empty list means the environment passed): attributes, observations and state trees, seeded
determinism, state round trips, pose and action conversions (spec §2.4), signals, success, rendering.
Backends run it in their tests; a new backend should pass it before the generator is pointed at it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from mimicforge.backends.base import MimicEnv
from mimicforge.tasks import TaskSpec

Problems = list[str]


def _flatten(tree: Any, prefix: str = "") -> dict[str, np.ndarray]:
    if isinstance(tree, Mapping):
        out: dict[str, np.ndarray] = {}
        for k, v in tree.items():
            out.update(_flatten(v, f"{prefix}{k}/"))
        return out
    return {prefix.rstrip("/"): np.asarray(tree)}


def _same(a: Any, b: Any, atol: float = 0.0) -> bool:
    """Same keys and values: bit for bit by default, within ``atol`` where frames are converted."""
    fa, fb = _flatten(a), _flatten(b)
    if fa.keys() != fb.keys():
        return False
    if atol == 0.0:
        return all(np.array_equal(fa[k], fb[k]) for k in fa)
    return all(fa[k].shape == fb[k].shape and np.allclose(fa[k], fb[k], rtol=0.0, atol=atol) for k in fa)


def _pose_problems(pose: Any, what: str) -> Problems:
    p = np.asarray(pose)
    if p.shape != (4, 4) or not np.all(np.isfinite(p)):
        return [f"{what} is not a finite 4x4 matrix (shape {p.shape})"]
    problems = []
    if not np.allclose(p[3], [0, 0, 0, 1]):
        problems.append(f"{what}: last row is not 0 0 0 1")
    if not np.allclose(p[:3, :3] @ p[:3, :3].T, np.eye(3), atol=1e-5) or np.linalg.det(p[:3, :3]) < 0:
        problems.append(f"{what}: rotation block is not a rotation")
    return problems


def _rollout(env: MimicEnv, seed: int, steps: int) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    trace = [{k: np.array(v) for k, v in env.reset(seed).items()}]
    for _ in range(steps):
        action = np.concatenate([rng.uniform(-0.3, 0.3, env.action_dim - 1), [rng.choice([-1.0, 1.0])]])
        trace.append({k: np.array(v) for k, v in env.step(action).items()})
    return trace


def _check(problems: Problems, name: str, test: Callable[[], Problems]) -> None:
    try:
        problems += test()
    except Exception as exc:  # a crash is a finding, not a reason to stop checking
        problems.append(f"{name} raised {type(exc).__name__}: {exc}")


def check_env(env: Any, *, seed: int = 0, steps: int = 10, render: bool = True) -> Problems:
    """Every way ``env`` breaks the MimicEnv contract (empty list: none found). Leaves ``env`` open."""
    if not isinstance(env, MimicEnv):
        missing = [m for m in ("reset", "reset_to", "step", "observations", "get_state", "get_robot_eef_pose",
                               "get_object_poses", "target_eef_pose_to_action", "action_to_target_eef_pose",
                               "actions_to_gripper_actions", "get_subtask_term_signals", "is_success",
                               "processed_action", "render", "close") if not callable(getattr(env, m, None))]
        return [f"not a MimicEnv: missing {', '.join(missing) or 'attributes'}"]
    problems: Problems = []
    task = env.task
    if not isinstance(task, TaskSpec):
        return [f"env.task is {type(task).__name__}, not a TaskSpec"]
    layout = task.action_layout
    if env.action_dim != layout.dim:
        return problems + [f"action_dim {env.action_dim!r} is not the task's action layout of {layout.dim} "
                           f"({', '.join(layout.pose + layout.gripper)})"]
    if not env.step_dt > 0:
        problems.append(f"step_dt {env.step_dt!r} is not positive")
    _check(problems, "reset/step", lambda: _check_determinism(env, seed, steps))
    _check(problems, "observations", lambda: _check_observations(env, seed))
    _check(problems, "get_state/reset_to", lambda: _check_state(env, task, seed))
    _check(problems, "poses", lambda: _check_poses(env, task))
    _check(problems, "actions", lambda: _check_actions(env, task, seed))
    _check(problems, "signals", lambda: _check_signals(env, task))
    if render:
        _check(problems, "render", lambda: _check_render(env))
    return problems


def _check_determinism(env: MimicEnv, seed: int, steps: int) -> Problems:
    problems = []
    first, second = _rollout(env, seed, steps), _rollout(env, seed, steps)
    if not all(_same(a, b) for a, b in zip(first, second, strict=True)):
        problems.append(f"the same seed ({seed}) and actions gave different observations")
    if _same(env.reset(seed), env.reset(seed + 1)):
        problems.append("different seeds gave the same initial observation: reset ignores its seed")
    return problems


def _check_observations(env: MimicEnv, seed: int) -> Problems:
    problems = []
    obs = env.reset(seed)
    if not _same(obs, env.observations()):
        problems.append("observations() differs from what reset() returned")
    for key, value in obs.items():
        arr = np.asarray(value)
        if arr.ndim != 1 or not np.all(np.isfinite(arr)):
            problems.append(f"observation {key!r} is not a finite 1-D array (shape {arr.shape})")
    if "actions" in obs and np.any(np.asarray(obs["actions"]) != 0):
        problems.append("obs['actions'] after reset is not zero (Isaac's last_action)")
    action = np.zeros(env.action_dim)
    action[-1] = 1.0
    after = env.step(action)
    if after.keys() != obs.keys():
        problems.append("step() returned different observation keys than reset()")
    if not _same(after, env.observations()):
        problems.append("observations() differs from what step() returned")
    if "actions" in after and not np.allclose(after["actions"], action):
        problems.append("obs['actions'] after a step is not the action just applied")
    try:
        env.step(np.zeros(env.action_dim + 1))
        problems.append("step() accepted an action of the wrong length")
    except (ValueError, IndexError):
        pass
    return problems


def _check_state(env: MimicEnv, task: TaskSpec, seed: int) -> Problems:
    problems = []
    env.reset(seed)
    state = env.get_state()
    robot = state.get("articulation", {}).get("robot", {})
    for key, n in (("root_pose", 7), ("root_velocity", 6), ("joint_position", None), ("joint_velocity", None)):
        arr = np.asarray(robot.get(key, []))
        if arr.ndim != 1 or (n is not None and arr.shape != (n,)):
            problems.append(f"state articulation/robot/{key} has shape {arr.shape}")
    for obj in task.object_names:
        node = state.get("rigid_object", {}).get(obj, {})
        for key, n in (("root_pose", 7), ("root_velocity", 6)):
            if np.asarray(node.get(key, [])).shape != (n,):
                problems.append(f"state rigid_object/{obj}/{key} is missing or not ({n},)")
    action = np.zeros(env.action_dim)
    action[:3] = 0.2
    action[-1] = -1.0
    for _ in range(3):
        env.step(action)
    saved, saved_obs = env.get_state(), {k: np.array(v) for k, v in env.observations().items()}
    follow = [np.array(env.step(action)["eef_pos" if "eef_pos" in saved_obs else next(iter(saved_obs))])
              for _ in range(3)]
    restored = env.reset_to(saved)
    if not _same(env.get_state(), saved, atol=1e-9):
        problems.append("reset_to(get_state()) does not restore the state")
    for key in saved_obs:
        if key != "actions" and not np.allclose(restored[key], saved_obs[key], atol=1e-6):
            problems.append(f"reset_to(get_state()) does not restore observation {key!r}")
    if "actions" in restored and np.any(np.asarray(restored["actions"]) != 0):
        problems.append("reset_to() does not zero the last action")
    again = [np.array(env.step(action)["eef_pos" if "eef_pos" in saved_obs else next(iter(saved_obs))])
             for _ in range(3)]
    if not all(np.array_equal(a, b) for a, b in zip(follow, again, strict=True)):
        problems.append("the same actions from a restored state gave a different trajectory")
    return problems


def _check_poses(env: MimicEnv, task: TaskSpec) -> Problems:
    problems = []
    for eef in task.eef_names:
        problems += _pose_problems(env.get_robot_eef_pose(eef), f"get_robot_eef_pose({eef!r})")
    poses = env.get_object_poses()
    if set(poses) != set(task.object_names):
        problems.append(f"get_object_poses() keys {sorted(poses)} are not the task's objects {list(task.object_names)}")
    for name, pose in poses.items():
        problems += _pose_problems(pose, f"object pose {name!r}")
    return problems


def _check_actions(env: MimicEnv, task: TaskSpec, seed: int) -> Problems:
    problems = []
    eef = task.eef_names[0]
    current = env.get_robot_eef_pose(eef)
    grip = {eef: np.array([1.0])}
    still = env.target_eef_pose_to_action({eef: current}, grip)
    if np.abs(np.asarray(still)[:-1]).max() > 1e-6 or still[-1] != 1.0:
        problems.append("target_eef_pose_to_action(current pose) is not a zero pose action plus the gripper")
    raw = np.array(task.action_layout.example(gripper=-1.0))
    target = env.action_to_target_eef_pose(raw)[eef]
    problems += _pose_problems(target, "action_to_target_eef_pose()")
    back = env.target_eef_pose_to_action({eef: target}, {eef: raw[-1:]})
    if not np.allclose(back, raw, atol=1e-6):
        problems.append(f"target_eef_pose_to_action does not invert action_to_target_eef_pose ({back} vs {raw})")
    far = current.copy()
    far[:3, 3] += 5.0
    noisy = [env.target_eef_pose_to_action({eef: far}, grip, {eef: 0.03}, np.random.default_rng(seed))
             for _ in range(2)]
    if not np.array_equal(noisy[0], noisy[1]):
        problems.append("the same noise Generator state gave different actions")
    if np.abs(noisy[0][:-1]).max() > 1.0:
        problems.append("a noisy action is not clamped to [-1, 1]")
    grippers = env.actions_to_gripper_actions(np.tile(raw, (4, 1)))
    if set(grippers) != set(task.eef_names) or np.asarray(grippers[eef]).shape[0] != 4:
        problems.append("actions_to_gripper_actions() does not give (T, k) per end effector")
    if not np.all(np.isfinite(env.processed_action())):
        problems.append("processed_action() is not finite")
    return problems


def _check_signals(env: MimicEnv, task: TaskSpec) -> Problems:
    problems = []
    signals = env.get_subtask_term_signals()
    for eef in task.eef_names:
        for name in task.term_signals(eef):
            if name not in signals:
                problems.append(f"subtask signal {name!r} is missing")
    if not all(isinstance(v, (bool, np.bool_)) for v in signals.values()):
        problems.append("subtask signals are not booleans")
    if not isinstance(env.is_success(), (bool, np.bool_)):
        problems.append("is_success() is not a boolean")
    return problems


_RENDER_SPECS = {"rgb": (3, np.uint8), "depth": (2, np.float32), "semantic_segmentation": (3, np.uint8),
                 "normals": (3, np.float32)}


def _check_render(env: MimicEnv) -> Problems:
    problems = []
    for camera in env.cameras:
        for modality in env.modalities:
            image = np.asarray(env.render(camera, modality))
            ndim, dtype = _RENDER_SPECS.get(modality, (image.ndim, image.dtype))
            channels = {"rgb": 3, "semantic_segmentation": 4, "normals": 3}.get(modality)
            if image.ndim != ndim or image.dtype != dtype or (channels and image.shape[-1] != channels):
                problems.append(f"render({camera!r}, {modality!r}) gave {image.dtype} {image.shape}")
    return problems
