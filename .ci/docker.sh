#!/usr/bin/env bash
# CI preparation for the real-container test (tests/docker/test_container.py), and its cleanup.
#
#   bash .ci/docker.sh start   install docker.io and debootstrap, start a private dockerd (no bridge, no
#                              iptables), make the Debian base image locally (no registry is reachable),
#                              download the wheels the CPU image needs (image builds have no index either)
#   bash .ci/docker.sh stop    stop that dockerd again
#
# It never fails CI: when dockerd cannot run here, the reason goes to .cache/docker-ci/unavailable and the
# container test alone reports SKIPPED with it. Caches outside the checkout make later runs fast: the
# daemon's images (/var/lib/mimicforge-docker), the base rootfs tarball and the wheels (/var/cache/mimicforge-ci).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

STATE=.cache/docker-ci
CACHE=${MIMICFORGE_CI_CACHE:-/var/cache/mimicforge-ci}
DATA_ROOT=${MIMICFORGE_CI_DOCKER_ROOT:-/var/lib/mimicforge-docker}
RUN_DIR=/run/mimicforge-docker
SOCKET=unix://$RUN_DIR/docker.sock
BASE_IMAGE=mimicforge-ci-base:bookworm
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
BASE_PACKAGES=python3,python3-venv,libegl1,libegl-mesa0,libgl1-mesa-dri,libopengl0,ca-certificates,procps

log() { echo "ci/docker: $*"; }

unavailable() {
  log "container test will be skipped: $*"
  mkdir -p "$STATE"
  echo "$*" >"$STATE/unavailable"
  exit 0
}

docker_cmd() { DOCKER_HOST=$SOCKET docker "$@"; }

# Images a rebuild replaced (untagged) and the build cache: the data root outlives the run, and without this
# each run on the same machine leaves several GB behind.
prune() {
  docker_cmd info >/dev/null 2>&1 || return 0
  docker_cmd container prune -f >/dev/null 2>&1
  docker_cmd image prune -f >/dev/null 2>&1
  docker_cmd builder prune -af >/dev/null 2>&1
  log "pruned: $(docker_cmd system df --format '{{.Type}} {{.Size}}' 2>/dev/null | tr '\n' ' ')"
}

stop() {
  prune
  if [ -f "$RUN_DIR/docker.pid" ]; then
    local pid
    pid=$(cat "$RUN_DIR/docker.pid")
    if kill -0 "$pid" 2>/dev/null; then
      log "stopping dockerd ($pid)"
      kill "$pid"
      for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    fi
  fi
}

install_packages() {
  local missing=()
  command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
  command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    unavailable "dockerd/debootstrap missing and no root apt-get to install ${missing[*]}"
  fi
  log "installing ${missing[*]}"
  apt-get update -qq >/dev/null 2>&1
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
    || unavailable "apt-get install ${missing[*]} failed"
}

start_dockerd() {
  if docker_cmd info >/dev/null 2>&1; then
    log "dockerd already running at $SOCKET"
    return 0
  fi
  mkdir -p "$RUN_DIR" "$DATA_ROOT" "$STATE"
  local driver
  for driver in overlay2 vfs; do
    log "starting dockerd (storage driver $driver, no bridge, no iptables)"
    dockerd --host "$SOCKET" --data-root "$DATA_ROOT" --exec-root "$RUN_DIR/exec" --pidfile "$RUN_DIR/docker.pid" \
      --bridge=none --iptables=false --ip6tables=false --storage-driver="$driver" \
      >"$STATE/dockerd-$driver.log" 2>&1 &
    for _ in $(seq 30); do
      if docker_cmd info >/dev/null 2>&1; then
        # a container must actually start (namespaces, cgroups, the storage driver)
        if probe_container; then
          return 0
        fi
        break
      fi
      sleep 1
    done
    stop
  done
  unavailable "dockerd did not start or cannot run containers here: $(tail -n 3 "$STATE"/dockerd-*.log | tr '\n' ' ')"
}

# A tiny image made from the host's own bash, to prove that containers run before the real work.
probe_container() {
  docker_cmd image inspect mimicforge-ci-probe:1 >/dev/null 2>&1 || {
    local root
    root=$(mktemp -d)
    cp --parents /bin/bash "$root"/
    ldd /bin/bash | grep -o '/[^ ]*' | while read -r lib; do cp --parents -L "$lib" "$root"/; done
    tar -C "$root" -c . | docker_cmd import - mimicforge-ci-probe:1 >/dev/null
    rm -rf "$root"
  } || return 1
  [ "$(docker_cmd run --rm --network none mimicforge-ci-probe:1 /bin/bash -c 'echo ok' 2>"$STATE/probe.err")" = ok ]
}

base_image() {
  if docker_cmd image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    log "base image $BASE_IMAGE present"
    return 0
  fi
  mkdir -p "$CACHE"
  local tarball=$CACHE/base-bookworm.tar
  if [ ! -s "$tarball" ]; then
    log "debootstrap bookworm ($BASE_PACKAGES)"
    local root
    root=$(mktemp -d)
    debootstrap --variant=minbase --include="$BASE_PACKAGES" bookworm "$root" "$DEBIAN_MIRROR" \
      >"$STATE/debootstrap.log" 2>&1 || unavailable "debootstrap failed: $(tail -n 2 "$STATE/debootstrap.log")"
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    tar -C "$root" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
    rm -rf "$root"
  fi
  log "importing $BASE_IMAGE"
  docker_cmd import "$tarball" "$BASE_IMAGE" >/dev/null || unavailable "docker import of the base image failed"
}

wheelhouse() {
  local wheels=$CACHE/docker-wheels python=${PYTHON:-python3} target build
  mkdir -p "$wheels"
  # Resolve for the image's Python (bookworm: 3.11.2), not the host's: some wheels need a newer 3.11.
  target=$(docker_cmd run --rm --network none "$BASE_IMAGE" python3 -c \
    'import platform; print(platform.python_version())') || unavailable "the base image has no working python3"
  log "wheels for the CPU image (Python $target) in $wheels"
  build=$(mktemp -d)
  if ! "$python" -m pip wheel -q --no-deps -w "$build" . >"$STATE/pip.log" 2>&1 \
    || ! "$python" -m pip download -q -d "$wheels" --python-version "$target" --only-binary=:all: \
      "$(echo "$build"/mimicforge-*.whl)[sim,notebook]" 'setuptools>=68' wheel >>"$STATE/pip.log" 2>&1 \
    || ! "$python" -m pip download -q --no-deps -d "$wheels" --python-version "$target" --only-binary=:all: \
      dm-robotics-panda==0.4.8 >>"$STATE/pip.log" 2>&1; then
    unavailable "pip download of the image's wheels failed: $(tail -n 2 "$STATE/pip.log")"
  fi
  rm -rf "$build" "$wheels"/mimicforge-*.whl
  rm -rf .cache/docker-wheels
  mkdir -p .cache/docker-wheels
  cp -l "$wheels"/* .cache/docker-wheels/ 2>/dev/null || cp "$wheels"/* .cache/docker-wheels/
}

# The Isaac Lab image test (tests/docker/test_isaaclab_image.py) builds on a Python 3.12 stand-in for Isaac Lab 3.0:
# its wheels go to .cache/docker-wheels-py312 (the 3.11 stand-in uses .cache/docker-wheels). Optional: when they
# cannot be fetched, that case alone is skipped.
isaaclab_wheelhouse() {
  local wheels=$CACHE/docker-wheels-py312 python=${PYTHON:-python3} build
  mkdir -p "$wheels"
  log "wheels for the Isaac Lab 3.0 stand-in (Python 3.12) in $wheels"
  build=$(mktemp -d)
  if ! "$python" -m pip wheel -q --no-deps -w "$build" . >>"$STATE/pip.log" 2>&1 \
    || ! "$python" -m pip download -q -d "$wheels" --python-version 3.12 --only-binary=:all: \
      "$(echo "$build"/mimicforge-*.whl)[isaaclab,notebook]" 'setuptools>=68' wheel >>"$STATE/pip.log" 2>&1; then
    log "no Python 3.12 wheelhouse (the Isaac Lab 3.0 image case will be skipped): $(tail -n 1 "$STATE/pip.log")"
    rm -rf "$build"
    return 0
  fi
  rm -rf "$build" "$wheels"/mimicforge-*.whl .cache/docker-wheels-py312
  mkdir -p .cache/docker-wheels-py312
  cp -l "$wheels"/* .cache/docker-wheels-py312/ 2>/dev/null || cp "$wheels"/* .cache/docker-wheels-py312/
}

case "${1:-start}" in
  start)
    rm -rf "$STATE"
    mkdir -p "$STATE"
    install_packages
    start_dockerd
    prune
    base_image
    wheelhouse
    isaaclab_wheelhouse
    printf '{"docker_host": "%s", "base_image": "%s", "wheelhouse": ".cache/docker-wheels"}\n' \
      "$SOCKET" "$BASE_IMAGE" >"$STATE/state.json"
    log "ready: DOCKER_HOST=$SOCKET"
    ;;
  stop)
    stop
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
