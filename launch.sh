#!/usr/bin/env bash
# Entrypoint of the mimicforge images (docker/Dockerfile.isaaclab, docker/Dockerfile.cpu).
#
#   MODE=standalone   generate demos and exit with the generator's status
#                     (Isaac Lab engine: standalone/generate.py on Isaac Sim's Python; twin: mimicforge generate)
#   MODE=jupyter      JupyterLab on port JUPYTER_PORT, protected by a token (printed) or JUPYTER_PASSWORD_HASH
#   ENGINE=auto       Isaac Lab where it is importable, else the MuJoCo twin; or ENGINE=isaaclab / ENGINE=mujoco
#
# Every setting (NUM_TRIALS, INPUT_FILE, OUTPUT_FILE, SEED, KEEP_FAILED, NUM_ENVS, CAMERAS, MODALITIES,
# ON_EXISTING, ...) is read from the environment by mimicforge itself; this script checks them all with
# 'mimicforge config --check' before anything slow starts. A bad value: one line on stderr, exit 2.
# Arguments after the image name are passed on (to the generator, or to jupyter lab).
# LAUNCH_DRY_RUN=1 prints the command instead of running it.
set -euo pipefail

HERE="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
MODES="standalone, jupyter"

die() {
  echo "launch.sh: error: $*" >&2
  exit 2
}

say() {
  echo "launch.sh: $*" >&2
}

# ------------------------------------------------------------------------------------------ fast checks
MODE="${MODE:-jupyter}"
case "$MODE" in
  standalone | jupyter) ;;
  *) die "MODE='$MODE' is not valid; valid values: $MODES" ;;
esac

ENGINE="${ENGINE:-auto}"
case "$ENGINE" in
  auto | mujoco | isaaclab) ;;
  *) die "ENGINE='$ENGINE': expected one of auto, mujoco, isaaclab, e.g. ENGINE=mujoco" ;;
esac

# Same rule and message as mimicforge.config, checked here too so the commonest mistake costs nothing.
if [ -n "${NUM_TRIALS:-}" ] && ! [[ "$NUM_TRIALS" =~ ^\+?0*[1-9][0-9]*$ ]]; then
  die "NUM_TRIALS='$NUM_TRIALS': expected a positive integer, e.g. NUM_TRIALS=10"
fi

JUPYTER_PORT="${JUPYTER_PORT:-8888}"
if ! [[ "$JUPYTER_PORT" =~ ^[0-9]+$ ]] || [ "${#JUPYTER_PORT}" -gt 5 ] || [ "$JUPYTER_PORT" -lt 1 ] \
  || [ "$JUPYTER_PORT" -gt 65535 ]; then
  die "JUPYTER_PORT='$JUPYTER_PORT': expected a port number in [1, 65535], e.g. JUPYTER_PORT=8888"
fi
if [ -n "${JUPYTER_PASSWORD_HASH:-}" ] && ! [[ "$JUPYTER_PASSWORD_HASH" =~ ^(argon2|sha1|sha256): ]]; then
  die "JUPYTER_PASSWORD_HASH must be a hash from jupyter_server.auth.passwd() (argon2:...), not a plain password"
fi
if [ -n "${JUPYTER_TOKEN:-}" ] && [ "${#JUPYTER_TOKEN}" -lt 16 ]; then
  die "JUPYTER_TOKEN is too short (${#JUPYTER_TOKEN} characters); use at least 16, or leave it unset for a random one"
fi

# ------------------------------------------------------------------------------------------ engine
isaac_python() {
  local candidate
  for candidate in "${ISAACSIM_PYTHON:-}" /isaac-sim/python.sh /workspace/isaaclab/_isaac_sim/python.sh; do
    if [ -n "$candidate" ] && [ -x "$candidate" ]; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

isaaclab_importable() {
  "$1" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("isaaclab_mimic") is None)' >/dev/null 2>&1
}

PY=""
if [ "$ENGINE" != mujoco ] && ISAAC_PY="$(isaac_python)" && isaaclab_importable "$ISAAC_PY"; then
  PY="$ISAAC_PY"
  ENGINE=isaaclab
elif [ "$ENGINE" = isaaclab ]; then
  die "ENGINE=isaaclab but Isaac Lab is not importable here (no Isaac Sim python.sh with isaaclab_mimic; set \
ISAACSIM_PYTHON to its python.sh); use the isaac-lab service, or ENGINE=mujoco"
else
  PY="${MIMICFORGE_PYTHON:-python3}"
  ENGINE=mujoco
  command -v "$PY" >/dev/null 2>&1 || die "no Python found for the twin (MIMICFORGE_PYTHON='$PY')"
fi
export ENGINE

if [ -n "${MIMICFORGE_WORKDIR:-}" ]; then
  cd "$MIMICFORGE_WORKDIR" || die "MIMICFORGE_WORKDIR='$MIMICFORGE_WORKDIR' is not a directory"
fi

# Every other setting, with mimicforge's own rules and messages (exit 2 on a bad one).
if ! "$PY" -m mimicforge config --check; then
  exit 2
fi

# ------------------------------------------------------------------------------------------ run
# 'mimicforge container run' sets MIMICFORGE_STOP_ON_EOF=1 and holds the container's stdin open: when that launcher
# dies, even by SIGKILL, stdin reaches its end and the run is stopped as by SIGTERM (the attempt in progress is
# finished and saved), so the container cannot outlive it. (This shell's pid is Python's after the exec below.)
if [ "${MIMICFORGE_STOP_ON_EOF:-0}" = 1 ] && [ "${LAUNCH_DRY_RUN:-0}" = 0 ]; then
  (
    cat >/dev/null
    say "the launcher is gone (stdin closed): stopping"
    kill -s TERM "$$" 2>/dev/null || true
  ) <&0 & # without <&0, bash gives a background job /dev/null as its stdin
fi

run() {
  if [ "${LAUNCH_DRY_RUN:-0}" != 0 ]; then
    printf 'launch.sh: would run:'
    printf ' %q' "$@"
    printf '\n'
    exit 0
  fi
  exec "$@"
}

# Isaac Sim's python.sh is a bash wrapper that does not exec Python, so a signal sent to it alone would kill
# the wrapper and orphan Python mid-attempt. Run it in a process group of its own, hand SIGTERM/SIGINT to
# the whole group (Python then finishes the current attempt), and wait until the group is gone. The exit
# status is the one Python wrote to MIMICFORGE_STATUS_FILE: Kit's shutdown may end the process with 0.
run_group() {
  if [ "${LAUNCH_DRY_RUN:-0}" != 0 ]; then
    run "$@"
  fi
  local status_file rc=0 child
  status_file="$(mktemp)"
  export MIMICFORGE_STATUS_FILE="$status_file"
  setsid "$@" &
  child=$!
  trap 'kill -s TERM -- "-$child" 2>/dev/null || true' TERM
  trap 'kill -s INT -- "-$child" 2>/dev/null || true' INT
  wait "$child" || rc=$?
  while kill -0 -- "-$child" 2>/dev/null; do
    sleep 1
  done
  if [ -s "$status_file" ]; then
    rc="$(tr -dc '0-9' <"$status_file")"
  fi
  rm -f "$status_file"
  exit "${rc:-1}"
}

case "$MODE" in
  standalone)
    export PYTHONUNBUFFERED=1
    say "MODE=standalone ENGINE=$ENGINE NUM_TRIALS=${NUM_TRIALS:-default}"
    if [ "$ENGINE" = isaaclab ]; then
      run_group "$PY" -u "$HERE/standalone/generate.py" "$@"
    else
      run "$PY" -u -m mimicforge generate "$@"
    fi
    ;;
  jupyter)
    args=(-m jupyter lab --no-browser --ServerApp.ip=0.0.0.0 "--ServerApp.port=$JUPYTER_PORT"
      "--ServerApp.root_dir=$PWD")
    if [ "$(id -u)" = 0 ]; then
      args+=(--allow-root)
    fi
    if [ -n "${JUPYTER_PASSWORD_HASH:-}" ]; then
      args+=("--PasswordIdentityProvider.hashed_password=$JUPYTER_PASSWORD_HASH" "--IdentityProvider.token=")
      say "JupyterLab on http://127.0.0.1:$JUPYTER_PORT/lab (password from JUPYTER_PASSWORD_HASH)"
    else
      if [ -z "${JUPYTER_TOKEN:-}" ]; then
        JUPYTER_TOKEN="$("$PY" -c 'import secrets; print(secrets.token_hex(24))' | tail -n 1)"
      fi
      export JUPYTER_TOKEN
      say "JupyterLab on http://127.0.0.1:$JUPYTER_PORT/lab?token=$JUPYTER_TOKEN"
    fi
    if [ "$ENGINE" = isaaclab ]; then
      run_group "$PY" "${args[@]}" "$@"
    else
      run "$PY" "${args[@]}" "$@"
    fi
    ;;
esac
