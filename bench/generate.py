"""Generation throughput on the embedded twin, without and with cameras. Prints one JSON object.

For each case it runs a real ``mimicforge generate`` session (same code path as the CLI, failed attempts
kept, outputs in a temporary folder) and then, in the same process, replays every attempt's recorded
actions from its initial state through ``MimicEnv.step``: the same physics, step for step, with nothing
else. ``overhead_ratio`` = generation wall time / that raw stepping time: what MimicGen, recording,
crash-safe writing and (with cameras) rendering add on top of the simulation itself.
``overhead_ratio_in_run`` divides the same wall time by the time the run itself spent inside
``MimicEnv.step``: one run's own figures, so a machine whose speed drifts between the generation and the
replay (a shared host) does not move it.

``paired`` (``--paired-successes``, cameras off) answers whether an env step costs more inside a generation run
than replayed back to back: each attempt's actions are replayed on a second twin right after the attempt, from
its initial state, so the two timings of the same steps are taken seconds apart (thread CPU time, in this
process) rather than minutes apart on a machine whose speed drifts. ``in_run_over_replayed`` is their ratio.

    python bench/generate.py [--successes 100] [--camera-successes 5] [--paired-successes 30] [--input PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

from mimicforge.backends import make_env_factory
from mimicforge.backends.base import state_at
from mimicforge.datasets import DatasetReader
from mimicforge.errors import DatasetFormatError
from mimicforge.config import load_config
from mimicforge.outputs import read_metrics
from mimicforge.run.generate import run_generation
from mimicforge.tasks import FRANKA_STACK

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "franka_stack_annotated_10.hdf5"


def raw_steps(cfg, files: list[Path]) -> tuple[float, int]:
    """Seconds to step the recorded actions of every demo in ``files`` (and how many steps that was)."""
    env = make_env_factory("mujoco")(FRANKA_STACK, cfg)
    total = 0.0
    steps = 0
    try:
        for path in files:
            try:
                with DatasetReader(path) as r:
                    demos = [r.demo(n, parts=("actions", "initial_state")) for n in r.demo_names]
            except DatasetFormatError:  # absent, or no failed attempt to keep
                continue
            for d in demos:
                env.reset_to(state_at(d.initial_state, 0))
                t0 = time.perf_counter()
                for a in d.actions:
                    env.step(a)
                total += time.perf_counter() - t0
                steps += len(d.actions)
    finally:
        env.close()
    return total, steps


def case(name: str, src: Path, successes: int, cameras: str | None, workdir: Path) -> dict:
    env = {"INPUT_FILE": str(src), "OUTPUT_FILE": str(workdir / f"{name}.hdf5"), "NUM_TRIALS": str(successes),
           "SEED": "1", "KEEP_FAILED": "1"}
    if cameras:
        env.update({"CAMERAS": cameras, "MODALITIES": "rgb", "OUTPUT_DIR": str(workdir / f"{name}_images")})
    cfg = load_config(env=env)
    first: list[float] = []
    in_step = [0.0]

    def timed_factory(task, cfg):  # the twin, its step timed from inside the run
        twin = make_env_factory("mujoco")(task, cfg)
        step = twin.step

        def timed(action):
            t = time.perf_counter()
            try:
                return step(action)
            finally:
                in_step[0] += time.perf_counter() - t

        twin.step = timed
        return twin

    def note(record, summary) -> None:  # called after the attempt is on disk
        if record.success and not first:
            first.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    c0 = time.process_time()
    summary = run_generation(cfg, env_factory=timed_factory, on_attempt=note)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    records = list(read_metrics(workdir / f"{name}.metrics.jsonl"))
    steps = sum(r["steps"] for r in records)
    raw, replayed = raw_steps(cfg, [workdir / f"{name}.hdf5", workdir / f"{name}_failed.hdf5"])
    assert replayed == steps, (replayed, steps)
    sim_seconds = steps * 0.05
    return {
        "successes": summary.successes,
        "attempts": summary.attempts,
        "success_rate": round(summary.success_rate, 4),
        "wall_s": round(wall, 2),
        "attempts_per_s": round(summary.attempts / wall, 3),
        "successes_per_min": round(summary.successes / wall * 60, 2),
        "cpu_s": round(cpu, 2),
        "successes_per_cpu_min": round(summary.successes / cpu * 60, 2),
        "first_success_s": round(first[0], 2) if first else None,
        "mean_steps_kept": summary.to_dict()["mean_steps"],
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "env_steps": steps,
        "raw_step_s": round(raw, 2),
        "overhead_ratio": round(wall / raw, 3),
        "step_s_in_run": round(in_step[0], 2),
        "overhead_ratio_in_run": round(wall / in_step[0], 3),
        "x_real_time": round(sim_seconds / wall, 1),
    }


def paired(src: Path, successes: int, workdir: Path) -> dict:
    """Each attempt's env steps timed in the run, then the same actions replayed on a second twin at once."""
    import numpy as np

    cfg = load_config(env={"INPUT_FILE": str(src), "OUTPUT_FILE": str(workdir / "paired.hdf5"),
                           "NUM_TRIALS": str(successes), "SEED": "1"})
    spare = make_env_factory("mujoco")(FRANKA_STACK, cfg)
    spare.step(np.zeros(spare.action_dim))  # loads the compiled loop: not a step's cost
    run_cpu, replay_cpu, steps = [0.0], [0.0], [0]
    attempt: dict = {"state": None, "actions": []}

    def replay_last() -> None:
        if attempt["state"] is None:
            return
        spare.reset_to(attempt["state"])
        t = time.thread_time()
        for a in attempt["actions"]:
            spare.step(a)
        replay_cpu[0] += time.thread_time() - t

    def paired_factory(task, cfg):
        twin = make_env_factory("mujoco")(task, cfg)
        step, reset = twin.step, twin.reset

        def timed(action):
            attempt["actions"].append(np.array(action))
            t = time.thread_time()
            try:
                return step(action)
            finally:
                run_cpu[0] += time.thread_time() - t
                steps[0] += 1

        def reset_after_replay(*args, **kwargs):
            replay_last()
            obs = reset(*args, **kwargs)
            attempt["state"], attempt["actions"] = twin.get_state(), []
            return obs

        twin.step, twin.reset = timed, reset_after_replay
        return twin

    try:
        summary = run_generation(cfg, env_factory=paired_factory)
        replay_last()
    finally:
        spare.close()
    return {"successes": summary.successes, "attempts": summary.attempts, "env_steps": steps[0],
            "in_run_step_ms": round(1000 * run_cpu[0] / steps[0], 4),
            "replayed_step_ms": round(1000 * replay_cpu[0] / steps[0], 4),
            "in_run_over_replayed": round(run_cpu[0] / replay_cpu[0], 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", type=Path, default=REAL)
    ap.add_argument("--successes", type=int, default=100)
    ap.add_argument("--camera-successes", type=int, default=5)
    ap.add_argument("--paired-successes", type=int, default=30, help="the paired in-run/replayed step run (0: off)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = {
            "benchmark": "generate",
            "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": sys.platform},
            "input": str(args.input),
            "no_cameras": case("plain", args.input, args.successes, None, Path(tmp)),
        }
        if args.camera_successes > 0:
            result["two_cameras_rgb"] = case("cams", args.input, args.camera_successes,
                                                   "table_cam,table_high_cam", Path(tmp))
        if args.paired_successes > 0:
            result["paired"] = paired(args.input, args.paired_successes, Path(tmp))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
