"""Train robomimic for a few steps on a dataset with image observations. Prints one JSON object.

Proves that a file written with ``IMAGE_OBS=table_cam,wrist_cam`` feeds Isaac Lab's visuomotor agent config
``bc_rnn_image_200.json`` (BC-RNN-GMM, ResNet18 encoders on ``table_cam`` and ``wrist_cam``, 181 x 181 random
crops of 200 x 200 images). The config ships in the Isaac Lab wheel; it is used unchanged, through
robomimic's own ``train`` script in ``--debug`` mode (2 epochs of 3 gradient steps; rollouts off).

robomimic needs torchvision, so it runs in its own virtualenv, e.g.:

    python3.11 -m venv /tmp/rm && /tmp/rm/bin/pip install torch==2.14.1 torchvision==0.29.1 robomimic six
    pip download --no-deps isaaclab==2.3.2.post1 --python-version 3.11 --only-binary=:all: -d /tmp/whl
    unzip -o /tmp/whl/isaaclab-*.whl '*/stack/config/franka/agents/robomimic/bc_rnn_image_200.json' -d /tmp/whl
    CFG=$(find /tmp/whl -name bc_rnn_image_200.json -path '*stack*')
    python bench/robomimic_train.py --python /tmp/rm/bin/python --dataset datasets/visuomotor.hdf5 --config "$CFG"
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", type=Path, required=True)
    ap.add_argument("--config", type=Path, required=True, help="Isaac Lab's bc_rnn_image_200.json")
    ap.add_argument("--python", default=sys.executable, help="the interpreter of a venv with robomimic")
    ap.add_argument("--timeout", type=float, default=3600)
    args = ap.parse_args()
    cmd = [args.python, "-m", "robomimic.scripts.train", "--config", str(args.config.resolve()),
           "--dataset", str(args.dataset.resolve()), "--debug"]
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp, timeout=args.timeout)
    out = proc.stdout + proc.stderr
    losses = [float(x) for x in re.findall(r'"Loss": ([0-9.eE+-]+)', out)]
    result = {
        "benchmark": "robomimic_train",
        "command": " ".join(cmd),
        "returncode": proc.returncode,
        "finished": "finished run successfully!" in out,
        "failed": "run failed with error" in out,
        "epochs_logged": len(re.findall(r"Train Epoch \d+", out)),
        "losses": losses,
        "seconds": round(time.perf_counter() - t0, 1),
        "tail": out.strip().splitlines()[-12:],
    }
    print(json.dumps(result, indent=2))
    sys.exit(0 if result["finished"] and not result["failed"] else 1)


if __name__ == "__main__":
    main()
