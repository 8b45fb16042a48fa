"""Generation success rates on the twin from NVIDIA's 10 human demos. Prints one JSON object.

For each source-selection behaviour (per_subtask: the MimicGen paper and Isaac Lab <= 2.0; per_trial:
Isaac Lab 2.3) and each execution (refined: mimicforge's default; isaac_parity: exactly Isaac Lab Mimic's),
a real ``mimicforge generate`` run of N attempts (``--stop-on attempts``), then ``mimicforge replay`` of
what it kept: the share of generated demos that, replayed open loop from their initial state, end stacked.
Beside success: the kept demos' mean length, their length over the source segments they were built from,
and their idle share (``mimicforge.datasets.motion``), with the human demos' own figures for reference.

    python bench/success.py [--attempts 200] [--seed 1] [--input PATH] [--select per_subtask per_trial]
        [--cases all|refined|isaac_parity]
        [--keep DIR]
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
import time
from pathlib import Path

import h5py

from mimicforge.backends.mujoco.replay import replay_dataset
from mimicforge.config import load_config
from mimicforge.datasets.motion import idle_share
from mimicforge.outputs import read_metrics
from mimicforge.run.generate import run_generation

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "franka_stack_annotated_10.hdf5"


def mean(values: list, digits: int) -> float | None:
    return round(sum(values) / len(values), digits) if values else None


def motion(out: Path, kept: list[dict]) -> dict:
    """Length and idleness of the kept demos, from the file itself (so runs of any version compare), and
    their length over their own source segments where the metrics record it."""
    lengths, idle = [], []
    if out.exists():
        with h5py.File(out, "r") as f:
            for g in f["data"].values():
                lengths.append(int(g["actions"].shape[0]))
                idle.append(idle_share(g["obs/eef_pos"][()], g["obs/gripper_pos"][()]))
    ratios = [r["length_ratio"] for r in kept if r.get("length_ratio") is not None]
    return {"mean_length": mean(lengths, 1), "length_ratio": mean(ratios, 3), "idle_share": mean(idle, 4)}


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
    kept = [r for r in records if r["success"]]
    return {
        "attempts": summary.attempts,
        "successes": summary.successes,
        "success_rate": round(summary.successes / summary.attempts, 4),
        "failed_at_subtask": dict(sorted(failed.items())),
        "mean_steps": round(sum(r["steps"] for r in records) / len(records), 1),
        **motion(out, kept),
        "replay_success_rate": round(replay.success_rate, 4) if replay else None,
        "wall_s": round(wall, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", type=Path, default=REAL)
    ap.add_argument("--attempts", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cases", choices=("all", "refined", "isaac_parity"), default="all",
                    help="which executions to run (default all four cases)")
    ap.add_argument("--select", nargs="+", choices=("per_subtask", "per_trial"), default=["per_subtask", "per_trial"])
    ap.add_argument("--keep", type=Path, default=None, help="write the runs' datasets here and keep them")
    args = ap.parse_args()
    result: dict = {"benchmark": "success", "input": str(args.input), "attempts_per_case": args.attempts,
                    "seed": args.seed}
    human = motion(args.input, [])
    result["human"] = {"mean_length": human["mean_length"], "idle_share": human["idle_share"]}
    with tempfile.TemporaryDirectory() as tmp:
        if args.keep is not None:
            args.keep.mkdir(parents=True, exist_ok=True)
            tmp = str(args.keep)
        for select in args.select:
            for parity in (False, True):
                if args.cases != "all" and (args.cases == "isaac_parity") != parity:
                    continue
                key = f"{select}/{'isaac_parity' if parity else 'refined'}"
                result[key] = measure(args.input, args.attempts, args.seed, select, parity, Path(tmp))
                r = result[key]
                r["length_vs_human"] = round(r["mean_length"] / human["mean_length"], 3) if r["mean_length"] else None
                print(f"{key}: {r['success_rate']:.1%}, {r['mean_length']} steps, {r['length_ratio']}x source, "
                      f"idle {r['idle_share']}", flush=True, file=sys.stderr)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
