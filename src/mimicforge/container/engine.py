"""The Docker engine through the SDK: connect, and turn a ``ServiceSpec`` into the container Compose creates.

Only this module and ``launcher`` / ``doctor`` import ``docker`` (the optional extra ``docker``), lazily.
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from typing import Any

from mimicforge.container.compose import ServiceSpec
from mimicforge.errors import BackendUnavailable
from mimicforge.extras import require

log = logging.getLogger(__name__)
INSTALL_HINT = "the Docker SDK is not installed; pip install 'mimicforge[docker]'"
DEFAULT_SOCKET = "unix:///var/run/docker.sock"
LAUNCHER_LABEL = "org.mimicforge.launcher"
# The launcher process a container belongs to, "<hostname>/<boot id>/<pid>/<start time>": the next run or doctor on
# that host removes a container whose launcher is gone (killed by SIGKILL, say).
LAUNCHER_PROCESS_LABEL = "org.mimicforge.launcher.process"
# Set in the containers the launcher attaches to: launch.sh stops the run when their stdin closes (launcher gone).
STOP_ON_EOF = "MIMICFORGE_STOP_ON_EOF"


def require_docker() -> Any:
    """The ``docker`` module, or BackendUnavailable with the one-line install hint."""
    return require("docker", INSTALL_HINT)


def docker_host(env: dict[str, str] | None = None) -> str:
    env = os.environ if env is None else env  # type: ignore[assignment]
    return env.get("DOCKER_HOST") or DEFAULT_SOCKET


def engine_fix(host: str) -> str:
    if host.startswith("unix://"):
        return (f"start the Docker engine (sudo systemctl start docker) or point DOCKER_HOST at its socket; "
                f"nothing answers at {host}")
    return f"check that the Docker engine at DOCKER_HOST={host} is running and reachable"


def connect(timeout: float = 60) -> Any:
    """A ``docker.DockerClient`` from the environment (DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH)."""
    docker = require_docker()
    host = docker_host()
    try:
        client = docker.from_env(timeout=int(timeout))
        client.ping()
    except docker.errors.DockerException as exc:
        reason = " ".join(str(exc).split())
        raise BackendUnavailable(f"no Docker engine: {reason:.200}; {engine_fix(host)}") from None
    return client


def _labels(spec: ServiceSpec, oneoff: bool) -> dict[str, str]:
    return {"com.docker.compose.project": spec.project, "com.docker.compose.service": spec.service,
            "com.docker.compose.oneoff": "True" if oneoff else "False", LAUNCHER_LABEL: "sdk"}


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), "" where /proc has none, None if no such pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]  # field 22; the command name before ")" may hold spaces


def launcher_process(pid: int | None = None) -> str:
    """This process (or ``pid``) as the value of LAUNCHER_PROCESS_LABEL."""
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}/{_boot_id()}/{pid}/{_start_time(pid) or ''}"


def launcher_alive(value: str) -> bool | None:
    """Whether the launcher named by a LAUNCHER_PROCESS_LABEL value still runs; None when it ran on another host."""
    host, _, rest = value.partition("/")
    boot, _, rest = rest.partition("/")
    pid, _, start = rest.partition("/")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    if boot != _boot_id():
        return False  # this host has rebooted since
    now = _start_time(int(pid))
    if now is None:
        return False
    return not start or not now or now == start  # the same pid, started again, is another process


def reap_orphans(client: Any) -> list[str]:
    """Stop (SIGTERM, SIGKILL after the container's own grace period) and remove the containers a launcher on this
    host started and did not live to remove; returns their names."""
    docker = require_docker()
    gone = []
    for c in client.api.containers(all=True, filters={"label": LAUNCHER_PROCESS_LABEL}):
        if launcher_alive(str((c.get("Labels") or {}).get(LAUNCHER_PROCESS_LABEL, ""))) is not False:
            continue
        name = (c.get("Names") or [c["Id"][:12]])[0].lstrip("/")
        try:
            if c.get("State") == "running":
                grace = int((client.api.inspect_container(c["Id"])["Config"] or {}).get("StopTimeout") or 10)
                client.api.stop(c["Id"], timeout=grace)
            client.api.remove_container(c["Id"], force=True)
        except docker.errors.NotFound:
            pass  # removed in between
        gone.append(name)
    return gone


def ensure_network(client: Any, spec: ServiceSpec) -> str:
    """The project's default network (``<project>_default``), created as Compose creates it."""
    docker = require_docker()
    name = f"{spec.project}_default"
    try:
        client.networks.get(name)
    except docker.errors.NotFound:
        try:
            client.networks.create(name, driver="bridge", check_duplicate=True,
                                   labels={"com.docker.compose.project": spec.project,
                                           "com.docker.compose.network": "default"})
        except docker.errors.APIError:  # another launcher made it in between
            client.networks.get(name)
    return name


def ensure_mount_sources(client: Any, spec: ServiceSpec) -> None:
    """Bind sources are created as the user running the launcher (Compose: ``create_host_path``), named
    volumes with Compose's labels."""
    docker = require_docker()
    for m in spec.mounts:
        if m.type == "bind":
            os.makedirs(m.source, exist_ok=True)
            continue
        try:
            client.volumes.get(m.source)
        except docker.errors.NotFound:
            short = m.source.removeprefix(f"{spec.project}_")
            client.volumes.create(m.source, labels={"com.docker.compose.project": spec.project,
                                                    "com.docker.compose.volume": short})


def create_kwargs(spec: ServiceSpec, *, command: list[str], publish: bool, network: str, name: str,
                  oneoff: bool, launcher: str | None = None) -> dict[str, Any]:
    """Arguments of the low-level ``APIClient.create_container`` (``host_config`` as a plain dict of
    ``create_host_config`` arguments): the whole translation in one place, so tests can compare it. With
    ``launcher`` (its LAUNCHER_PROCESS_LABEL value) the container is tied to that process: labelled, and its
    stdin kept open for the launcher to attach to (STOP_ON_EOF)."""
    docker = require_docker()
    host = {
        "mounts": [docker.types.Mount(m.target, m.source, type=m.type, read_only=m.read_only) for m in spec.mounts],
        "port_bindings": {f"{p.target}/{p.protocol}": (p.host_ip, p.published) for p in spec.ports} if publish else {},
        "device_requests": [docker.types.DeviceRequest(driver=d.driver, count=d.count,
                                                       capabilities=[list(d.capabilities)]) for d in spec.devices],
        "init": spec.init,
        "restart_policy": {"Name": spec.restart},
        "privileged": spec.privileged,
        "security_opt": list(spec.security_opt) or None,
        "cap_add": list(spec.cap_add) or None,
        "cap_drop": list(spec.cap_drop) or None,
        "network_mode": network,
    }
    return {
        "image": spec.image,
        "command": command,
        "environment": {**spec.environment, **({STOP_ON_EOF: "1"} if launcher else {})},
        "user": spec.user or "",
        "ports": [(p.target, p.protocol) for p in spec.ports] if publish else None,
        "labels": {**_labels(spec, oneoff), **({LAUNCHER_PROCESS_LABEL: launcher} if launcher else {})},
        "name": name,
        "stop_timeout": int(spec.stop_grace_period),
        # tied: stdin open, and (the SDK's spelling of StdinOnce) not detached: it closes when the launcher goes
        "detach": not launcher,
        "stdin_open": bool(launcher),
        "host_config": host,
    }


def create(client: Any, spec: ServiceSpec, *, command: list[str], publish: bool, name: str, oneoff: bool) -> str:
    """Create (not start) the service's container, tied to this process (see ``create_kwargs``); returns its id."""
    docker = require_docker()
    try:
        ensure_mount_sources(client, spec)
        network = ensure_network(client, spec)
        kw = create_kwargs(spec, command=command, publish=publish, network=network, name=name, oneoff=oneoff,
                           launcher=launcher_process())
        kw["host_config"] = client.api.create_host_config(**kw["host_config"])
        return str(client.api.create_container(**kw)["Id"])
    except docker.errors.APIError as exc:
        detail = " ".join(str(exc.explanation or exc).split())
        raise BackendUnavailable(f"the engine could not create the {spec.service} container: {detail:.300}") from None


def image_present(client: Any, image: str) -> Any | None:
    docker = require_docker()
    try:
        return client.images.get(image)
    except docker.errors.ImageNotFound:
        return None
