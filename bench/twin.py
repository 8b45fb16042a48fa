"""Benchmark of the MuJoCo twin; prints one JSON object, every figure measured in this run.

    taskset -c 0 .venv/bin/python bench/twin.py [--source ../shared/data/franka_stack_annotated_10.hdf5]

- ``step``: the env step against MuJoCo's own stepping, in CPU time of this thread (robust to a loaded
  machine), best of ``--rounds`` interleaved rounds: the 10 human demos' actions replayed by the twin
  (compiled loop, and interpreted with ``ControlParams(compiled=False)``), and ``raw_mj_step_us``: the
  same env steps' ``decimation x substeps`` bare ``mj_step`` calls from the recorded states (state set
  with ``mj_setState``, that cost measured apart and taken off). ``ratio`` = env step / raw. ``split``
  times the parts of a step in replays that call them one by one, best of the rounds per part (each
  part's figure includes one clock reading, ``clock_us``).
- ``physics``: the 10 human demos' actions replayed open loop (no cameras): env steps per second and
  the multiple of real time (20 Hz control).
- ``mimic_loop``: the generator's per-step calls (eef pose, object poses, target pose -> noisy action,
  step, success, signals), driving the twin along the demos' annotated target poses; the projection is
  the time 100 generated demos of 230 steps would take on the twin alone.
- ``record``: the scripted expert with ``EpisodeRecorder`` (datagen_info on), as ``mimicforge record``.
- ``render``: frames per second per modality for one camera at the default resolution; and milliseconds
  per rgb frame of each camera with the cameras' lighter meshes (the default ``mesh_detail``) and with
  the package's full meshes, with the speed-up of both cameras together.
- ``calibration``: the replay figures of the issue's acceptance test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO.parent / "shared" / "data" / "franka_stack_annotated_10.hdf5"


def bench_physics(env, demos) -> dict:
    env.reset_to(demos[0]["initial_state"])  # warm caches and allocations; not timed
    for action in demos[0]["actions"][:50]:
        env.step(action)
    steps, start = 0, time.perf_counter()
    for demo in demos:
        env.reset_to(demo["initial_state"])
        for action in demo["actions"]:
            env.step(action)
            steps += 1
    seconds = time.perf_counter() - start
    return {"steps": steps, "seconds": round(seconds, 3), "steps_per_second": round(steps / seconds, 1),
            "x_real_time": round(steps * env.step_dt / seconds, 1)}


def _replay_cpu(env, demos) -> float:
    """CPU seconds of this thread replaying every demo's actions (resets not counted)."""
    total = 0.0
    for demo in demos:
        env.reset_to(demo["initial_state"])
        t0 = time.thread_time()
        for action in demo["actions"]:
            env.step(action)
        total += time.thread_time() - t0
    return total


def _raw_cpu(mujoco, env, states, calls: int) -> float:
    """CPU seconds of ``calls`` bare ``mj_step`` from each recorded state, less setting the states."""
    m, d, kind = env.model, env.data, mujoco.mjtState.mjSTATE_INTEGRATION
    t0 = time.thread_time()
    for s in states:
        mujoco.mj_setState(m, d, s, kind)
        for _ in range(calls):
            mujoco.mj_step(m, d)
    t1 = time.thread_time()
    for s in states:
        mujoco.mj_setState(m, d, s, kind)
    return (t1 - t0) - (time.thread_time() - t1)


def _split(env, demos) -> dict:
    """Microseconds per env step of each part, the parts called one by one as ``FrankaStackTwin.step`` does."""
    import mujoco

    clock, ik, m, d = time.thread_time, env._ik, env.model, env.data
    c = env.params.control
    held = c.substeps - 1 if c.hold_increment else 0
    parts = dict.fromkeys(("action", "physics", "controller", "observations"), 0.0)
    steps = 0
    for demo in demos:
        env.reset_to(demo["initial_state"])
        for action in demo["actions"]:
            t0 = clock()
            a = np.asarray(action, dtype=np.float64).reshape(-1)
            env._processed[:6] = ik.command(a[:6])
            env._ctrl_fingers.fill(c.finger_close if a[6] < 0.0 else c.finger_open)
            env._processed[6:] = env._ctrl_fingers
            t1 = clock()
            parts["action"] += t1 - t0
            if ik.compiled is not None:
                ik.compiled(c.decimation, held, c.substeps - 1 - held)
                t2 = clock()
                parts["physics"] += t2 - t1  # with the controller: one compiled call
            else:
                t2 = t1
                for _ in range(c.decimation):
                    t0 = clock()
                    mujoco.mj_step1(m, d)
                    t1 = clock()
                    dq = ik.servo()
                    t2 = clock()
                    mujoco.mj_step2(m, d)
                    t3 = clock()
                    for _ in range(c.substeps - 1):
                        ik.hold_target(dq)
                        mujoco.mj_step(m, d)
                    t4 = clock()
                    parts["physics"] += (t1 - t0) + (t3 - t2) + (t4 - t3)
                    parts["controller"] += t2 - t1
                t2 = clock()
                mujoco.mj_kinematics(m, d)
            env._last_action = a
            env._update()
            parts["observations"] += clock() - t2
            steps += 1
    return {k: round(1e6 * v / steps, 1) for k, v in parts.items()}


def _best_split(env, demos, rounds: int) -> dict:
    runs = [_split(env, demos) for _ in range(rounds)]
    return {k: min(r[k] for r in runs) for k in runs[0]}


def bench_step(demos, rounds: int) -> dict:
    import mujoco

    from mimicforge.backends.mujoco.env import FrankaStackTwin
    from mimicforge.backends.mujoco.params import ControlParams, TwinParams

    compiled = FrankaStackTwin(seed=0)
    # an earlier version of the twin (PYTHONPATH=<its src>) has only its interpreted loop: measured as "compiled"
    current = "compiled" in ControlParams.__dataclass_fields__
    interpreted = FrankaStackTwin(TwinParams(control=ControlParams(compiled=False)) if current else None, seed=0)
    c = compiled.params.control
    calls = c.decimation * c.substeps
    m, d, kind = compiled.model, compiled.data, mujoco.mjtState.mjSTATE_INTEGRATION
    states = []
    for demo in demos:  # the state before every env step; also warms both twins (and loads compiled code)
        interpreted.reset_to(demo["initial_state"])
        compiled.reset_to(demo["initial_state"])
        for action in demo["actions"]:
            s = np.empty(mujoco.mj_stateSize(m, kind))
            mujoco.mj_getState(m, d, s, kind)
            states.append(s)
            compiled.step(action)
            interpreted.step(action)
    times: dict[str, list[float]] = {"compiled": [], "interpreted": [], "raw": []}
    for _ in range(rounds):
        times["compiled"].append(_replay_cpu(compiled, demos))
        times["raw"].append(_raw_cpu(mujoco, compiled, states, calls))
        times["interpreted"].append(_replay_cpu(interpreted, demos))
    n = len(states)
    us = {k: 1e6 * min(v) / n for k, v in times.items()}
    t0 = time.thread_time()
    for _ in range(10000):
        time.thread_time()
    out = {
        "steps": n, "mj_step_calls_per_step": calls, "rounds": rounds, "kernel": current and compiled._ik.compiled is not None,
        "env_step_us": round(us["compiled"], 1), "raw_mj_step_us": round(us["raw"], 1),
        "ratio": round(us["compiled"] / us["raw"], 3),
        "interpreted_env_step_us": round(us["interpreted"], 1),
        "interpreted_ratio": round(us["interpreted"] / us["raw"], 3),
        "steps_per_cpu_second": round(1e6 / us["compiled"], 1),
        "clock_us": round(100 * (time.thread_time() - t0), 2),
        "split_us": {"compiled": _best_split(compiled, demos, rounds),
                     "interpreted": _best_split(interpreted, demos, rounds)} if current else None,
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }
    compiled.close()
    interpreted.close()
    return out


def bench_mimic_loop(env, demos) -> dict:
    rng = np.random.default_rng(0)
    steps, start = 0, time.perf_counter()
    for demo in demos:
        env.reset_to(demo["initial_state"])
        for target, grip in zip(demo["targets"], demo["actions"][:, 6:], strict=True):
            env.get_robot_eef_pose("franka")
            env.get_object_poses()
            action = env.target_eef_pose_to_action({"franka": target}, {"franka": grip}, {"franka": 0.03}, rng)
            env.step(action)
            env.is_success()
            env.get_subtask_term_signals()
            steps += 1
    seconds = time.perf_counter() - start
    rate = steps / seconds
    return {"steps": steps, "seconds": round(seconds, 3), "steps_per_second": round(rate, 1),
            "projected_seconds_100_demos_230_steps": round(100 * 230 / rate, 1)}


def bench_record(env, episodes: int) -> dict:
    from mimicforge.backends.mujoco.record import record_episode

    steps = kept = 0
    start = time.perf_counter()
    for i in range(episodes):
        _, attempt = record_episode(env, i, seed=0)
        steps += attempt.steps
        kept += attempt.success
    seconds = time.perf_counter() - start
    return {"episodes": episodes, "kept": kept, "mean_steps": round(steps / episodes, 1),
            "seconds_per_demo": round(seconds / episodes, 3), "steps_per_second": round(steps / seconds, 1)}


def _ms_per_frame(env, camera: str, modality: str, frames: int) -> float:
    env.render(camera, modality)  # context creation is not a frame
    start = time.perf_counter()
    for _ in range(frames):
        env.render(camera, modality)
    return 1000.0 * (time.perf_counter() - start) / frames


def bench_render(env, frames: int) -> dict:
    from mimicforge.backends.mujoco.env import FrankaStackTwin
    from mimicforge.backends.mujoco.params import CameraParams, TwinParams

    env.render("table_cam", "rgb")  # makes the GL context, which settles MUJOCO_GL
    out = {"resolution": [env.params.camera.height, env.params.camera.width], "gl": os.environ.get("MUJOCO_GL")}
    for modality in env.modalities:
        out[f"{modality}_fps"] = round(1000.0 / _ms_per_frame(env, "table_cam", modality, frames), 1)
    with FrankaStackTwin(TwinParams(camera=CameraParams(mesh_detail=1.0)), seed=0) as full:
        full.reset_to(env.get_state())
        ms = {"light": {c: _ms_per_frame(env, c, "rgb", frames) for c in env.cameras},
              "full": {c: _ms_per_frame(full, c, "rgb", frames) for c in env.cameras}}
    out["mesh_detail"] = env.params.camera.mesh_detail
    out["rgb_ms"] = {kind: {c: round(v, 2) for c, v in per.items()} for kind, per in ms.items()}
    out["light_mesh_speedup"] = round(sum(ms["full"].values()) / sum(ms["light"].values()), 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--record-episodes", type=int, default=20)
    parser.add_argument("--frames", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the step comparison")
    parser.add_argument("--only-step", action="store_true", help="the step comparison alone")
    args = parser.parse_args()

    import h5py
    import mujoco

    from mimicforge.backends.mujoco.env import FrankaStackTwin
    from mimicforge.backends.mujoco.replay import replay_dataset
    from mimicforge.datasets.reader import read_tree

    with h5py.File(args.source, "r") as f:
        demos = [{"initial_state": read_tree(g["initial_state"]), "actions": g["actions"][()],
                  "targets": g["obs/datagen_info/target_eef_pose/franka"][()].astype(np.float64)}
                 for g in f["data"].values()]
    result: dict = {
        "machine": {"python": platform.python_version(), "mujoco": mujoco.__version__,
                    "cpu": platform.processor() or platform.machine(), "cpus_usable": len(os.sched_getaffinity(0))},
    }
    result["step"] = bench_step(demos, args.rounds)
    if args.only_step:
        json.dump(result, sys.stdout, indent=2)
        print()
        return
    with FrankaStackTwin(seed=0) as env:
        result["physics"] = bench_physics(env, demos)
        result["mimic_loop"] = bench_mimic_loop(env, demos)
        result["record"] = bench_record(env, args.record_episodes)
        result["render"] = bench_render(env, args.frames)
    report = replay_dataset(args.source)
    result["calibration"] = {
        "median_pregrasp_eef_rmse_m": round(report.median_pregrasp_eef_rmse_m, 6),
        "max_pregrasp_eef_rmse_m": round(max(d.pregrasp_eef_rmse_m for d in report.demos), 6),
        "success_rate": report.success_rate,
    }
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
