"""Replay recorded demos open loop in the twin: how faithfully does it reproduce Isaac Lab?

Each demo starts from its ``initial_state`` and receives its recorded actions, one per step, with no
feedback. Annotated demos bring their subtask signals; for generated ones (no ``obs/datagen_info``) the
signals are computed from the recorded observations with the task's checks. Two numbers per demo: the
end-effector position RMSE against the recorded ``obs/eef_pos``
over the steps before the first grasp (contact-free motion, where the twin's control model alone
decides), and whether the cubes end up stacked by the task's success check (everything, contacts
included, reproduced well enough for the human's actions to still work).

``obs/eef_pos[t + 1]`` is the observation after action ``t``, so step ``t`` is compared with it.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from mimicforge.backends.mujoco import ENV_NAME
from mimicforge.datasets import layout
from mimicforge.datasets.reader import DatasetReader, first_change, read_tree
from mimicforge.backends.mujoco.signals import subtask_signals
from mimicforge.errors import DatasetFormatError
from mimicforge.tasks import StackThresholds, task_for_env

log = logging.getLogger(__name__)

_NEEDED = ("actions", "obs/eef_pos", "initial_state/articulation/robot/joint_position",
           "initial_state/articulation/robot/joint_velocity",
           *(f"initial_state/rigid_object/{c}/{k}" for c in ("cube_1", "cube_2", "cube_3")
             for k in ("root_pose", "root_velocity")))


@dataclass(frozen=True)
class DemoReplay:
    name: str
    steps: int
    pregrasp_steps: int
    pregrasp_eef_rmse_m: float
    success: bool
    first_signals: dict[str, tuple[int | None, int | None]]  # signal -> (twin's first True, recorded)


@dataclass(frozen=True)
class ReplayReport:
    path: str
    demos: tuple[DemoReplay, ...]

    @property
    def median_pregrasp_eef_rmse_m(self) -> float:
        return float(np.median([d.pregrasp_eef_rmse_m for d in self.demos]))

    @property
    def success_rate(self) -> float:
        return sum(d.success for d in self.demos) / len(self.demos)

    def to_json(self) -> dict[str, Any]:
        return {
            "demos": [{"name": d.name, "pregrasp_eef_rmse_m": d.pregrasp_eef_rmse_m, "success": d.success}
                      for d in self.demos],
            "median_pregrasp_eef_rmse_m": self.median_pregrasp_eef_rmse_m,
            "success_rate": self.success_rate,
        }


def _first_true(signal: np.ndarray) -> int | None:
    sig = np.asarray(signal).astype(bool)
    if sig.size == 0:
        return None
    if sig[0]:
        return 0
    edge = first_change(sig)
    return None if edge is None else edge + 1


def recorded_signals(group: Any, th: StackThresholds) -> dict[str, np.ndarray]:
    """The subtask signals of a demo without annotations (a generated one), computed from its recorded
    observations with the task's own checks: what annotation would have recorded."""
    cubes = group["obs/cube_positions"][()].astype(np.float64).reshape(-1, 3, 3)
    eef = group["obs/eef_pos"][()].astype(np.float64)
    grip = group["obs/gripper_pos"][()].astype(np.float64)
    rows = [subtask_signals({"cube_1": c[0], "cube_2": c[1], "cube_3": c[2]}, e, np.array([g[0], -g[1]]), th)
            for c, e, g in zip(cubes, eef, grip)]
    return {k: np.array([r[k] for r in rows]) for k in rows[0]}


def _load(reader: DatasetReader, name: str, grasp: str, th: StackThresholds) -> dict[str, Any]:
    group = reader.group(name)
    missing = [p for p in _NEEDED if p not in group]
    signals_path = f"{layout.DATAGEN_INFO}/subtask_term_signals"
    observed = ("obs/cube_positions", "obs/gripper_pos")
    if signals_path not in group and not all(p in group for p in observed):
        missing.append(f"{signals_path} (or {' and '.join(observed)} to compute it)")
    if missing:
        raise DatasetFormatError(f"{reader.path}: data/{name} lacks {', '.join(missing)}")
    reader.check_lengths(name)
    signals = read_tree(group[signals_path]) if signals_path in group else recorded_signals(group, th)
    if grasp not in signals:
        raise DatasetFormatError(
            f"{reader.path}: data/{name} has no subtask signal {grasp!r} (found: {', '.join(sorted(signals))})"
        )
    return {
        "actions": group["actions"][()],
        "initial_state": reader.demo(name, parts=("initial_state",)).initial_state,  # quaternions WXYZ
        "eef_pos": group["obs/eef_pos"][()],
        "signals": signals,
    }


def replay_demo(env: Any, name: str, demo: dict[str, Any], grasp: str) -> DemoReplay:
    actions, recorded = demo["actions"], demo["eef_pos"]
    steps = len(actions)
    if actions.ndim != 2 or actions.shape[1] != env.action_dim:
        raise DatasetFormatError(f"data/{name}/actions has shape {actions.shape}; the twin takes "
                                 f"(steps, {env.action_dim}) IK-Rel actions")
    grasp_at = _first_true(demo["signals"][grasp])
    pregrasp = steps if grasp_at is None else grasp_at
    try:
        env.reset_to(demo["initial_state"])
    except ValueError as exc:
        raise DatasetFormatError(f"data/{name}/initial_state is {exc}") from None
    sq_err: list[float] = []
    first: dict[str, int | None] = {k: None for k in demo["signals"]}
    for t in range(steps):
        obs = env.step(actions[t])
        if t < pregrasp and t + 1 < steps:
            diff = obs["eef_pos"].astype(np.float64) - recorded[t + 1]
            sq_err.append(float(diff @ diff))
        for key, value in env.get_subtask_term_signals().items():
            if value and key in first and first[key] is None:
                first[key] = t + 1
    rmse = math.sqrt(sum(sq_err) / len(sq_err)) if sq_err else 0.0
    return DemoReplay(
        name=name, steps=steps, pregrasp_steps=len(sq_err), pregrasp_eef_rmse_m=rmse, success=env.is_success(),
        first_signals={k: (first[k], _first_true(v)) for k, v in demo["signals"].items()},
    )


def replay_dataset(path: str | os.PathLike[str], *, params: Any = None,
                   on_demo: Callable[[DemoReplay], None] | None = None) -> ReplayReport:
    """Replay every demo of ``path`` in the twin. Checks the whole file before simulating anything."""
    with DatasetReader(path) as reader:
        task = task_for_env(reader.env_name or ENV_NAME)  # a file without env_args: assume the twin's task
        eef = task.eef_names[0]
        grasp = task.term_signals(eef)[0]
        demos = {name: _load(reader, name, grasp, task.thresholds) for name in reader.demo_names}
        shown = str(reader.path)
    from mimicforge.backends.mujoco.env import FrankaStackTwin

    results = []
    with FrankaStackTwin(params) as env:
        for name, demo in demos.items():
            try:
                result = replay_demo(env, name, demo, grasp)
            except DatasetFormatError as exc:
                raise DatasetFormatError(f"{shown}: {exc}") from None
            log.debug("%s: pre-grasp eef RMSE %.2f mm, success %s", name, 1e3 * result.pregrasp_eef_rmse_m,
                      result.success)
            if on_demo is not None:
                on_demo(result)
            results.append(result)
    return ReplayReport(shown, tuple(results))


def format_report(report: ReplayReport) -> str:
    lines = [f"{report.path}: open-loop replay in the MuJoCo twin",
             f"  {'demo':<10} {'steps':>5} {'pre-grasp eef RMSE':>19}  {'stacked':<7}  first signals (twin/recorded)"]
    for d in report.demos:
        sig = ", ".join(f"{k} {a if a is not None else '-'}/{b if b is not None else '-'}"
                        for k, (a, b) in sorted(d.first_signals.items()))
        lines.append(f"  {d.name:<10} {d.steps:>5} {1e3 * d.pregrasp_eef_rmse_m:>16.2f} mm  "
                     f"{'yes' if d.success else 'no':<7}  {sig}")
    n_ok = sum(d.success for d in report.demos)
    lines.append(f"  median pre-grasp eef RMSE {1e3 * report.median_pregrasp_eef_rmse_m:.2f} mm; "
                 f"stacked {n_ok}/{len(report.demos)} ({100 * report.success_rate:.0f} %)")
    return "\n".join(lines)
