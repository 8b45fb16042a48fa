"""WORKERS=N on Isaac Lab, for real on the Kit-free harness: ``standalone/generate.py`` supervises N worker
processes, each running NVIDIA's ``isaaclab_mimic`` (2.3.2.post1 wheel) through mimicforge's driver on the
MuJoCo twin (only Kit is replaced, see ``harness``). Workers are SIGKILLed, hung and resumed for real."""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import h5py
import pytest

from mimicforge.datasets import validate
from mimicforge.outputs import OutputPaths, read_metrics
from tests.backends.isaaclab.test_real_mimic import ENTRY, child_env
from tests.run.procs import children, cmdline, wait_gone
from tests.run.test_supervisor import Run

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
SHARD = "mimicforge.run.kit_worker"
PER_TRIAL = ("--select-source", "per_trial")  # NVIDIA's own 2.3 selection: about 40 % success on the twin


class Standalone(Run):
    """``standalone/generate.py`` on the harness, stderr collected live (the supervisor tests' ``Run``)."""

    def __init__(self, tmp_path: Path, real_dataset: Path, *flags: str, env: dict[str, str] | None = None) -> None:
        self.out = tmp_path / "gen.hdf5"
        cmd = [*ENTRY, "--input", str(real_dataset), "--output", str(self.out), "--device", "cpu",
               "--engine", "isaaclab", "--seed", "1", "--progress-interval", "0", *flags]
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(cmd, env=env or child_env(), cwd=tmp_path, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def kit_workers(self) -> dict[int, int]:
        """{worker: pid} of the live Kit worker processes."""
        found = {}
        for pid in children(self.proc.pid):
            m = re.search(rf"{SHARD} --worker (\d+)", cmdline(pid))
            if m:
                found[int(m.group(1))] = pid
        return found

    def finish(self, timeout: float = 600) -> tuple[int, str, float]:  # type: ignore[override]
        code, out = super().finish(timeout)
        return code, out, time.monotonic() - self.t0

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        for pid in self.kit_workers().values():
            os.killpg(pid, signal.SIGKILL)


def demos(path: Path) -> list[dict]:
    with h5py.File(path, "r") as f:
        data = f["data"]
        return [{"key": (int(data[n].attrs["mimicforge_worker"]), int(data[n].attrs["mimicforge_attempt"])),
                 "hash": hashlib.sha1(data[n]["actions"][()].tobytes()).hexdigest(),
                 "record": json.loads(data[n].attrs["mimicforge_metrics"])} for n in data]


def shard_records(out: Path, worker: int) -> int:
    """Attempts the worker's shard has on record (its metrics lines)."""
    path = out.with_name(f"{out.stem}.shards") / f"worker_{worker}.metrics.jsonl"
    try:
        return len(path.read_text().splitlines())
    except OSError:
        return 0


def test_two_kit_workers_survive_three_sigkills_with_exactly_n_distinct_demos(wheel, tmp_path, real_dataset):
    """One Kit worker is SIGKILLed three times (MAX_RESTARTS=3 allows exactly that): first at a random moment
    after the start (Kit starting up or the first attempt), then twice at a random moment after it has finished
    an attempt since its restart (mid-attempt, exporting, collecting into its shard). The goal is large enough
    that the other worker cannot reach it alone before the third kill (about 12 demos a minute on a quiet machine)."""
    n = 24
    run = Standalone(tmp_path, real_dataset, "--workers", "2", "--num-trials", str(n), "--json", *PER_TRIAL)
    rng = random.Random(21)
    worker = rng.choice([0, 1])
    killed = []
    try:
        run.wait_until(lambda: len(run.kit_workers()) == 2)
        for kill in range(3):
            pid = run.kit_workers()[worker]
            if kill:
                seen = shard_records(run.out, worker)
                run.wait_until(lambda s=seen: shard_records(run.out, worker) > s)
            time.sleep(rng.uniform(0.5, 10.0 if kill == 0 else 6.0))
            os.killpg(pid, signal.SIGKILL)
            killed.append({"worker": worker, "pid": pid, "records_before": shard_records(run.out, worker)})
            # the supervisor notices and starts the worker again
            run.wait_until(lambda p=pid: run.kit_workers().get(worker, p) != p)
        code, out, wall = run.finish()
    finally:
        run.kill()
    assert code == 0, "".join(run.lines[-40:])
    summary = json.loads(out.strip().splitlines()[-1])
    restarts = [line for line in run.lines if "killed by SIGKILL; restarting it" in line]
    assert len(restarts) == 3, "".join(run.lines[-40:])
    assert validate(run.out) == []
    found = demos(run.out)
    assert len(found) == n == summary["successes"]
    assert len({d["key"] for d in found}) == n and len({d["hash"] for d in found}) == n  # no demo twice
    assert {d["key"][0] for d in found} <= {0, 1}
    assert all(d["record"]["engine"] == "isaaclab" and d["record"]["seed_key"][0] == d["key"][0] for d in found)
    assert not run.out.with_name("gen.shards").exists() and wait_gone([k["pid"] for k in killed], 10)
    print(json.dumps({"kill_three_times": {"demos": len(found), "distinct_hashes": len({d["hash"] for d in found}),
                                           "restarts": len(restarts), "killed": killed, "wall_s": round(wall, 1),
                                           "attempts": summary["attempts"]}}))


def test_a_hung_kit_worker_is_killed_after_stall_timeout_and_restarted(wheel, tmp_path, real_dataset):
    """A Kit process that hangs (IsaacLab#4473) in a sleep no signal handler ends: the supervisor hears nothing from
    it for STALL_TIMEOUT seconds, SIGKILLs it and starts it again. With STOP_ON=attempts each worker owns half of
    the attempts, so the run can only end once the hung worker has been replaced and has done its share."""
    marker = tmp_path / "hung-once"
    stall = 45
    run = Standalone(tmp_path, real_dataset, "--workers", "2", "--num-trials", "4", "--stop-on", "attempts",
                     "--keep-failed", "--stall-timeout", str(stall), "--json", *PER_TRIAL,
                     env=child_env(MIMICFORGE_HARNESS_HANG_ONCE=str(marker)))
    try:
        code, out, wall = run.finish()
    finally:
        run.kill()
    assert code == 0, "".join(run.lines[-40:])
    assert marker.exists()
    log = "".join(run.lines)
    m = re.search(rf"worker (\d) made no progress for {stall} s \(STALL_TIMEOUT\); killing it", log)
    assert m, log[-4000:]
    assert f"worker {m.group(1)} killed by SIGKILL; restarting it" in log
    assert json.loads(out.strip().splitlines()[-1])["attempts"] == 4
    paths = OutputPaths.beside(run.out)
    kept = [d["key"] for path in (paths.dataset, paths.failed) if path.exists() for d in demos(path)]
    assert all(validate(path) == [] for path in (paths.dataset, paths.failed) if path.exists())
    assert sorted(kept) == [(0, 0), (0, 1), (1, 0), (1, 1)]  # every attempt once, the hung one's share redone
    print(json.dumps({"hang": {"worker": int(m.group(1)), "wall_s": round(wall, 1)}}))


def test_a_resumed_kit_run_does_not_repeat_the_original_first_attempt(wheel, tmp_path, real_dataset):
    """One Kit process seeds its whole run once: from SeedSequence(SEED, spawn_key=(worker, next_attempt)), so the
    resumed run's first attempt starts from another scene than the original run's first attempt."""
    first = Standalone(tmp_path, real_dataset, "--num-trials", "1", "--stop-on", "attempts", "--keep-failed")
    code, _, _ = first.finish()
    assert code == 0, "".join(first.lines[-30:])
    resumed = Standalone(tmp_path, real_dataset, "--num-trials", "2", "--stop-on", "attempts", "--keep-failed",
                         "--resume")
    code, _, _ = resumed.finish()
    assert code == 0, "".join(resumed.lines[-30:])
    paths = OutputPaths.beside(tmp_path / "gen.hdf5")
    starts = {}
    for path in (paths.dataset, paths.failed):
        if not path.exists():
            continue
        with h5py.File(path, "r") as f:
            for demo in f["data"].values():
                record = json.loads(demo.attrs["mimicforge_metrics"])
                cubes = [demo[f"initial_state/rigid_object/cube_{i}/root_pose"][()] for i in (1, 2, 3)]
                starts[int(demo.attrs["mimicforge_attempt"])] = (record, cubes)
    assert sorted(starts) == [0, 1]
    (rec0, cubes0), (rec1, cubes1) = starts[0], starts[1]
    assert rec0["seed_key"] == [0, 0] and rec1["seed_key"] == [0, 1] and rec0["run_seed"] != rec1["run_seed"]
    assert any((a != b).any() for a, b in zip(cubes0, cubes1))  # another scene, not the original's again
    assert [r["attempt"] for r in read_metrics(paths.metrics)] == [0, 1]


def test_ray_runs_kit_shards_as_tasks_on_a_local_ray(wheel, tmp_path, real_dataset):
    """``--ray`` on Isaac Lab: each shard is a Ray task asking for one GPU and running its own Kit process. This
    local Ray has no GPU, so each task's GPU request is mapped to one CPU, and the run says so."""
    pytest.importorskip("ray")
    run = Standalone(tmp_path, real_dataset, "--workers", "2", "--ray", "--num-trials", "2", "--json", *PER_TRIAL)
    try:
        code, out, wall = run.finish()
    finally:
        run.kill()
    assert code == 0, "".join(run.lines[-40:])
    assert run.count("the Ray cluster has no GPU: each task asks for 1 CPU instead of 1 GPU") == 1
    found = demos(run.out)
    assert validate(run.out) == [] and len(found) == 2 == json.loads(out.strip().splitlines()[-1])["successes"]
    assert len({d["hash"] for d in found}) == 2 and all(d["record"]["engine"] == "isaaclab" for d in found)
    assert not run.out.with_name("gen.shards").exists()
    print(json.dumps({"ray": {"wall_s": round(wall, 1)}}))


def test_a_killed_supervisor_leaves_no_kit_worker_and_resume_finishes(wheel, tmp_path, real_dataset):
    """SIGKILL the supervisor itself: each Kit worker notices its parent is gone, finishes its attempt and exits;
    ``--resume`` merges the shards it left and ends with exactly N distinct demos."""
    n = 4
    run = Standalone(tmp_path, real_dataset, "--workers", "2", "--num-trials", str(n), *PER_TRIAL)
    try:
        run.wait_until(lambda: len(run.kit_workers()) == 2 and shard_records(run.out, 0) + shard_records(run.out, 1))
        pids = list(run.kit_workers().values())
        run.proc.kill()
        run.proc.wait(timeout=30)
        assert wait_gone(pids, 120)  # no Kit process generates on for nobody
    finally:
        run.kill()
    assert run.out.with_name("gen.shards").is_dir()  # the killed run's shards, to be merged by the resume
    resumed = Standalone(tmp_path, real_dataset, "--workers", "2", "--num-trials", str(n), "--resume", "--json",
                         *PER_TRIAL)
    try:
        code, out, _ = resumed.finish()
    finally:
        resumed.kill()
    assert code == 0, "".join(resumed.lines[-40:])
    found = demos(run.out)
    assert validate(run.out) == [] and len(found) == n == json.loads(out.strip().splitlines()[-1])["successes"]
    assert len({d["key"] for d in found}) == n and len({d["hash"] for d in found}) == n
    assert not run.out.with_name("gen.shards").exists()
