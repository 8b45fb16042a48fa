"""Supervised workers, killed for real: crashed workers restart, a killed supervisor resumes, Ray runs."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import h5py
import numpy as np
import pytest

from mimicforge.datasets import DatasetReader, validate
from mimicforge.outputs import demo_keys, read_metrics
from tests.conftest import REPO
from tests.run.procs import wait_gone, worker_pids

pytestmark = pytest.mark.timeout(600)


class Run:
    """A ``mimicforge generate`` process whose stderr is collected live."""

    def __init__(self, real_dataset, out, *args):
        env = {**os.environ, "PYTHONPATH": os.pathsep.join((str(REPO / "src"), str(REPO)))}
        env.pop("MIMICFORGE_DEBUG", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mimicforge", "generate", "--input", str(real_dataset), "--output", str(out),
             "--progress-interval", "0", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append(line)

    def successes(self) -> int:
        found = [int(m.group(1)) for line in self.lines if (m := re.match(r"generate: (\d+)/", line))]
        return max(found, default=0)

    def count(self, text: str) -> int:
        return sum(text in line for line in self.lines)

    def wait_until(self, predicate, timeout=240):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if predicate():
                return
            assert self.proc.poll() is None, "".join(self.lines[-20:])
            time.sleep(0.05)
        raise AssertionError("timed out; log tail:\n" + "".join(self.lines[-20:]))

    def finish(self, timeout=300) -> tuple[int, str]:
        out = self.proc.stdout.read()  # stderr belongs to the reader thread
        self.proc.wait(timeout=timeout)
        self._reader.join(timeout=10)
        return self.proc.returncode, out


def keys_and_hashes(path):
    with h5py.File(path, "r") as f:
        data = f["data"]
        keys = [(int(data[n].attrs["mimicforge_worker"]), int(data[n].attrs["mimicforge_attempt"])) for n in data]
        hashes = [hashlib.sha1(data[n]["actions"][()].tobytes()).hexdigest() for n in data]
    return keys, hashes


def shard_keys(out, worker):
    path = out.with_name(out.stem + ".shards") / f"worker_{worker}.hdf5"
    if not path.exists():
        return set()
    try:
        with h5py.File(path, "r", locking=False) as f:
            return {(worker, int(g.attrs["mimicforge_attempt"])) for g in f["data"].values()}
    except OSError:
        return set()


def test_killing_workers_three_times_still_gives_exactly_n(real_dataset, tmp_path):
    # n leaves the run many seconds of work after the third kill even on a fast machine (two workers make about
    # 400 demos a minute on a quiet 2-core one, and each kill costs a restart of about a second), so every kill
    # lands on a worker that still has attempts to make (a kill after the goal is reached is not a crash)
    n = 100
    out = tmp_path / "gen.hdf5"
    run = Run(real_dataset, out, "--num-trials", str(n), "--workers", "2", "--max-restarts", "5", "--json")
    flushed_before_kill = set()
    for kill in range(3):
        run.wait_until(lambda: len(worker_pids(run.proc.pid)) == 2 and run.successes() >= kill + 1)
        victim = worker_pids(run.proc.pid)[kill % 2]
        flushed_before_kill |= shard_keys(out, kill % 2)
        os.kill(victim, signal.SIGKILL)
        run.wait_until(lambda: run.count("killed by SIGKILL; restarting") >= kill + 1)
    code, stdout = run.finish()
    log = "".join(run.lines)
    assert code == 0, log[-3000:]
    assert json.loads(stdout)["successes"] == n
    restarts = [line for line in run.lines if "killed by SIGKILL; restarting" in line]
    assert len(restarts) == 3 and all("its committed demos are kept" in line for line in restarts)
    assert validate(out) == []
    keys, hashes = keys_and_hashes(out)
    assert len(keys) == n and len(set(keys)) == n and len(set(hashes)) == n
    # nothing a killed worker had committed is lost (the merge keeps the first n by attempt order)
    last = max((a, w) for w, a in keys)
    assert {k for k in flushed_before_kill if (k[1], k[0]) <= last} <= set(keys)
    recs = list(read_metrics(tmp_path / "gen.metrics.jsonl"))
    assert sorted(r["demo"] for r in recs if r["success"] and r["demo"]) == sorted(f"demo_{i}" for i in range(n))
    assert not out.with_name("gen.shards").exists()


def test_killed_supervisor_resumes_to_exactly_n(real_dataset, tmp_path):
    n = 12
    out = tmp_path / "gen.hdf5"
    run = Run(real_dataset, out, "--num-trials", str(n), "--workers", "2", "--keep-failed")
    run.wait_until(lambda: run.successes() >= 2 and len(worker_pids(run.proc.pid)) == 2)
    workers = worker_pids(run.proc.pid)
    os.kill(run.proc.pid, signal.SIGKILL)
    run.finish()
    assert wait_gone(workers, 30), "orphaned workers kept running after their supervisor died"
    assert out.with_name("gen.shards").is_dir()
    resumed = Run(real_dataset, out, "--num-trials", str(n), "--workers", "2", "--resume", "--json")
    code, stdout = resumed.finish()
    assert code == 0, "".join(resumed.lines)[-3000:]
    assert json.loads(stdout)["successes"] == n
    assert validate(out) == []
    keys, hashes = keys_and_hashes(out)
    assert len(keys) == n and len(set(keys)) == n and len(set(hashes)) == n
    assert not out.with_name("gen.shards").exists()
    # one metrics record per attempt, each naming the demo it became in the merged files
    failed_keys, _ = keys_and_hashes(tmp_path / "gen_failed.hdf5")
    names = {True: dict(zip(keys, [f"demo_{i}" for i in range(n)])),
             False: dict(zip(failed_keys, [f"demo_{i}" for i in range(len(failed_keys))]))}
    recs = list(read_metrics(tmp_path / "gen.metrics.jsonl"))
    assert len({(r["worker"], r["attempt"]) for r in recs}) == len(recs) == len(failed_keys) + sum(r["success"] for r in recs)
    for r in recs:
        assert r["demo"] == names[r["success"]].get((r["worker"], r["attempt"]))


def test_worker_error_reaches_the_supervisor_with_its_traceback(tmp_path, real_dataset):
    """A worker that fails sends its error and traceback before exiting non-zero."""
    import multiprocessing as mp

    from mimicforge.config import load_config
    from mimicforge.run.links import WorkerLinks
    from mimicforge.run.worker import WorkerSpec, worker_main

    bad = tmp_path / "unannotated.hdf5"
    with h5py.File(real_dataset) as src, h5py.File(bad, "w") as dst:
        src.copy("data", dst)
        for name in dst["data"]:
            del dst["data"][name]["obs/datagen_info"]
    cfg = load_config(env={"INPUT_FILE": str(bad), "OUTPUT_FILE": str(tmp_path / "gen.hdf5")})
    ctx = mp.get_context("spawn")
    links, stop = WorkerLinks(ctx), ctx.Event()
    spec = WorkerSpec(worker=0, cfg=cfg, engine="mujoco", first_attempt=0, attempt_limit=None, parent_pid=os.getpid())
    p = ctx.Process(target=worker_main, args=(spec, links.open(0), stop))
    p.start()
    links.started(0)
    received = []
    deadline = time.time() + 60
    while links.is_open(0) and time.time() < deadline:
        received += links.receive(timeout=0.2)
    p.join(10)
    assert p.exitcode == 1
    assert len(received) == 1, received
    worker, (kind, sender, message, tb) = received[0]
    assert (kind, worker, sender) == ("error", 0, 0)
    assert "DatasetFormatError" in message and "obs/datagen_info" in message
    assert "Traceback (most recent call last)" in tb and "load_source_dataset" in tb


@pytest.mark.slow
def test_ray_run_gives_the_same_layout(real_dataset, tmp_path):
    pytest.importorskip("ray")
    local = tmp_path / "local.hdf5"
    on_ray = tmp_path / "ray.hdf5"
    assert Run(real_dataset, local, "--num-trials", "2").finish()[0] == 0
    run = Run(real_dataset, on_ray, "--num-trials", "3", "--workers", "2", "--ray", "--json")
    code, stdout = run.finish()
    assert code == 0, "".join(run.lines)[-3000:]
    assert json.loads(stdout)["successes"] == 3
    assert validate(on_ray) == []

    def layout(path):
        found = set()
        with h5py.File(path, "r") as f:
            f["data/demo_0"].visit(found.add)
            return found, json.loads(f["data"].attrs["env_args"]), sorted(f["data"].attrs)

    assert layout(on_ray) == layout(local)
    with DatasetReader(on_ray) as r:
        assert r.demo_names == ["demo_0", "demo_1", "demo_2"]
    recs = list(read_metrics(tmp_path / "ray.metrics.jsonl"))
    assert {r["worker"] for r in recs} == {0, 1} and sum(r["success"] for r in recs) >= 3


def test_sigterm_stops_all_workers_and_merges(real_dataset, tmp_path):
    out = tmp_path / "gen.hdf5"
    run = Run(real_dataset, out, "--num-trials", "500", "--workers", "2")
    run.wait_until(lambda: run.successes() >= 2 and len(worker_pids(run.proc.pid)) == 2)
    workers = worker_pids(run.proc.pid)
    run.proc.send_signal(signal.SIGTERM)
    code, _ = run.finish()
    assert code == 143, "".join(run.lines)[-2000:]
    assert any("stopped by SIGTERM" in line and "--resume" in line for line in run.lines), run.lines[-5:]
    assert "Traceback" not in "".join(run.lines)
    assert wait_gone(workers, 10)
    assert validate(out) == [] and not out.with_name("gen.shards").exists()
    keys, hashes = keys_and_hashes(out)
    assert len(keys) >= 2 and len(set(hashes)) == len(hashes)


def test_workers_output_carries_the_runs_own_settings(cli, real_dataset, tmp_path):
    """The merged HDF5 of a --workers 2 run stores the run's settings (its own output file), not a shard's."""
    import toml

    out = tmp_path / "par.hdf5"
    r = cli("generate", "--input", str(real_dataset), "--output", str(out), "--workers", "2", "--num-trials", "2",
            "--seed", "3", "--keep-failed", "--max-consecutive-failures", "50")
    assert r.returncode == 0, r.stderr
    for path in (out, out.with_name("par_failed.hdf5")):
        if not path.exists():  # no failed attempt in this run
            continue
        with DatasetReader(path) as rd:
            saved = toml.loads(str(rd.data_attrs["mimicforge_config"]))
        assert saved["generation"]["output_file"] == str(out), (path, saved["generation"])
        assert saved["workers"]["workers"] == 2
        assert saved["cameras"]["output_dir"] == "output"
    assert toml.loads(out.with_name("par.config.toml").read_text())["generation"]["output_file"] == str(out)


@pytest.mark.slow
def test_stalled_workers_end_the_run_with_a_clear_error(real_dataset, tmp_path):
    """Workers that stop making progress (SIGSTOP: alive, silent) hit the run-level stall limit; the run ends
    with one clear line and a valid output instead of waiting forever. Takes about a minute (grace periods)."""
    out = tmp_path / "stall.hdf5"
    run = Run(real_dataset, out, "--workers", "2", "--num-trials", "50", "--stall-timeout", "15")
    try:
        run.wait_until(lambda: run.count("attempts (") >= 1)  # the workers are generating
        pids = worker_pids(run.proc.pid)
        assert len(pids) == 2
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        code, _ = run.finish(timeout=180)
    finally:
        if run.proc.poll() is None:
            run.proc.kill()
    last = run.lines[-1].strip()
    assert code == 1, "".join(run.lines[-10:])
    assert last.startswith("mimicforge: error: no generation attempt finished in 15 s across 2 workers"), last
    assert wait_gone(pids, 30)
    with h5py.File(out, "r") as f:  # complete and readable; holds the demos finished before the stall
        assert int(f["data"].attrs["total"]) >= 0
    assert not out.with_name("stall.shards").exists()


def _done_then_linger(link, seconds: float) -> None:
    """A worker's end: its last message ("done": shard closed), then a slow interpreter teardown."""
    from mimicforge.run.links import send

    send(link, ("done", 0, None))
    link.close()
    time.sleep(seconds)


def test_the_merge_does_not_wait_for_a_done_workers_teardown() -> None:
    """``_reap`` returns once every worker has reported done, handing back the processes still ending; ``_join``
    then waits for them. A worker that lingers 4 s after its last message does not hold the merge back."""
    import multiprocessing as mp

    from mimicforge.run.links import WorkerLinks
    from mimicforge.run.supervisor import _join, _reap, _Worker

    ctx = mp.get_context("spawn")
    links = WorkerLinks(ctx)
    wk = _Worker(0)
    wk.process = ctx.Process(target=_done_then_linger, args=(links.open(0), 4.0))
    wk.process.start()
    links.started(0)

    def drain(timeout: float, wake=()) -> None:
        for w, msg in links.receive(timeout=timeout, wake=wake):
            if msg[0] == "done":
                wk.done = True

    try:
        t0 = time.monotonic()
        ending = _reap([wk], drain)
        reaped = time.monotonic() - t0
        assert wk.done and ending == [wk.process] and wk.process.exitcode is None
        assert reaped < 3.5, f"reaping waited {reaped:.1f} s for a worker that had reported done"
        _join(ending)
        assert wk.process.exitcode == 0
    finally:
        links.close()
        if wk.process.exitcode is None:
            wk.process.kill()


class _NoPrestart:
    """The default launcher without its ``prestart``: workers spawned only once the run is set up."""

    def __init__(self) -> None:
        import multiprocessing as mp

        from mimicforge.run.supervisor import SpawnedWorkers

        self._inner = SpawnedWorkers(mp.get_context("spawn"), "mujoco")

    def check(self, cfg) -> None:
        self._inner.check(cfg)

    def start(self, spec, link, stop_event):
        return self._inner.start(spec, link, stop_event)


def test_prestarted_workers_make_the_same_demos_and_end_when_the_run_does_not_start(real_dataset, tmp_path, caplog):
    """Workers spawned before the settings are checked (``SpawnedWorkers.prestart``) build and step their engine
    while they wait; the demos are bit for bit those of workers spawned after the check. When the check fails,
    the waiting workers are ended and nothing is written."""
    import multiprocessing as mp

    from mimicforge.config import load_config
    from mimicforge.errors import ConfigError
    from mimicforge.run.supervisor import run_supervised

    def cfg(name: str, **extra: str):  # 6 attempts: 3 per worker, each seeded by its (worker, attempt)
        return load_config(env={"INPUT_FILE": str(real_dataset), "OUTPUT_FILE": str(tmp_path / name / "o.hdf5"),
                                "NUM_TRIALS": "6", "STOP_ON": "attempts", "SEED": "3", "WORKERS": "2", **extra})

    import logging

    caplog.set_level(logging.DEBUG, logger="mimicforge.run.supervisor")
    assert run_supervised(cfg("prestarted")).attempts == 6
    assert sum("spec handed to the prestarted process" in r.message for r in caplog.records) == 2
    assert run_supervised(cfg("after"), launcher=_NoPrestart()).attempts == 6
    keys_a, keys_b = demo_keys(tmp_path / "prestarted" / "o.hdf5"), demo_keys(tmp_path / "after" / "o.hdf5")
    assert keys_a == keys_b and {w for w, _ in keys_a} == {0, 1}, (keys_a, keys_b)
    with h5py.File(tmp_path / "prestarted" / "o.hdf5") as a, h5py.File(tmp_path / "after" / "o.hdf5") as b:
        for key in keys_a:
            da, db = a["data"][keys_a[key]], b["data"][keys_b[key]]
            names: list[str] = []
            da.visit(lambda n: names.append(n) if isinstance(da[n], h5py.Dataset) else None)
            assert len(names) > 20
            for n in names:
                assert da[n][()].tobytes() == db[n][()].tobytes(), (key, n)
    assert not mp.active_children()

    with pytest.raises(ConfigError, match="unknown camera 'no_such_cam'"):
        run_supervised(cfg("refused", CAMERAS="no_such_cam"))
    assert not mp.active_children()  # the two prestarted workers were ended
    assert not (tmp_path / "refused" / "o.hdf5").exists()


def test_the_check_takes_the_first_usable_report_and_does_not_wait_for_exited_workers() -> None:
    """``SpawnedWorkers._first_report``: a worker's exception is returned as it is; a report that is neither
    None nor an exception, or a worker that exits without reporting, does not stand in for the check (False),
    and an exited worker is noticed at once, not after ``PREPARE_WAIT``."""
    import multiprocessing as mp

    from mimicforge.errors import ConfigError
    from mimicforge.run.supervisor import SpawnedWorkers

    ctx = mp.get_context("spawn")
    procs = []

    def standby(launcher: SpawnedWorkers, worker: int, lingers: bool):
        proc = ctx.Process(target=time.sleep, args=(30.0 if lingers else 0.0,))
        proc.start()
        procs.append(proc)
        ours, theirs = ctx.Pipe()
        launcher._standby[worker] = (proc, ours, None)
        return theirs

    try:
        launcher = SpawnedWorkers(ctx, "mujoco")
        standby(launcher, 0, lingers=True).send(ConfigError("unknown camera 'x'"))
        report = launcher._first_report()
        assert isinstance(report, ConfigError) and str(report) == "unknown camera 'x'"

        launcher = SpawnedWorkers(ctx, "mujoco")
        standby(launcher, 0, lingers=True).send(None)
        assert launcher._first_report() is None

        launcher = SpawnedWorkers(ctx, "mujoco")
        standby(launcher, 0, lingers=True).send(False)  # its error could not be sent
        ends = [standby(launcher, 1, lingers=False)]  # exits without a report
        t0 = time.monotonic()
        assert launcher._first_report() is False
        assert time.monotonic() - t0 < 20.0
        del ends
    finally:
        for proc in procs:
            proc.kill()
            proc.join()


def test_a_killed_supervisor_leaves_no_standby_worker_behind(real_dataset, tmp_path):
    """SIGKILL the supervisor while its workers are still preparing their engines (before any spec is handed
    over): they notice their orders pipe closed and exit, with no output of theirs."""
    out = tmp_path / "gen.hdf5"
    run = Run(real_dataset, out, "--num-trials", "4", "--workers", "2")
    run.wait_until(lambda: len(worker_pids(run.proc.pid)) == 2, timeout=60)
    workers = worker_pids(run.proc.pid)
    os.kill(run.proc.pid, signal.SIGKILL)
    run.finish()
    assert wait_gone(workers, 60), "standby workers kept running after their supervisor died"
    shards = out.with_name("gen.shards")
    assert not shards.exists() or not list(shards.glob("worker_*.hdf5"))


def test_a_worker_that_dies_while_the_other_keeps_reporting_is_restarted(real_dataset, tmp_path, monkeypatch):
    """The supervisor checks its workers every POLL seconds even while messages keep arriving: with POLL at 2 s,
    the surviving worker reports an attempt far more often than that, and the dead one is restarted all the
    same (a supervisor that checked only when its pipes were quiet never restarted it)."""
    from mimicforge.config import load_config
    from mimicforge.run import supervisor

    monkeypatch.setattr(supervisor, "POLL", 2.0)
    events: list[str] = []
    killed: list[int] = []
    seen: list[float] = []

    def on_attempt(rec, summary) -> None:
        seen.append(time.monotonic())
        if not killed and rec.success:
            victim = worker_pids(os.getpid())[0]
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)

    cfg = load_config(env={"INPUT_FILE": str(real_dataset), "OUTPUT_FILE": str(tmp_path / "o.hdf5"),
                           "NUM_TRIALS": "60", "WORKERS": "2", "SEED": "2"})
    summary = supervisor.run_supervised(cfg, on_attempt=on_attempt, on_event=events.append)
    assert killed and summary.successes == 60
    restarts = [e for e in events if "killed by SIGKILL; restarting" in e]
    assert len(restarts) == 1, events
    gaps = np.diff(seen)
    assert np.median(gaps) < supervisor.POLL / 4  # the messages did keep coming faster than the poll
    assert {w for w, _ in demo_keys(tmp_path / "o.hdf5")} == {0, 1}
