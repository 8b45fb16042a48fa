"""What reaches an image. ``.dockerignore`` keeps ``.env``, notebooks and their outputs, datasets and output folders
out of every build context (checked with the Docker SDK's own context filter, which ``mimicforge container build``
uses; always runs); the Dockerfiles copy the context only into a build stage; and the Isaac Lab image, really built
from a context holding a ``.env``, has no ``.env`` and no byte of it in any layer (needs the engine that
``.ci/docker.sh start`` prepares; skipped with the reason elsewhere, as tests/docker/test_container.py).

The Isaac Lab base here is a minimal stand-in for NVIDIA's image (Debian's Python behind ``/isaac-sim/python.sh``
and a ``/workspace/isaaclab`` folder): the layout the Dockerfile relies on, nothing of Isaac Sim."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.docker.tools import REPO, engine_state

SECRET = "JUPYTER_TOKEN=5f3c0ffee-never-in-an-image-9d1e"
ALLOWED = (".dockerignore", "pyproject.toml", "README.md", "launch.sh", "src/", "standalone/", ".cache/docker-wheels/",
           ".cache/docker-wheels-py312/")


def context_files(root: Path) -> set[str]:
    """The files a build of ``root`` sends to the engine, as the SDK's builder selects them from .dockerignore."""
    build = pytest.importorskip("docker.utils.build", reason="the Docker SDK (extra 'docker') is not installed")
    lines = (root / ".dockerignore").read_text().splitlines()
    patterns = [x.strip() for x in lines if x.strip() and not x.lstrip().startswith("#")]
    return {p for p in build.exclude_paths(str(root), patterns) if (root / p).is_file()}


def test_dockerignore_lets_only_sources_and_scripts_through(tmp_path):
    files = {
        ".env": SECRET, ".env.local": SECRET, "src/mimicforge/.env": SECRET, "notebook/generate_dataset.ipynb": "{}",
        "notebook/out/frame.png": "png", "src/mimicforge/demo.ipynb": "{}", "datasets/annotated.hdf5": "h5",
        "output/table_cam_rgb/demo_0/step_0000.png": "png", "src/mimicforge/__pycache__/cli.cpython-311.pyc": "pyc",
        "src/mimicforge/recorded.hdf5": "h5", "tests/test_x.py": "", ".git/config": "", "bench/x.py": "",
        ".cache/isaaclab-wheels/isaaclab.whl": "", "notes.txt": "", ".venv/bin/python": "",
        # what the images are built from:
        "pyproject.toml": "", "README.md": "", "launch.sh": "", "standalone/generate.py": "",
        "src/mimicforge/__init__.py": "", "src/mimicforge/media/stack_prompts.toml": "",
        ".cache/docker-wheels/numpy.whl": "", ".cache/docker-wheels-py312/numpy.whl": "",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    shutil.copy(REPO / ".dockerignore", tmp_path / ".dockerignore")
    assert context_files(tmp_path) == {  # .dockerignore itself always goes along
        ".dockerignore", "pyproject.toml", "README.md", "launch.sh", "standalone/generate.py",
        "src/mimicforge/__init__.py",
        "src/mimicforge/media/stack_prompts.toml", ".cache/docker-wheels/numpy.whl",
        ".cache/docker-wheels-py312/numpy.whl"}


def test_this_checkouts_context_holds_what_the_dockerfiles_need_and_nothing_private():
    sent = context_files(REPO)
    assert {"pyproject.toml", "README.md", "launch.sh", "standalone/generate.py", "src/mimicforge/cli.py",
            "src/mimicforge/media/stack_prompts.toml"} <= sent
    outside = sorted(p for p in sent if not p.startswith(ALLOWED))
    assert outside == []
    assert not [p for p in sent if Path(p).name.startswith(".env") or p.endswith((".hdf5", ".ipynb"))]


@pytest.mark.parametrize("dockerfile", ["docker/Dockerfile.isaaclab", "docker/Dockerfile.cpu"])
def test_the_image_stage_never_copies_the_context(dockerfile):
    """The context (``COPY .``) goes into a build stage only; the image's own stage takes files from that stage or
    names single paths."""
    lines = (REPO / dockerfile).read_text().replace("\\\n", " ").splitlines()
    stages: list[list[str]] = []
    for line in (x.strip() for x in lines):
        if line.upper().startswith("FROM "):
            stages.append([])
        elif stages and line and not line.startswith("#"):
            stages[-1].append(line)
    assert len(stages) >= 2, f"{dockerfile} has a single stage: its COPY of the context would stay in a layer"
    for line in stages[-1]:
        words = line.split()
        if words[0].upper() in ("COPY", "ADD") and not any(w.startswith("--from=") for w in words):
            assert not {".", "./"} & set(words[1:-1]), f"{dockerfile}: the image's stage copies the context: {line}"
    assert any(line.split()[:2] == ["COPY", "."] for stage in stages[:-1] for line in stage)


# ------------------------------------------------------------------------------------------ a real image
STANDIN = """\
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN mkdir -p /isaac-sim /workspace/isaaclab && python3 -m venv /isaac-sim/kit/python \\
    && printf '#!/bin/bash\\nexec /isaac-sim/kit/python/bin/python3 "$@"\\n' > /isaac-sim/python.sh \\
    && chmod 755 /isaac-sim/python.sh
"""


def sh(cmd: list[str], env: dict[str, str], timeout: float = 1200, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, **kw)


def layers_holding(image_tar: Path, secret: bytes) -> list[str]:
    """Every file of every layer of a ``docker save`` archive that is a ``.env`` or holds ``secret``."""
    found = []
    with tarfile.open(image_tar) as archive:
        manifest = json.load(archive.extractfile("manifest.json"))  # type: ignore[arg-type]
        for layer in manifest[0]["Layers"]:
            with tarfile.open(fileobj=archive.extractfile(layer)) as files:
                for member in files:
                    if Path(member.name).name.startswith(".env"):
                        found.append(f"{layer}: {member.name}")
                    elif member.isfile() and secret in files.extractfile(member).read():  # type: ignore[union-attr]
                        found.append(f"{layer}: {member.name} holds the secret")
    return found


def checkout_copy_ignore(folder: str, names: list[str]) -> list[str]:
    """What a copy of the checkout leaves out: git, venvs and caches anywhere; the data volumes only at the top
    (``src/mimicforge/datasets`` is the package's own module)."""
    skip = {".git", ".cache", "__pycache__", ".pytest_cache"}
    if Path(folder).resolve() == REPO.resolve():
        skip |= {"datasets", "output"}
    return [n for n in names if n in skip or n.startswith(".venv")]


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_isaaclab_image_layers_hold_no_env_file(tmp_path):
    state = engine_state()
    env = {**os.environ, "DOCKER_HOST": state["docker_host"]}
    wheelhouse = REPO / state["wheelhouse"]
    if not wheelhouse.is_dir():
        pytest.skip(f"no wheelhouse {state['wheelhouse']} (.ci/docker.sh start makes it)")
    # a checkout as a user has it: a .env with the Jupyter token, a dataset and a notebook holding it too
    context = tmp_path / "checkout"
    shutil.copytree(REPO, context, ignore=checkout_copy_ignore)
    shutil.copytree(wheelhouse, context / state["wheelhouse"])
    for name in (".env", "datasets/secret.hdf5", "notebook/out.txt", "src/mimicforge/.env"):
        (context / name).parent.mkdir(parents=True, exist_ok=True)
        (context / name).write_text(SECRET + "\n")
    (tmp_path / "standin").mkdir()
    (tmp_path / "standin" / "Dockerfile").write_text(STANDIN)
    base = "mimicforge-layers-standin:1"
    r = sh(["docker", "build", "--build-arg", f"BASE_IMAGE={state['base_image']}", "-t", base,
            str(tmp_path / "standin")], env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    image = "mimicforge-isaaclab:layers"
    r = sh(["docker", "build", "-f", str(context / "docker" / "Dockerfile.isaaclab"), "--build-arg",
            "ISAACLAB_IMAGE=mimicforge-layers-standin", "--build-arg", "ISAACLAB_VERSION=1", "--build-arg",
            f"PIP_WHEELHOUSE={state['wheelhouse']}", "-t", image, str(context)], env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    r = sh(["docker", "run", "--rm", "--network", "none", "--entrypoint", "/isaac-sim/python.sh", image, "-m",
            "mimicforge", "--version"], env, timeout=300)
    assert r.returncode == 0 and r.stdout.startswith("mimicforge "), r.stderr  # installed, and it runs
    saved = tmp_path / "image.tar"
    assert sh(["docker", "save", "-o", str(saved), image], env).returncode == 0
    assert layers_holding(saved, SECRET.encode()) == []

    # the check itself finds what a single-stage COPY leaves behind, even after an rm in a later layer
    naive = tmp_path / "naive"
    naive.mkdir()
    (naive / ".env").write_text(SECRET + "\n")
    (naive / "Dockerfile").write_text(f"FROM {base}\nCOPY . /src\nRUN rm -rf /src\n")
    assert sh(["docker", "build", "-t", "mimicforge-layers-naive:1", str(naive)], env).returncode == 0
    assert sh(["docker", "save", "-o", str(tmp_path / "naive.tar"), "mimicforge-layers-naive:1"], env).returncode == 0
    assert any(f.endswith("src/.env") for f in layers_holding(tmp_path / "naive.tar", SECRET.encode()))
