"""Scaling of supervised workers on this machine: successes/min with 1 and with 2 workers, one run.

Both cases go through the supervisor (spawned workers, shards, final merge), so the comparison includes
process start-up and merging. ``efficiency`` = rate(2 workers) / (2 × rate(1 worker)).

    python bench/scale.py [--successes 80] [--input PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from mimicforge.config import load_config
from mimicforge.datasets import validate
from mimicforge.run.supervisor import run_supervised

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "franka_stack_annotated_10.hdf5"


def rate(src: Path, workers: int, successes: int, workdir: Path) -> dict:
    out = workdir / f"w{workers}.hdf5"
    cfg = load_config(env={"INPUT_FILE": str(src), "OUTPUT_FILE": str(out), "NUM_TRIALS": str(successes),
                           "WORKERS": str(workers), "SEED": "1"})
    t0 = time.perf_counter()
    summary = run_supervised(cfg)
    wall = time.perf_counter() - t0
    assert validate(out) == [], f"{out} is not valid"
    return {"workers": workers, "successes": summary.successes, "attempts": summary.attempts,
            "wall_s": round(wall, 2), "successes_per_min": round(summary.successes / wall * 60, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", type=Path, default=REAL)
    ap.add_argument("--successes", type=int, default=80)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        one = rate(args.input, 1, args.successes, Path(tmp))
        two = rate(args.input, 2, args.successes, Path(tmp))
    print(json.dumps({
        "benchmark": "scale",
        "cpus": os.cpu_count(),
        "one_worker": one,
        "two_workers": two,
        "speedup": round(two["successes_per_min"] / one["successes_per_min"], 3),
        "efficiency": round(two["successes_per_min"] / (2 * one["successes_per_min"]), 3),
    }, indent=2))


if __name__ == "__main__":
    main()
