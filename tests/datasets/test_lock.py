"""One writer per output: the lock beside a dataset, across real processes (held, refused naming the pid, taken
over from a process killed with SIGKILL) and within one (a run that holds it opens its writer)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from mimicforge.datasets import DatasetWriter, lock, merge_datasets
from mimicforge.errors import OutputExistsError
from tests.conftest import REPO
from tests.datasets.episodes import make_episode

ENV = "Isaac-Stack-Cube-Franka-IK-Rel-Mimic-v0"
HOLD = ("import sys, time\nfrom mimicforge.datasets import lock\nwith lock.held(sys.argv[1]):\n"
        "    print('held', flush=True)\n    time.sleep(600)\n")


def holder(path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join((str(REPO / "src"), str(REPO)))}
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline().strip() == "held"
    return proc


def small(path):
    with DatasetWriter(path, env_name=ENV, durable=False) as w:
        w.write_demo(make_episode(5, 0), True)


def test_a_held_output_is_refused_naming_the_holder_then_taken_over_once_it_is_killed(tmp_path):
    out, src = tmp_path / "gen.hdf5", tmp_path / "src.hdf5"
    small(src)
    proc = holder(out)
    try:
        for attempt in (lambda: DatasetWriter(out, env_name=ENV), lambda: merge_datasets(out, [src])):
            with pytest.raises(OutputExistsError, match=rf"being written by another process \(pid {proc.pid}\)"):
                attempt()
        assert not out.exists()
        os.kill(proc.pid, signal.SIGKILL)  # its lock is stale now
        proc.wait(30)
        assert merge_datasets(out, [src]).num_demos == 1
        assert lock.holder(out) == os.getpid()  # the file names the new holder
    finally:
        if proc.poll() is None:
            proc.kill()


def test_a_run_holding_the_lock_opens_its_writer_but_not_two(tmp_path):
    out = tmp_path / "gen.hdf5"
    with lock.held(out):
        with DatasetWriter(out, env_name=ENV, durable=False) as w:
            w.write_demo(make_episode(5, 0), True)
            with pytest.raises(OutputExistsError, match="another writer in this process"):
                DatasetWriter(out, env_name=ENV, mode="append")
        with DatasetWriter(out, env_name=ENV, mode="append", durable=False) as w:  # the first one closed
            assert w.num_demos == 1
        proc = subprocess.run([sys.executable, "-c", HOLD, str(out)], capture_output=True, text=True, timeout=60,
                              env={**os.environ, "PYTHONPATH": str(REPO / "src")})
        assert proc.returncode == 1 and f"(pid {os.getpid()})" in proc.stderr  # still held between the writers
