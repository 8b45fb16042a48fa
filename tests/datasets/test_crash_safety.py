"""SIGKILL a real writer process at random moments, many times, and check the file after each kill."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import h5py
import numpy as np

from tests.conftest import REPO
from tests.datasets.episodes import make_episode

KILLS = 50


def _check(path, reported: int) -> int:
    """Open with plain h5py; every reported demo must be there, complete and exact."""
    with h5py.File(path, "r") as f:
        data = f["data"]
        names = list(data.keys())
        n = len(names)
        assert reported <= n <= reported + 1, (reported, n)  # +1: killed after commit, before the report
        assert names == [f"demo_{i}" for i in range(n)]
        total = 0
        for i, name in enumerate(names):
            expected = make_episode(20 + i % 7, seed=i)
            g = data[name]
            np.testing.assert_array_equal(g["actions"][()], expected["actions"])
            np.testing.assert_array_equal(g["states/rigid_object/cube_3/root_pose"][()],
                                          expected["states"]["rigid_object"]["cube_3"]["root_pose"])
            assert int(g.attrs["num_samples"]) == expected["actions"].shape[0]
            total += expected["actions"].shape[0]
        assert int(data.attrs["total"]) == total
    return n


def test_sigkill_at_random_moments_never_loses_a_returned_demo(tmp_path):
    path = tmp_path / "gen.hdf5"
    rng = random.Random(1234)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join((str(REPO / "src"), str(REPO)))}
    have = 0
    for kill in range(KILLS):
        proc = subprocess.Popen([sys.executable, "-m", "tests.datasets.crash_writer", str(path), "0"],
                                stdout=subprocess.PIPE, text=True, env=env, cwd=REPO)
        ready = proc.stdout.readline().split()
        assert ready and ready[0] == "ready" and int(ready[1]) == have, ready
        # One returned write first, however slow the machine, then a kill at a random moment of the next ones.
        first = proc.stdout.readline().split()
        assert first and first[0] == "wrote", first
        time.sleep(rng.uniform(0.0, 0.25))
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        wrote = [int(first[1])] + [int(line.split()[1]) for line in out.splitlines() if line.startswith("wrote")]
        reported = wrote[-1]
        have = _check(path, reported)
    assert have >= KILLS  # the writes really ran between the kills
