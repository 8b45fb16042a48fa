#!/usr/bin/env bash
# Install mimicforge for development on a fresh Debian/Ubuntu machine: the system libraries for offscreen
# rendering (when run as root with apt-get), then a virtualenv in .venv with the project and its extras.
# Idempotent; re-run it after pulling.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
SYSTEM_PACKAGES=(libegl1 libegl-mesa0 libgl1-mesa-dri libopengl0)

bash scripts/system-packages.sh "${SYSTEM_PACKAGES[@]}"

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "setup: $PYTHON is $("$PYTHON" --version 2>&1); the MuJoCo twin needs Python >= 3.11 (set PYTHON=...)" >&2
  exit 2
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[sim,dev,ray,docker]'
# The Panda model's package declares stale, heavy dependencies it does not need for its MJCF assets.
.venv/bin/python -m pip install -q --no-deps dm-robotics-panda==0.4.8
# The tests' Kit-free Isaac Lab Mimic harness (tests/backends/isaaclab/harness) runs NVIDIA's isaaclab_mimic from
# the isaaclab wheel: CPU torch (this exact version resolves to the CPU build) and Isaac Lab's pure-Python imports.
.venv/bin/python -m pip install -q torch==2.13.0
.venv/bin/python -m pip install -q gymnasium==1.4.0 prettytable flatdict trimesh scipy pyyaml
echo "setup: done; run .venv/bin/mimicforge --help"
