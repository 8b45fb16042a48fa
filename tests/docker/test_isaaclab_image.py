"""The Isaac Lab image (docker/Dockerfile.isaaclab) built on stand-ins for NVIDIA's images of both generations.

NVIDIA's images need a GPU host and a registry; the stand-ins reproduce the layout the Dockerfile and
launch.sh rely on, with real parts wherever possible:

- Isaac Lab 2.3 (``isaaclab`` 2.3.2.post1): runs as root, ``/isaac-sim/python.sh`` runs Debian bookworm's
  Python 3.11;
- Isaac Lab 3.0 (``isaaclab`` 3.0.0): runs as user ``isaaclab`` (uid 1000), ``/isaac-sim/python.sh`` runs a
  real CPython 3.12 copied from this machine (bookworm has none, and no download is possible in CI);
- both: ``/workspace/isaaclab`` owned by the image's user, and the real ``isaaclab`` wheel of that release from
  PyPI installed ``--no-deps`` into Isaac Sim's Python (2.x wheels keep their packages under
  ``isaaclab/source/<pkg>``, registered with a ``.pth`` as NVIDIA's editable install does). Isaac Sim itself
  (Kit, ``isaacsim``, torch) is what the stand-in lacks: it is the boundary where the run must stop.

Each image then runs ``MODE=standalone NUM_TRIALS=1`` through launch.sh: settings validated, the driver
imported, the API variant of that wheel selected from its sources, and the run stopped at Kit start with
one clear line (no argparse usage, no traceback). Needs ``.ci/docker.sh start`` (as test_container.py).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.backends.isaaclab import wheel_sources as ws
from tests.docker.tools import REPO, engine_state

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(1800)]
# release -> (Python, user, wheelhouse in the build context, API variant the driver must pick)
GENERATIONS = {
    "2.3.2.post1": ("3.11", "root", ".cache/docker-wheels", "reset queue (Isaac Lab 2.1 to 2.3)"),
    "3.0.0": ("3.12", "isaaclab", ".cache/docker-wheels-py312", "data_gen_tasks (Isaac Lab 3.0)"),
}

STANDIN_DOCKERFILE = """\
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
ARG IMAGE_USER=root
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
COPY . /tmp/standin
RUN mkdir -p /isaac-sim/kit /workspace/isaaclab \\
    && if [ -d /tmp/standin/python ]; then cp -a /tmp/standin/python /isaac-sim/kit/python; \\
       else python3 -m venv /isaac-sim/kit/python; fi \\
    && printf '#!/bin/bash\\nexport LD_LIBRARY_PATH=/isaac-sim/kit/python/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}\\n\\
exec /isaac-sim/kit/python/bin/python3 "$@"\\n' > /isaac-sim/python.sh && chmod 755 /isaac-sim/python.sh \\
    && /isaac-sim/python.sh -m pip install --no-index --no-deps --no-cache-dir /tmp/standin/isaaclab-*.whl \\
    && /isaac-sim/python.sh -c 'import pathlib, sysconfig; site = pathlib.Path(sysconfig.get_paths()["purelib"]); \\
src = site / "isaaclab" / "source"; pkgs = [str(p) for p in sorted(src.glob("*")) if (p / p.name).is_dir()]; \\
(site / "isaaclab_source.pth").write_text("".join(p + chr(10) for p in pkgs))' \\
    && echo "stand-in for NVIDIA's Isaac Lab checkout" > /workspace/isaaclab/README \\
    && if [ "${IMAGE_USER}" != root ]; then useradd --uid 1000 --create-home --shell /bin/bash "${IMAGE_USER}" \\
       && chown -R "${IMAGE_USER}:" /workspace/isaaclab /isaac-sim; fi \\
    && rm -rf /tmp/standin
USER ${IMAGE_USER}
"""




def host_python(version: str) -> Path | None:
    """The prefix of a real CPython ``version`` on this machine (python3.X on PATH or a pyenv build)."""
    candidates = [shutil.which(f"python{version}")] + sorted(
        glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python{version}")), reverse=True)
    for exe in filter(None, candidates):
        r = subprocess.run([exe, "-c", "import sys; print(sys.base_prefix)"], capture_output=True, text=True)
        if r.returncode == 0 and Path(r.stdout.strip(), "lib", f"python{version}").is_dir():
            return Path(r.stdout.strip())
    return None


def copy_python(prefix: Path, version: str, dest: Path) -> None:
    """The interpreter, its standard library and pip; no tests, static library or site-packages extras."""
    lib = f"python{version}"
    skip = shutil.ignore_patterns("test", "tests", "__pycache__", "idlelib", "turtledemo", "tkinter", "config-*",
                                  "*.a")
    for sub in ("bin", "include"):
        shutil.copytree(prefix / sub, dest / sub, symlinks=True, ignore=skip)
    (dest / "lib").mkdir(parents=True)
    for so in (prefix / "lib").glob("libpython*.so*"):
        shutil.copy2(so, dest / "lib", follow_symlinks=False)
    shutil.copytree(prefix / "lib" / lib, dest / "lib" / lib, symlinks=True,
                    ignore=lambda d, names: skip(d, names) | ({n for n in names if n != "pip" and not
                                                               n.startswith("pip-")} if d.endswith("site-packages")
                                                              else set()))


def sh(cmd: list[str], env: dict[str, str], timeout: float = 1200, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, **kw)


@pytest.fixture(scope="module")
def docker_env() -> dict[str, str]:
    state = engine_state()
    env = {**os.environ, "DOCKER_HOST": state["docker_host"]}
    env.pop("MIMICFORGE_DEBUG", None)
    r = sh(["docker", "info", "--format", "{{.ServerVersion}}"], env)
    if r.returncode != 0:
        pytest.fail(f"the prepared dockerd does not answer: {r.stderr.strip()}")
    return env | {"_BASE_IMAGE": state["base_image"]}


@pytest.mark.parametrize("version", list(GENERATIONS), ids=list(GENERATIONS))
def test_isaaclab_image_on_a_stand_in_base_stops_at_kit_with_one_line(version, docker_env, tmp_path, real_dataset):
    python, user, wheelhouse, variant = GENERATIONS[version]
    if not (REPO / wheelhouse).is_dir():
        pytest.skip(f"no wheelhouse {wheelhouse} for Python {python} (.ci/docker.sh start makes it)")
    t0 = time.monotonic()
    context = tmp_path / "standin"
    context.mkdir()
    shutil.copy(ws.wheel(version, python), context)
    if python != "3.11":  # bookworm's own Python is 3.11
        prefix = host_python(python)
        if prefix is None:
            pytest.skip(f"no CPython {python} on this machine to put into the Isaac Lab {version} stand-in")
        copy_python(prefix, python, context / "python")
    (context / "Dockerfile").write_text(STANDIN_DOCKERFILE)
    base = f"mimicforge-isaaclab-standin:{version}"
    r = sh(["docker", "build", "--build-arg", f"BASE_IMAGE={docker_env['_BASE_IMAGE']}", "--build-arg",
            f"IMAGE_USER={user}", "-t", base, str(context)], docker_env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    image = f"mimicforge-isaaclab:standin-{version}"
    name, tag = base.split(":")
    args = ["--build-arg", f"ISAACLAB_IMAGE={name}", "--build-arg", f"ISAACLAB_VERSION={tag}",
            "--build-arg", f"PIP_WHEELHOUSE={wheelhouse}"]
    wrong = "isaaclab" if user == "root" else "root"
    r = sh(["docker", "build", "-f", "docker/Dockerfile.isaaclab", *args, "--build-arg", f"ISAACLAB_USER={wrong}",
            "-t", image, "."], docker_env, cwd=REPO)
    assert r.returncode != 0 and f"belongs to user '{user}'; build with ISAACLAB_USER={user}" in r.stdout + r.stderr
    r = sh(["docker", "build", "-f", "docker/Dockerfile.isaaclab", *args, "--build-arg", f"ISAACLAB_USER={user}",
            "-t", image, "."], docker_env, cwd=REPO)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    built = time.monotonic() - t0

    datasets = tmp_path / "datasets"
    datasets.mkdir()
    shutil.copy(real_dataset, datasets / "annotated_dataset.hdf5")
    os.chmod(datasets, 0o777)
    r = sh(["docker", "run", "--rm", "--network", "none", "-e", "MODE=standalone", "-e", "NUM_TRIALS=1",
            "-v", f"{datasets}:/workspace/mimicforge/datasets", image], docker_env, timeout=600)
    ran = time.monotonic() - t0 - built
    out = r.stdout + r.stderr
    print(f"\nIsaac Lab {version} stand-in: images built in {built:.0f} s, run {ran:.0f} s, exit {r.returncode}\n{out}")
    assert r.returncode == 2, out
    assert "launch.sh: MODE=standalone ENGINE=isaaclab NUM_TRIALS=1" in out
    assert f"Isaac Lab {version}: generation API {variant}" in out
    errors = [line for line in out.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and errors[0].startswith("standalone/generate.py: error: Isaac Lab is not importable "
                                                     "here"), out
    assert "Traceback" not in out and "usage:" not in out and "unrecognized arguments" not in out
    assert not list(datasets.glob("generated*"))  # stopped before anything was written
    who = sh(["docker", "run", "--rm", "--network", "none", "--entrypoint", "/bin/bash", image, "-c",
              'id -un; /isaac-sim/python.sh -c "import sys; print(sys.version_info[:2])"; echo "$HOME"; '
              'touch /isaac-sim/kit/cache/x /isaac-sim/kit/data/x "$HOME/.cache/ov/x" && echo writable'],
             docker_env, timeout=120)
    lines = who.stdout.split()
    assert who.returncode == 0 and lines[0] == user and "writable" in lines, who.stdout + who.stderr
    assert who.stdout.splitlines()[1] == str(tuple(int(x) for x in python.split(".")))
