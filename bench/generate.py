"""Generation throughput on the embedded twin, without and with cameras. Prints one JSON object.

For each case it runs a real ``mimicforge generate`` session (same code path as the CLI, outputs in a
temporary folder) and then, in the same process, times as many raw env steps (zero-noise actions through
``MimicEnv.step``) as the generation executed. ``overhead_ratio`` = generation wall time / raw step time:
what MimicGen, recording and crash-safe writing add on top of the simulation itself.

    python bench/generate.py [--successes 100] [--camera-successes 5] [--input PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from mimicforge.backends import make_env_factory
from mimicforge.config import load_config
from mimicforge.outputs import read_metrics
from mimicforge.run.generate import run_generation
from mimicforge.tasks import FRANKA_STACK

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "franka_stack_annotated_10.hdf5"


def raw_steps(cfg, steps: int) -> float:
    """Seconds for ``steps`` env steps holding the arm still (reset every 250 steps, like episodes)."""
    env = make_env_factory("mujoco")(FRANKA_STACK, cfg)
    try:
        action = np.zeros(env.action_dim, dtype=np.float32)
        action[-1] = 1.0
        env.reset(seed=0)
        t0 = time.perf_counter()
        for i in range(steps):
            if i and i % 250 == 0:
                env.reset(seed=i)
            env.step(action)
        return time.perf_counter() - t0
    finally:
        env.close()


def case(name: str, src: Path, successes: int, cameras: str | None, workdir: Path) -> dict:
    env = {"INPUT_FILE": str(src), "OUTPUT_FILE": str(workdir / f"{name}.hdf5"), "NUM_TRIALS": str(successes),
           "SEED": "1"}
    if cameras:
        env.update({"CAMERAS": cameras, "MODALITIES": "rgb", "OUTPUT_DIR": str(workdir / f"{name}_images")})
    cfg = load_config(env=env)
    t0 = time.perf_counter()
    summary = run_generation(cfg)
    wall = time.perf_counter() - t0
    records = list(read_metrics(workdir / f"{name}.metrics.jsonl"))
    steps = sum(r["steps"] for r in records)
    raw = raw_steps(cfg, steps)
    sim_seconds = steps * 0.05
    return {
        "successes": summary.successes,
        "attempts": summary.attempts,
        "success_rate": round(summary.success_rate, 4),
        "wall_s": round(wall, 2),
        "attempts_per_s": round(summary.attempts / wall, 3),
        "successes_per_min": round(summary.successes / wall * 60, 2),
        "env_steps": steps,
        "raw_step_s": round(raw, 2),
        "overhead_ratio": round(wall / raw, 3),
        "x_real_time": round(sim_seconds / wall, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", type=Path, default=REAL)
    ap.add_argument("--successes", type=int, default=100)
    ap.add_argument("--camera-successes", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = {
            "benchmark": "generate",
            "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": sys.platform},
            "input": str(args.input),
            "no_cameras": case("plain", args.input, args.successes, None, Path(tmp)),
        }
        if args.camera_successes > 0:
            result["cameras_table_cam_rgb"] = case("cams", args.input, args.camera_successes, "table_cam,table_high_cam",
                                                   Path(tmp))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
