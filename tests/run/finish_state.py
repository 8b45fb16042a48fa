"""A sharded run's state just before its finish, built on disk: OUT, two worker shards, their staged frames.

OUT holds demos of every kind a user's file can hold: two without attempt keys (Isaac Lab, ``record``) and two with
the same key twice (a ``mimicforge merge`` of two runs). The shards hold six fresh demos, each of its own length,
so a frame folder's step count tells which demo it belongs to; worker 1's last committed demo still has its frames
in a ``.demo_<j>.partial`` folder (a kill between the commit and the rename), and worker 0 has a partial folder of a
demo it never committed. Also run as ``python -m tests.run.finish_state ROOT KILL_AT`` (the crash tests): finish
the run in ``ROOT``, SIGKILLing this process at the ``KILL_AT``-th kill point (0: none; print how many there were).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
from pathlib import Path

import h5py
import numpy as np

from mimicforge.datasets import DatasetWriter, layout
from mimicforge.outputs import OutputPaths, write_text_atomic
from tests.datasets.episodes import make_episode

ENV = "Isaac-Stack-Cube-Franka-IK-Rel-Mimic-v0"
STREAM = "table_cam_rgb"
ORIGINAL_LENGTHS = (11, 12, 13, 14)
# (worker, attempt, length); worker w's shard holds its demos in this order
SHARD_DEMOS = ((0, 2, 21), (1, 0, 22), (0, 3, 23), (1, 1, 24), (0, 4, 25), (1, 2, 26))
LIMIT = 8  # demos OUT may hold: the 4 originals and the first 4 fresh ones by (attempt, worker)
SIM_ARGS = {"sim_args": {"dt": 0.01, "decimation": 5}}  # what the engine records in the shards' env_args


def paths(root: Path) -> dict[str, Path]:
    return {"out": root / "gen.hdf5", "shards": root / "gen.shards", "images": root / "output" / "gen"}


def _frames(folder: Path, length: int) -> None:
    folder.mkdir(parents=True)
    for t in range(length + 1):  # one frame per state: before each action, and after the last
        (folder / f"step_{t:04d}.png").write_bytes(b"")


def build(root: Path) -> None:
    p = paths(root)
    out = OutputPaths.beside(p["out"])
    root.mkdir(parents=True, exist_ok=True)
    with DatasetWriter(out.dataset, env_name=ENV, mode="create", durable=False) as w:
        for i, n in enumerate(ORIGINAL_LENGTHS):
            attrs = {} if i < 2 else {layout.ATTR_ATTEMPT: np.int64(0), layout.ATTR_WORKER: np.int64(0)}
            w.write_demo(make_episode(n, seed=100 + i), True, attrs)
    for i, n in enumerate(ORIGINAL_LENGTHS):
        _frames(p["images"] / STREAM / f"demo_{i}", n)
    out.metrics.write_text(json.dumps({"attempt": 0, "worker": 0, "success": True, "steps": 13, "seconds": 1.0,
                                       "source_demos": [], "failed_subtask": None, "demo": "demo_3"}) + "\n")
    for worker in (0, 1):
        shard = OutputPaths.beside(p["shards"] / f"worker_{worker}.hdf5")
        shard.dataset.parent.mkdir(parents=True, exist_ok=True)
        lines = []
        with DatasetWriter(shard.dataset, env_name=ENV, mode="create", durable=False, env_args=SIM_ARGS) as w:
            for wk, attempt, n in SHARD_DEMOS:
                if wk != worker:
                    continue
                rec = {"attempt": attempt, "worker": worker, "success": True, "steps": n, "seconds": 1.0,
                       "source_demos": [], "failed_subtask": None}
                name = w.write_demo(make_episode(n, seed=attempt * 10 + worker), True, {
                    layout.ATTR_ATTEMPT: np.int64(attempt), layout.ATTR_WORKER: np.int64(worker),
                    layout.ATTR_METRICS: json.dumps(rec)})
                lines.append({**rec, "demo": name})
        stage = p["images"] / ".shards" / f"worker_{worker}" / STREAM
        for rec in lines:
            k = layout.demo_index(rec["demo"])
            partial = worker == 1 and rec is lines[-1]
            _frames(stage / (f".demo_{k}.partial" if partial else f"demo_{k}"), rec["steps"])
        if worker == 1:  # its last line never written: the finish recovers it from the demo
            lines = lines[:-1]
        else:
            _frames(stage / f".demo_{len(lines)}.partial", 99)  # never committed
        write_text_atomic(shard.metrics, "".join(json.dumps(r) + "\n" for r in lines))


def action_hashes(path: Path) -> list[tuple[str, int]]:
    with h5py.File(path, "r") as f:
        data = f["data"]
        names = sorted(data, key=lambda n: int(n.split("_")[1]))
        return [(hashlib.sha1(data[n]["actions"][()].tobytes()).hexdigest(), int(data[n].attrs["num_samples"]))
                for n in names]


def finish(root: Path) -> object:
    from mimicforge.run.finish import ShardFiles, finish_shards

    p = paths(root)
    shards = [ShardFiles(w, OutputPaths.beside(p["shards"] / f"worker_{w}.hdf5"),
                         p["images"] / ".shards" / f"worker_{w}") for w in (0, 1)]
    return finish_shards(OutputPaths.beside(p["out"]), shards, limit=LIMIT, config_text="[generation]\n",
                         images=p["images"], staging=(p["shards"], p["images"] / ".shards"))


def _main(root: Path, kill_at: int) -> None:
    from mimicforge.datasets.writer import DatasetWriter as Writer
    from mimicforge.run import finish as finish_module

    seen = [0]

    def point(label: str) -> None:
        seen[0] += 1
        if seen[0] == kill_at:
            print(f"killed at {label}", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)

    swap = Writer._swap

    def swap_after_point(self: Writer) -> bool:  # inside a commit: the shadow written, not yet swapped in
        point(f"before the swap of {self.path.name}")
        return swap(self)

    finish_module.checkpoint = point
    finish_module.MERGE_BATCH = 2  # more commits, so more kill points inside the merge
    Writer._swap = swap_after_point  # type: ignore[method-assign]
    finish(root)
    print(f"kill points {seen[0]}", flush=True)


if __name__ == "__main__":
    _main(Path(sys.argv[1]), int(sys.argv[2]))
