"""Generation success rates on the twin from NVIDIA's 10 human demos. Prints one JSON object.

For each source-selection behaviour (per_subtask: the MimicGen paper and Isaac Lab <= 2.0; per_trial:
Isaac Lab 2.3) and each execution (refined: mimicforge's default; isaac_parity: exactly Isaac Lab Mimic's),
a real ``mimicforge generate`` run of N attempts (``--stop-on attempts``), then ``mimicforge replay`` of
what it kept: the share of generated demos that, replayed open loop from their initial state, end stacked.

    python bench/success.py [--attempts 200] [--seed 1] [--input PATH]
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
import time
from pathlib import Path

from mimicforge.backends.mujoco.replay import replay_dataset
from mimicforge.config import load_config
from mimicforge.outputs import read_metrics
from mimicforge.run.generate import run_generation

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "franka_stack_annotated_10.hdf5"


def measure(src: Path, attempts: int, seed: int, select: str, parity: bool, workdir: Path) -> dict:
    out = workdir / f"{select}_{'parity' if parity else 'refined'}.hdf5"
    cfg = load_config(env={"INPUT_FILE": str(src), "OUTPUT_FILE": str(out), "NUM_TRIALS": str(attempts),
                           "STOP_ON": "attempts", "SEED": str(seed), "SELECT_SOURCE": select,
                           "ISAAC_PARITY": "1" if parity else "0", "MAX_CONSECUTIVE_FAILURES": str(attempts)})
    t0 = time.perf_counter()
    summary = run_generation(cfg)
    wall = time.perf_counter() - t0
    records = list(read_metrics(out.with_name(out.stem + ".metrics.jsonl")))
    failed = collections.Counter(str(r["failed_subtask"]) for r in records if not r["success"])
    replay = replay_dataset(out) if summary.successes else None
    return {
        "attempts": summary.attempts,
        "successes": summary.successes,
        "success_rate": round(summary.successes / summary.attempts, 4),
        "failed_at_subtask": dict(sorted(failed.items())),
        "mean_steps": round(sum(r["steps"] for r in records) / len(records), 1),
        "replay_success_rate": round(replay.success_rate, 4) if replay else None,
        "wall_s": round(wall, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", type=Path, default=REAL)
    ap.add_argument("--attempts", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    result: dict = {"benchmark": "success", "input": str(args.input), "attempts_per_case": args.attempts,
                    "seed": args.seed}
    with tempfile.TemporaryDirectory() as tmp:
        for select in ("per_subtask", "per_trial"):
            for parity in (False, True):
                key = f"{select}/{'isaac_parity' if parity else 'refined'}"
                result[key] = measure(args.input, args.attempts, args.seed, select, parity, Path(tmp))
                print(f"{key}: {result[key]['success_rate']:.1%}", flush=True, file=sys.stderr)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
