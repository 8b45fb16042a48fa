#!/usr/bin/env bash
# Install the policy-training environment in .venv-train (Python 3.11): torch with its matching torchvision, robomimic
# 0.3.0 and mimicforge itself, for `mimicforge evaluate` and bench/policy.py --robomimic. A separate venv because
# robomimic imports torchvision, which pins its torch. Idempotent; about 5.5 GB.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON_TRAIN:-python3.11}
[ -x .venv-train/bin/python ] || "$PYTHON" -m venv .venv-train
.venv-train/bin/python -m pip install -q --upgrade pip
.venv-train/bin/python -m pip install -q torch==2.14.1 torchvision==0.29.1
.venv-train/bin/python -m pip install -q -e '.[sim,evaluate]'
.venv-train/bin/python -m pip install -q --no-deps dm-robotics-panda==0.4.8
# robomimic 0.3.0 declares egl_probe (built with cmake, unused here): install it alone; its imports are the
# 'evaluate' extra above.
.venv-train/bin/python -m pip install -q --no-deps robomimic==0.3.0
.venv-train/bin/python -m pip install -q pytest pytest-timeout
echo "setup-train: done; .venv-train/bin/mimicforge evaluate --help"
