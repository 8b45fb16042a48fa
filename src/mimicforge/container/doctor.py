"""``mimicforge container doctor``: every environmental reason a container run would fail, before it starts.

Each check is pass / warn / fail (or skip, when what it needs failed first) with the fix. Nothing here changes
the machine apart from a short-lived probe container for the GPU check, and the removal of containers whose
launcher is gone (``engine.reap_orphans``, as the next ``container run`` would do).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import socket
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mimicforge.container import engine, host
from mimicforge.container.compose import ServiceSpec, read_dotenv, service_spec
from mimicforge.errors import MimicforgeError

log = logging.getLogger(__name__)
GB = 1024**3
# Free space the engine needs: the image (when it still has to be built) and the caches a run fills.
DISK_NEEDS = {"isaac-lab": (30 * GB, 20 * GB), "mimicforge": (3 * GB, 1 * GB)}
NVIDIA_FIX = ("install the NVIDIA Container Toolkit, then 'sudo nvidia-ctk runtime configure --runtime=docker && "
              "sudo systemctl restart docker' (or CDI: 'sudo nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml')")


@dataclasses.dataclass(frozen=True)
class Check:
    name: str
    status: str  # pass | warn | fail | skip
    detail: str
    fix: str = ""

    def to_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)


def _ok(name: str, detail: str) -> Check:
    return Check(name, "pass", detail)


def doctor(service: str = "mimicforge", *, env: Mapping[str, str] | None = None,
           project_dir: str | os.PathLike[str] = ".", compose_file: str | os.PathLike[str] | None = None,
           probe: bool = True) -> list[Check]:
    """Run every check for ``service``; ``probe=False`` skips the GPU probe container."""
    engine.require_docker()
    base_env = {**read_dotenv(Path(project_dir) / ".env"), **(os.environ if env is None else env)}
    run_env = {**base_env, "MODE": "standalone"}
    checks: list[Check] = []
    try:
        spec = service_spec(service, env=run_env, project_dir=project_dir, compose_file=compose_file)
    except MimicforgeError as exc:
        return [Check("compose file", "fail", str(exc), "fix docker-compose.yml or pass --file")]
    checks.append(_settings(service, base_env, project_dir, compose_file))
    checks.append(_socket(base_env))
    client, check = _engine(base_env)
    checks.append(check)
    checks.append(_leftovers(client))
    checks.append(_compose_v2())
    image = engine.image_present(client, spec.image) if client is not None else None
    if service == "isaac-lab":
        runtime = _nvidia_runtime(client)
        checks.append(runtime)
        checks.append(_gpu_probe(client, spec, image, runtime.status == "pass" and probe))
        checks.append(_eula(spec))
    checks.append(_image(client, spec, image))
    checks.append(_disk(client, spec, image))
    checks.append(_port(spec))
    user = host.container_user(spec, image)
    for sub in ("datasets", "output"):
        checks.append(_folder(spec, sub, user))
    checks.append(_input(spec))
    return checks


def failed(checks: list[Check]) -> bool:
    return any(c.status == "fail" for c in checks)


def format_checks(checks: list[Check]) -> str:
    lines = []
    for c in checks:
        lines.append(f"{c.status.upper():<5} {c.name:<16} {c.detail}")
        if c.fix and c.status in ("warn", "fail"):
            lines.append(f"{'':<22}fix: {c.fix}")
    bad = sum(c.status == "fail" for c in checks)
    warn = sum(c.status == "warn" for c in checks)
    lines.append(f"{bad} failed, {warn} warning{'s' * (warn != 1)}, "
                 f"{sum(c.status == 'pass' for c in checks)} passed")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ checks
def _settings(service: str, env: Mapping[str, str], project_dir: Any, compose_file: Any) -> Check:
    from mimicforge.container.launcher import prepare

    try:
        prepare(service, "standalone", env=env, project_dir=project_dir, compose_file=compose_file)
    except MimicforgeError as exc:
        return Check("settings", "fail", str(exc), "correct the variable as the message says")
    return _ok("settings", "every variable passes mimicforge's checks")


def _socket(env: Mapping[str, str]) -> Check:
    url = engine.docker_host(dict(env))
    if not url.startswith("unix://"):
        return Check("socket", "skip", f"DOCKER_HOST={url} is not a unix socket")
    path = url.removeprefix("unix://")
    if not os.path.exists(path):
        return Check("socket", "fail", f"no Docker socket at {path}", engine.engine_fix(url))
    if not stat.S_ISSOCK(os.stat(path).st_mode):
        return Check("socket", "fail", f"{path} is not a socket", "point DOCKER_HOST at the engine's socket")
    if not os.access(path, os.R_OK | os.W_OK):
        return Check("socket", "fail", f"this user (uid {os.getuid()}) may not use {path}",
                     "sudo usermod -aG docker $USER, then log in again (or use rootless Docker)")
    return _ok("socket", f"{path} is usable by uid {os.getuid()}")


def _engine(env: Mapping[str, str]) -> tuple[Any, Check]:
    url = engine.docker_host(dict(env))
    try:
        client = engine.connect(timeout=15)
        v = client.version()
    except MimicforgeError as exc:
        return None, Check("engine", "fail", str(exc).split("; ")[0], engine.engine_fix(url))
    return client, _ok("engine", f"Docker {v.get('Version')} (API {v.get('ApiVersion')}) at {url}")


def _compose_v2() -> Check:
    found = host.compose_version()
    if found is None:
        return Check("compose", "warn", "no Compose v2 found ('docker compose' or docker-compose v2)",
                     "install the docker-compose-plugin package to use 'docker compose' directly "
                     "('mimicforge container' does not need it)")
    version, where = found
    if not version.lstrip("v").startswith("2"):
        return Check("compose", "warn", f"{where} is Compose {version}; docker-compose.yml needs v2",
                     "install the docker-compose-plugin package (Compose v2)")
    return _ok("compose", f"Compose {version} ({where})")


def _nvidia_runtime(client: Any) -> Check:
    if client is None:
        return Check("gpu runtime", "skip", "needs the engine")
    info = client.info()
    runtimes = sorted(info.get("Runtimes") or {})
    if "nvidia" in runtimes:
        return _ok("gpu runtime", "the engine has the nvidia runtime")
    cdi = host.nvidia_cdi_specs(info.get("CDISpecDirs") or ["/etc/cdi", "/var/run/cdi"])
    if cdi:
        return _ok("gpu runtime", f"NVIDIA CDI devices in {', '.join(cdi)}")
    hook = shutil.which("nvidia-container-runtime-hook") or shutil.which("nvidia-container-cli")
    if hook:
        return _ok("gpu runtime", f"NVIDIA Container Toolkit at {hook} (GPU requests use its hook)")
    return Check("gpu runtime", "fail",
                 f"no NVIDIA runtime or CDI device: the engine's runtimes are {', '.join(runtimes) or 'none'}, "
                 f"and no NVIDIA Container Toolkit is installed", NVIDIA_FIX)


def _gpu_probe(client: Any, spec: ServiceSpec, image: Any, run_probe: bool) -> Check:
    if not run_probe:
        return Check("gpu in container", "skip", "needs the NVIDIA runtime (see above)")
    if image is None:
        return Check("gpu in container", "warn", f"not probed: no image at hand ({spec.image} is not built)",
                     "mimicforge container build --service isaac-lab, then run doctor again")
    docker = engine.require_docker()
    try:
        out = client.containers.run(spec.image, entrypoint=["nvidia-smi", "-L"], remove=True, network_mode="none",
                                    device_requests=[docker.types.DeviceRequest(count=1, capabilities=[["gpu"]])])
    except docker.errors.DockerException as exc:
        return Check("gpu in container", "fail", f"a probe container saw no GPU: {' '.join(str(exc).split()):.200}",
                     NVIDIA_FIX)
    gpus = [line for line in out.decode(errors="replace").splitlines() if line.startswith("GPU ")]
    if not gpus:
        return Check("gpu in container", "fail", "nvidia-smi in a probe container listed no GPU", NVIDIA_FIX)
    return _ok("gpu in container", gpus[0])


def _leftovers(client: Any) -> Check:
    if client is None:
        return Check("leftovers", "skip", "needs the engine")
    gone = engine.reap_orphans(client)
    if gone:
        return Check("leftovers", "warn", f"stopped and removed {len(gone)} container(s) left by a killed launcher: "
                                          f"{', '.join(gone)}", "nothing more to do; check the run's output file")
    return _ok("leftovers", "no container outlived its launcher")


def _eula(spec: ServiceSpec) -> Check:
    value = spec.environment.get("ACCEPT_EULA", "")
    if value.strip().upper() in ("Y", "YES"):
        return _ok("ACCEPT_EULA", f"ACCEPT_EULA={value} (docker-compose.yml accepts the NVIDIA Isaac Sim license)")
    return Check("ACCEPT_EULA", "fail", f"ACCEPT_EULA={value!r}: Isaac Sim will not start without it",
                 "read the NVIDIA Isaac Sim license, then set ACCEPT_EULA: \"Y\" for the service")


def _image(client: Any, spec: ServiceSpec, image: Any) -> Check:
    if client is None:
        return Check("image", "skip", "needs the engine")
    if image is not None:
        return _ok("image", f"{spec.image} present ({image.short_id}, {image.attrs.get('Size', 0) / GB:.1f} GB)")
    fix = f"mimicforge container build --service {spec.service}"
    if spec.build is None:
        return Check("image", "fail", f"{spec.image} is not present and the service has no build section",
                     f"docker pull {spec.image}")
    dockerfile = spec.build.context / spec.build.dockerfile
    if not dockerfile.is_file():
        return Check("image", "fail", f"{spec.image} is not present and {dockerfile} is missing",
                     "run from a mimicforge checkout (the build needs its docker/ folder)")
    bases = host.base_images(dockerfile, spec.build.args)
    missing = [b for b in bases if engine.image_present(client, b) is None]
    unpullable = []
    for b in missing:
        reason = host.pull_problem(client, b)
        if reason:
            unpullable.append(f"{b} ({reason})")
    if unpullable:
        return Check("image", "fail", f"{spec.image} is not built and its base image is neither local nor pullable: "
                     f"{'; '.join(unpullable)}",
                     _base_fix(spec, missing))
    where = "local" if not missing else "pullable"
    return _ok("image", f"{spec.image} not built yet; its base {', '.join(bases)} is {where} ({fix} builds it, "
               f"or the first run does)")


def _base_fix(spec: ServiceSpec, missing: list[str]) -> str:
    login = "docker login nvcr.io (user $oauthtoken, password an NGC API key); " if any(
        b.startswith("nvcr.io/") for b in missing) else "check the engine's network access to the registry; "
    names = " / ".join(spec.build_variables) or "the build args"
    return f"{login}or set {names} to an image you have (docker images)"


def _disk(client: Any, spec: ServiceSpec, image: Any) -> Check:
    if client is None:
        return Check("disk", "skip", "needs the engine")
    root = client.info().get("DockerRootDir", "")
    image_need, cache_need = DISK_NEEDS.get(spec.service, (3 * GB, 1 * GB))
    need = cache_need + (image_need if image is None else 0)
    where = root if root and os.path.isdir(root) else str(spec.project_dir)
    free = shutil.disk_usage(where).free
    detail = f"{free / GB:.0f} GB free at {where}; images and caches need about {need / GB:.0f} GB"
    fix = "free disk space (docker system prune) or move the engine's data-root to a larger disk"
    if free < need:
        return Check("disk", "fail", detail, fix)
    if free < 1.5 * need:
        return Check("disk", "warn", detail, fix)
    return _ok("disk", detail)


def _port(spec: ServiceSpec) -> Check:
    port = spec.jupyter_port
    if port is None:
        return Check("jupyter port", "skip", "the service publishes no port")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return Check("jupyter port", "warn", f"127.0.0.1:{port} is taken ('container jupyter' needs it; "
                         f"'container run' does not)", f"JUPYTER_PORT={port + 1}, or stop what listens on {port}")
    return _ok("jupyter port", f"127.0.0.1:{port} is free")


def _folder(spec: ServiceSpec, sub: str, user: tuple[int, int] | None) -> Check:
    mount = next((m for m in spec.mounts if m.type == "bind" and m.target.rstrip("/").endswith(f"/{sub}")), None)
    name = f"./{sub}"
    if mount is None:
        return Check(name, "skip", f"the service mounts no {sub} folder")
    path = Path(mount.source)
    if not path.is_dir():
        return Check(name, "fail", f"{path} does not exist", f"mkdir -p {path}")
    if user is None:
        return Check(name, "warn", f"{path} exists; the container's user is not numeric, so its access is unknown")
    uid, gid = user
    if host.writable_by(path, uid, gid):
        return _ok(name, f"{path} is writable by the container's user {uid}:{gid}")
    st = path.stat()
    fix = f"sudo chown -R {uid}:{gid} {path}"
    if "MIMICFORGE_UID" in host.user_variables(spec) and st.st_uid == os.getuid():
        fix = f"export MIMICFORGE_UID=$(id -u) MIMICFORGE_GID=$(id -g) (the container then writes as you), or {fix}"
    return Check(name, "fail", f"{path} (owner {st.st_uid}:{st.st_gid}, mode {stat.filemode(st.st_mode)}) is not "
                 f"writable by the container's user {uid}:{gid}", fix)


def _input(spec: ServiceSpec) -> Check:
    from mimicforge.config import DEFAULT_INPUT
    from mimicforge.datasets import DatasetReader, validate
    from mimicforge.datasets.layout import ANNOTATE_HINT

    value = spec.environment.get("INPUT_FILE") or str(DEFAULT_INPUT)
    path = host.host_path(spec, value)
    record = f"mimicforge record --num-demos 10 --out {DEFAULT_INPUT}"
    if path is None:
        return Check("input", "fail", f"INPUT_FILE={value} is not inside a folder mounted into the container",
                     "put the file in ./datasets and set INPUT_FILE=datasets/<name>.hdf5")
    if not path.is_file():
        return Check("input", "fail", f"{path} (INPUT_FILE={value}) does not exist",
                     f"cp YOUR_ANNOTATED.hdf5 {path}, or record one on the twin: {record}")
    try:
        problems = validate(path)
        with DatasetReader(path) as r:
            annotated, demos, env_name = r.is_annotated(), len(r), r.env_name
    except MimicforgeError as exc:
        return Check("input", "fail", str(exc), f"mimicforge validate {path} lists what is wrong")
    if problems:
        return Check("input", "fail", f"{path} is not a valid dataset: {problems[0]}"
                     + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""),
                     f"mimicforge validate {path} lists every problem")
    if not annotated:
        return Check("input", "fail", f"{path} has no subtask annotations (obs/datagen_info)", ANNOTATE_HINT)
    return _ok("input", f"{path}: {demos} annotated demos, env {env_name or '(none)'}")
