"""The sharded finish (``run.shards.finalize``) on outputs of tiny demos: what a fresh run's finish costs, and what a
resume of a large output costs (its shards hold a few fresh demos).

- ``fresh``: OUT is empty, two worker shards hold ``--demos`` demos between them (the end of a fresh run);
- ``resume``: OUT holds ``--demos`` demos, two shards hold 2 fresh ones (a resume of a large output).

Each case is built anew before each timed repetition (``--repeat``), then ``finalize`` runs in this process
(cameras off); ``seconds`` is the median wall time, and ``out_bytes_written`` what the finish wrote into OUT's folder
(``/proc/self/io`` write_bytes, so a rewrite of OUT shows). The same script runs on older code (``PYTHONPATH=...``),
whose ``finalize`` has the same signature, for a before/after pair.

    python bench/finish.py [--demos 1000] [--steps 20] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from mimicforge.config import load_config
from mimicforge.datasets import DatasetWriter, layout
from mimicforge.run.shards import ShardLayout, finalize

ENV = "Isaac-Stack-Cube-Franka-IK-Rel-Mimic-v0"


def episode(steps: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)

    def rows(d: int, n: int = steps) -> np.ndarray:
        return rng.standard_normal((n, d)).astype(np.float32)

    def state(n: int) -> dict:
        return {"articulation": {"robot": {"joint_position": rows(9, n), "root_pose": rows(7, n)}},
                "rigid_object": {f"cube_{i}": {"root_pose": rows(7, n)} for i in (1, 2, 3)}}

    return {"actions": rows(7), "obs": {"eef_pos": rows(3), "eef_quat": rows(4), "object": rows(39)},
            "initial_state": state(1), "states": state(steps)}


def write(path: Path, keys: list[tuple[int, int]], steps: int) -> None:
    with DatasetWriter(path, env_name=ENV, mode="create", durable=False) as w:
        for worker, attempt in keys:
            w.write_demo(episode(steps, attempt * 7 + worker), True,
                         {layout.ATTR_ATTEMPT: np.int64(attempt), layout.ATTR_WORKER: np.int64(worker)})


def written_bytes() -> int:
    with open("/proc/self/io") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("write_bytes"))


def case(name: str, templates: Path, work: Path, demos: int, steps: int, repeat: int) -> dict:
    base = templates / name
    if not base.exists():
        (base / "d.shards").mkdir(parents=True)
        old = demos if name == "resume" else 0
        fresh = 2 if name == "resume" else demos
        write(base / "d.hdf5", [(0, a) for a in range(old)], steps)
        for w in (0, 1):
            first = old if w == 0 else 0
            write(base / "d.shards" / f"worker_{w}.hdf5", [(w, first + a) for a in range(fresh // 2)], steps)
    times, wrote = [], []
    for _ in range(repeat):
        run = work / name
        shutil.rmtree(run, ignore_errors=True)
        shutil.copytree(base, run)
        os.sync()
        cfg = load_config(env={"OUTPUT_FILE": str(run / "d.hdf5"), "NUM_TRIALS": str(demos + 2),
                               "OUTPUT_DIR": str(run / "output")})
        lay = ShardLayout.for_run(cfg)
        b0, t0 = written_bytes(), time.perf_counter()
        outcome = finalize(lay, cfg)
        times.append(time.perf_counter() - t0)
        wrote.append(written_bytes() - b0)
        assert outcome.successes == (demos + 2 if name == "resume" else demos), outcome
    return {"case": name, "demos_in_out_after": outcome.successes, "seconds": round(statistics.median(times), 3),
            "seconds_all": [round(t, 3) for t in times], "out_bytes_written": int(statistics.median(wrote)),
            "out_file_bytes": (work / name / "d.hdf5").stat().st_size}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--demos", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--templates", type=Path, help="reuse built inputs from this folder (built if missing)")
    args = ap.parse_args()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        templates = args.templates or Path(tmp) / "templates"
        results = [case(c, templates, Path(tmp), args.demos, args.steps, args.repeat) for c in ("fresh", "resume")]
    print(json.dumps({"benchmark": "finish", "demos": args.demos, "steps": args.steps,
                      "load_average_before_after": [round(load, 2), round(os.getloadavg()[0], 2)],
                      "cases": results}, indent=2))


if __name__ == "__main__":
    main()
