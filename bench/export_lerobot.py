"""``mimicforge export lerobot`` at scale: wall time, CPU time and peak memory. Prints one JSON object.

Run with the training venv (``bash scripts/setup-train.sh``): ``.venv-train/bin/python bench/export_lerobot.py``.

Inputs, generated on the twin from NVIDIA's annotated demos into ``--workdir`` (kept, so a rerun only exports):

- state-only: ``--base`` generated demos, merged ``--copies`` times with ``mimicforge merge``'s code into one file
  of base x copies demos (duplicates of real generated demos: the export's work per frame is the same);
  exported whole and, for the memory comparison, its first tenth;
- images: ``--image-demos`` generated demos with ``table_cam`` and ``wrist_cam`` rgb observations at 200 x 200
  (Isaac Lab's Visuomotor size), exported as two AV1 videos.

Each export is a real ``mimicforge export lerobot`` subprocess; peak memory is its maximum resident set
(``wait4``), CPU seconds its user + system time, all threads and LeRobot's encoder processes included.

    python bench/export_lerobot.py [--base 50] [--copies 20] [--image-demos 20] [--workdir /tmp/mf-export-bench]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REAL = REPO.parent / "shared" / "data" / "franka_stack_annotated_10.hdf5"


def generate(out: Path, trials: int, seed: int, **env: str) -> Path:
    if out.exists():
        return out
    from mimicforge.config import load_config
    from mimicforge.run.dispatch import generate as run

    run(load_config(env={"INPUT_FILE": str(REAL), "OUTPUT_FILE": str(out), "NUM_TRIALS": str(trials),
                         "SEED": str(seed), "WORKERS": "1", "RAY": "0", "KEEP_FAILED": "0", **env}))
    return out


def export(dataset: Path, out: Path, *args: str) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "mimicforge", "export", "lerobot", str(dataset), "--out", str(out),
                             "--json", *args], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    stdout = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if status != 0:
        raise SystemExit(f"export of {dataset} failed with status {status}")
    # the encoder worker processes LeRobot starts are this child's children: their peak is in RUSAGE_CHILDREN
    summary = json.loads(stdout.decode().strip().splitlines()[-1])
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return {"episodes": summary["episodes"], "frames": summary["frames"], "wall_s": round(wall, 2),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
            "frames_per_s": round(summary["frames"] / wall, 1), "disk_mb": round(size / 2**20, 2),
            "input_mb": round(dataset.stat().st_size / 2**20, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", type=int, default=50)
    ap.add_argument("--copies", type=int, default=20)
    ap.add_argument("--image-demos", type=int, default=20)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/mf-export-bench"))
    args = ap.parse_args()
    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    from mimicforge.datasets import merge_datasets

    base = generate(work / "base.hdf5", args.base, 1)
    big = work / f"state_{args.base * args.copies}.hdf5"
    if not big.exists():
        merge_datasets(big, [base] * args.copies)
    images = generate(work / "images.hdf5", args.image_demos, 2, IMAGE_OBS="table_cam,wrist_cam")
    n = args.base * args.copies
    results = {
        f"state_{n // 10}": export(big, work / "out_small", "--demos", f"0-{n // 10 - 1}"),
        f"state_{n}": export(big, work / "out_big"),
        f"images_{args.image_demos}_two_cameras_200x200": export(images, work / "out_images"),
    }
    print(json.dumps({"machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                                  "load_1min": round(os.getloadavg()[0], 2)},
                      "input": {"state": f"{args.base} generated demos merged {args.copies} times",
                                "images": f"{args.image_demos} generated demos, table_cam + wrist_cam 200x200"},
                      "exports": results,
                      "bench_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))


if __name__ == "__main__":
    main()
