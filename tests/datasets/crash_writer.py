"""Child process for the SIGKILL test: appends demos forever, reporting each returned write on stdout."""

import sys

from mimicforge.datasets import DatasetWriter
from tests.datasets.episodes import make_episode

path, start = sys.argv[1], int(sys.argv[2])
with DatasetWriter(path, env_name="Isaac-Stack-Cube-Franka-IK-Rel-Mimic-v0", mode="append") as w:
    print(f"ready {w.num_demos}", flush=True)
    i = w.num_demos
    while True:
        w.write_demo(make_episode(20 + i % 7, seed=i), success=True)
        i += 1
        print(f"wrote {i}", flush=True)
