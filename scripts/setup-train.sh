#!/usr/bin/env bash
# Install the training ecosystem beside mimicforge: a second virtualenv, .venv-train (Python 3.11), with torch
# and the policy-learning libraries our exports and evaluations target (LeRobot for `mimicforge export lerobot`,
# robomimic for `mimicforge evaluate` and bench/bc_rnn.py), plus mimicforge with the twin. Kept apart from .venv
# because these libraries pin torch ranges that exclude the torch the machine provides; each is installed
# --no-deps and its runtime requirements are listed below. To add a library: one line in NO_DEPS and its
# requirements in REQUIREMENTS. Idempotent; re-run it after pulling.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON_TRAIN:-python3.11}
VENV=.venv-train
# FFmpeg's shared libraries, which torchcodec decodes LeRobot's videos with (installed when root with apt-get).
SYSTEM_PACKAGES=(ffmpeg)

# torch and torchvision: these exact versions come from local CPU wheels (any other request downloads CUDA builds).
TORCH=(torch==2.14.1 torchvision==0.29.1)
# Installed without their declared dependencies (their torch pins exclude the torch above).
NO_DEPS=(
  lerobot==0.4.4            # LeRobot v3.0 datasets and policies (mimicforge export lerobot)
  torchcodec==0.14.0        # LeRobot's video decoder, the release built for torch 2.14 (torchvision 0.29 has no
                            # VideoReader, which LeRobot's PyAV fallback needs)
  robomimic==0.3.0          # BC-RNN training and checkpoints (mimicforge evaluate); its declared egl_probe needs
                            # cmake to build and is unused here
  dm-robotics-panda==0.4.8  # the Panda model's MJCF assets (its declared dependencies are stale and heavy)
)
# What those libraries need at run time, in their own version ranges.
REQUIREMENTS=(
  # lerobot 0.4.4: datasets, video (PyAV), configs (draccus), policies (diffusers for Diffusion Policy)
  "datasets>=4.0.0,<5.0.0" "huggingface-hub>=0.34.2,<0.36.0" "accelerate>=1.10.0,<2.0.0" "einops>=0.8.0,<0.9.0"
  "av>=15.0.0,<16.0.0" "jsonlines>=4.0.0,<5.0.0" "packaging>=24.2,<26.0" "draccus==0.10.0" "deepdiff>=7.0.1,<9.0.0"
  "gymnasium>=1.1.1,<2.0.0" "imageio[ffmpeg]>=2.34.0,<3.0.0" "termcolor>=2.4.0,<4.0.0"
  "opencv-python-headless>=4.9.0,<4.13.0" "diffusers>=0.27.2,<0.36.0" "setuptools>=71.0.0,<81.0.0"
  "pyserial>=3.5,<4.0"        # lerobot-train imports its robot drivers
  # robomimic 0.3.0: the 'evaluate' extra of mimicforge (installed with the project below)
)

bash scripts/system-packages.sh "${SYSTEM_PACKAGES[@]}"

if ! command -v "$PYTHON" >/dev/null 2>&1 || ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  echo "setup-train: $PYTHON is not Python 3.11 (lerobot 0.4.4 needs 3.10 or 3.11 and the local torch wheels 3.11); set PYTHON_TRAIN=..." >&2
  exit 2
fi
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q "${TORCH[@]}"
"$VENV/bin/python" -m pip install -q "${REQUIREMENTS[@]}" "${TORCH[@]}"
# mimicforge itself with the twin (the tests generate their datasets), robomimic's imports and the test tools.
"$VENV/bin/python" -m pip install -q -e '.[sim,evaluate]' "pytest>=7.4" "pytest-timeout>=2.2" "${TORCH[@]}"
"$VENV/bin/python" -m pip install -q --no-deps "${NO_DEPS[@]}"
"$VENV/bin/python" -c 'import lerobot, robomimic, torch; print(f"setup-train: done; lerobot {lerobot.__version__}, robomimic {robomimic.__version__}, torch {torch.__version__} in '"$VENV"'")'
