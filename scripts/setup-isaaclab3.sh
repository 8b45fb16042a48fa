#!/usr/bin/env bash
# The Python 3.12 environment that runs Isaac Lab 3.0.0's own isaaclab_mimic on the MuJoCo twin (the Kit-free
# harness of tests/backends/isaaclab; PyPI serves the isaaclab 3.0.0 wheel for Python 3.12 only).
#
#   bash scripts/setup-isaaclab3.sh        # creates .venv-isaaclab3 (idempotent; re-run after pulling)
#
# torch: the wheel pins torch==2.11.0, and that exact release is installed. PyPI has no CPU-only torch for
# Python 3.12, so any version here is the same multi-GB CUDA build (which runs on the CPU); taking the pinned
# one keeps the harness on what Isaac Lab 3.0 was released with. The isaaclab wheel itself is not installed
# (the harness reads it, RECORD-checked, from .cache/isaaclab-wheels); only the pure-Python packages its
# generation path imports are. MIMICFORGE_WHEEL_CACHE names the folder that keeps the torch wheels between runs.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv-isaaclab3}
TORCH=torch==2.11.0
PYTHON=${PYTHON312:-}
if [ -z "$PYTHON" ]; then
  for candidate in python3.12 "$(pyenv root 2>/dev/null || echo /nonexistent)"/versions/3.12*/bin/python3.12; do
    if "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' >/dev/null 2>&1; then
      PYTHON=$candidate
      break
    fi
  done
fi
if [ -z "$PYTHON" ]; then
  echo "setup-isaaclab3: no Python 3.12 found (Isaac Lab 3.0.0 is built for it only); set PYTHON312=/path/to/python3.12" >&2
  exit 2
fi

start=$(date +%s)
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
# torch and its CUDA libraries (about 2.6 GB) are kept as wheels in a folder outside the checkout, so a later run
# (CI on the same machine, a fresh clone) installs them without downloading them again.
WHEELS=${MIMICFORGE_WHEEL_CACHE:-$HOME/.cache/mimicforge/wheels-py312}
mkdir -p "$WHEELS"
if ! "$VENV/bin/python" -m pip install -q --no-index --find-links "$WHEELS" "$TORCH" 2>/dev/null; then
  "$VENV/bin/python" -m pip download -q -d "$WHEELS" "$TORCH"
  "$VENV/bin/python" -m pip install -q --no-index --find-links "$WHEELS" "$TORCH"
fi
"$VENV/bin/python" -m pip install -q -e '.[sim,dev]'
"$VENV/bin/python" -m pip install -q --no-deps dm-robotics-panda==0.4.8
# What isaaclab 3.0's generation path imports beside torch (its own versions where the wheel pins them).
"$VENV/bin/python" -m pip install -q "gymnasium>=1.2.0" prettytable trimesh scipy pyyaml "lazy_loader>=0.4" \
  "h5py>=3.15.0" "numpy>=2" hydra-core "warp-lang==1.17.0"
# The harness reads the wheel from the cache the tests share.
"$VENV/bin/python" - <<'EOF'
from tests.backends.isaaclab.harness import wheel_path
print(f"setup-isaaclab3: wheel {wheel_path('3.0.0').name}")
EOF
echo "setup-isaaclab3: done in $(( $(date +%s) - start )) s; $("$VENV/bin/python" -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__)')"
