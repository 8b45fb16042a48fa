#!/usr/bin/env bash
# Install mimicforge on a fresh Debian/Ubuntu machine: the system libraries for offscreen rendering (when run
# as root with apt-get), then a virtualenv in .venv with the project.
#   bash scripts/setup.sh             everything: every extra and the test tools (what the tests need)
#   bash scripts/setup.sh --light     only what generating on the MuJoCo twin needs (no torch, Ray, Docker SDK)
#   bash scripts/setup.sh --notebook  --light plus JupyterLab for notebook/generate_dataset.ipynb on this host
# Idempotent; re-run it after pulling (a full run over a light .venv adds the rest).
set -euo pipefail
cd "$(dirname "$0")/.."

PROFILE=full
for arg in "$@"; do
  case "$arg" in
    --light) PROFILE=light ;;
    --notebook) PROFILE=notebook ;;
    -h | --help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "setup: unknown option '$arg'; expected --light, --notebook or nothing (everything)" >&2; exit 2 ;;
  esac
done

PYTHON=${PYTHON:-python3}
SYSTEM_PACKAGES=(libegl1 libegl-mesa0 libgl1-mesa-dri libopengl0)

bash scripts/system-packages.sh "${SYSTEM_PACKAGES[@]}"

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "setup: $PYTHON is $("$PYTHON" --version 2>&1); the MuJoCo twin needs Python >= 3.11 (set PYTHON=...)" >&2
  exit 2
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
case "$PROFILE" in
  light) EXTRAS=sim ;;
  notebook) EXTRAS=sim,notebook ;;
  *) EXTRAS=sim,dev,ray,docker ;;
esac
.venv/bin/python -m pip install -q -e ".[$EXTRAS]"
# The Panda model's package declares stale, heavy dependencies it does not need for its MJCF assets.
.venv/bin/python -m pip install -q --no-deps dm-robotics-panda==0.4.8
if [ "$PROFILE" = light ]; then
  echo "setup: done (light: generation on the twin); run .venv/bin/mimicforge --help"
  exit 0
elif [ "$PROFILE" = notebook ]; then
  echo "setup: done (light + notebook); run .venv/bin/jupyter lab notebook/generate_dataset.ipynb"
  exit 0
fi
# The tests' Kit-free Isaac Lab Mimic harness (tests/backends/isaaclab/harness) runs NVIDIA's isaaclab_mimic from
# the isaaclab wheel: CPU torch (this exact version resolves to the CPU build) and Isaac Lab's pure-Python imports.
.venv/bin/python -m pip install -q torch==2.13.0
.venv/bin/python -m pip install -q gymnasium==1.4.0 prettytable flatdict trimesh scipy pyyaml
echo "setup: done; run .venv/bin/mimicforge --help"
