"""Benchmark of the MuJoCo twin; prints one JSON object, every figure measured in this run.

    taskset -c 0 .venv/bin/python bench/twin.py [--source ../shared/data/franka_stack_annotated_10.hdf5]

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
