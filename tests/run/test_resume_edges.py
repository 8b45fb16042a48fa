"""The edges of a run, through the real command: a sharded resume of a file other tools made, a second run on a
running output, the one-process stall limit (a run frozen for real), a refused run, and image folders that belong
to their dataset."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import h5py
import numpy as np
import pytest

from mimicforge.datasets import merge_datasets, validate
from tests.run.finish_state import action_hashes
from tests.run.test_supervisor import Run

pytestmark = pytest.mark.timeout(600)


def users_file(real_dataset, out):
    """Four demos as a user's file can hold them: two recorded by Isaac Lab (no attempt keys), and two with one key
    twice (a ``mimicforge merge`` of two runs)."""
    merge_datasets(out, [real_dataset], select=[(0, f"demo_{i}") for i in range(4)])
    with h5py.File(out, "r+") as f:
        for name in ("demo_2", "demo_3"):
            f["data"][name].attrs["mimicforge_attempt"] = np.int64(0)
            f["data"][name].attrs["mimicforge_worker"] = np.int64(0)


def test_sharded_resume_keeps_every_demo_of_a_merged_file(cli, real_dataset, tmp_path):
    """Formerly the finish rebuilt OUT from the (worker, attempt) keys: 3 of these 4 demos were dropped, exit 0."""
    out = tmp_path / "mixed.hdf5"
    users_file(real_dataset, out)
    before = action_hashes(out)
    r = cli("generate", "--input", str(real_dataset), "--output", str(out), "--resume", "--workers", "2",
            "--num-trials", "6", "--json", "--progress-interval", "0")
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads(r.stdout)["successes"] == 6
    after = action_hashes(out)
    assert len(after) == 6 and after[:4] == before
    assert len({h for h, _ in after}) == 6  # (no validate: annotated source demos beside generated ones)


def test_a_second_run_on_a_running_output_is_refused_naming_its_pid(cli, real_dataset, tmp_path):
    """A sharded run holds OUT's lock from its start to its finish; a second run (or a merge onto it) is refused
    in one line naming the first one's pid, and the first run goes on unharmed."""
    out = tmp_path / "gen.hdf5"
    first = Run(real_dataset, out, "--num-trials", "200", "--workers", "2")
    try:
        first.wait_until(lambda: first.count("attempts (") >= 1)  # generating: past the start, before the finish
        second = cli("generate", "--input", str(real_dataset), "--output", str(out), "--resume", "--workers", "2",
                     "--num-trials", "3")
        assert second.returncode == 2, second.stderr[-2000:]
        line = second.stderr.strip()
        assert "\n" not in line and f"is being written by another process (pid {first.proc.pid})" in line, line
        other = tmp_path / "other.hdf5"
        merge_datasets(other, [real_dataset], select=[(0, "demo_0")])
        merged = cli("merge", str(out), str(other), "--overwrite")
        assert merged.returncode == 2 and f"(pid {first.proc.pid})" in merged.stderr, merged.stderr
        first.proc.send_signal(signal.SIGTERM)
        code, _ = first.finish()
    finally:
        if first.proc.poll() is None:
            first.proc.kill()
    assert code == 143, "".join(first.lines[-10:])
    assert validate(out) == []
    keys = _keys(out)
    assert len(keys) == len(set(keys)) >= 1 and all(w in (0, 1) for w, _ in keys)


def _keys(path):
    with h5py.File(path, "r") as f:
        return [(int(g.attrs["mimicforge_worker"]), int(g.attrs["mimicforge_attempt"])) for g in f["data"].values()]


def test_one_process_run_honours_the_stall_timeout(real_dataset, tmp_path):
    """STALL_TIMEOUT was ignored by the one-process loop. The run is frozen for 2.5 s (SIGSTOP, as a hung
    simulator would hold it); when it goes on, no attempt has finished for longer than the 1 s limit, and it ends
    with the stall error, its file valid. A freeze that lands before the loop or in a demo's commit (the clock
    restarts with that attempt's record) is repeated. Where the first attempt, with the compiled step's loading
    (about 0.8 s), already outlasts 1 s, the run stalls there, before any freeze: the same error, an empty file."""
    out = tmp_path / "gen.hdf5"
    run = Run(real_dataset, out, "--num-trials", "100000", "--stall-timeout", "1")
    try:
        for _ in range(8):
            if run.proc.poll() is not None:  # stalled already: the first attempt, start-up included, took > 1 s
                break
            run.proc.send_signal(signal.SIGSTOP)
            time.sleep(2.5)
            run.proc.send_signal(signal.SIGCONT)
            try:
                run.proc.wait(timeout=5)
                break
            except subprocess.TimeoutExpired:
                continue
        code, _ = run.finish(timeout=60)
    finally:
        if run.proc.poll() is None:
            run.proc.kill()
    assert code == 1, "".join(run.lines[-10:])
    last = "".join(run.lines).strip().splitlines()[-1]
    assert last.startswith("mimicforge: error: no generation attempt finished in 1 s"), last
    assert not any("Traceback" in line for line in run.lines)
    with h5py.File(out, "r") as f:  # complete and readable (empty where the first attempt stalled)
        demos = len(f["data"])
    assert demos == 0 or validate(out) == []


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_run_refused_before_its_first_attempt_leaves_nothing_behind(cli, real_dataset, tmp_path, workers):
    images = tmp_path / "output"
    (images / "gen" / "table_cam_rgb" / "demo_0").mkdir(parents=True)  # an earlier run of this output's frames
    out = tmp_path / "gen.hdf5"
    args = ("generate", "--input", str(real_dataset), "--output", str(out), "--num-trials", "1", "--cameras",
            "table_cam", "--output-dir", str(images), "--workers", workers)
    r = cli(*args)
    assert r.returncode == 2, r.stderr[-2000:]
    assert "already holds demo folders" in r.stderr and "Traceback" not in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == ["output"]
    assert sorted(p.name for p in (images / "gen").iterdir()) == ["table_cam_rgb"]


@pytest.mark.slow
def test_overwrite_with_cameras_gives_each_demo_its_own_frames_and_spares_other_datasets(cli, real_dataset,
                                                                                           tmp_path):
    """A --workers 2 --overwrite run with cameras used to keep the previous run's frames beside its new demos, and
    --overwrite of one dataset deleted every other dataset's folders."""
    images = tmp_path / "output"

    def generate(name, *extra):
        r = cli("generate", "--input", str(real_dataset), "--output", str(tmp_path / f"{name}.hdf5"), "--cameras",
                "table_cam", "--width", "32", "--height", "32", "--output-dir", str(images), *extra)
        assert r.returncode == 0, r.stderr[-3000:]

    def frames(name):
        with h5py.File(tmp_path / f"{name}.hdf5", "r") as f:
            steps = {n: int(g.attrs["num_samples"]) for n, g in f["data"].items()}
        folders = {d.name: len(list(d.iterdir())) for d in (images / name / "table_cam_rgb").iterdir()}
        return steps, folders

    generate("a", "--workers", "2", "--num-trials", "2")
    generate("b", "--num-trials", "1", "--seed", "3")
    b_before = frames("b")
    generate("a", "--workers", "2", "--num-trials", "2", "--seed", "5", "--overwrite")
    steps, folders = frames("a")
    assert folders == {n: s + 1 for n, s in steps.items()}  # each demo's own frames, nothing else
    assert frames("b") == b_before
    assert sorted(p.name for p in images.iterdir()) == ["a", "b"]
    assert not any(p.name.startswith(".") for p in (images / "a").iterdir())
