"""Read a service of ``docker-compose.yml`` into a typed spec the Docker SDK launcher uses.

The compose file stays the one definition of both services: this module interpolates it the way Compose v2
does (``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``, ``$$``; the process environment over ``.env`` in the
project folder) and translates the keys the file uses. A key it does not know is an error, not silently
dropped, so the SDK launcher can never run a container that differs from ``docker compose``'s.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mimicforge.errors import ConfigError

COMPOSE_FILE = "docker-compose.yml"
SERVICES = ("isaac-lab", "mimicforge")
# Keys of a service this translator handles; anything else must be added here (and to the equivalence test).
KNOWN_KEYS = frozenset({"build", "image", "user", "environment", "deploy", "ports", "volumes", "init",
                        "stop_grace_period", "restart", "privileged", "security_opt", "cap_add", "cap_drop"})
_VAR = re.compile(r"\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")
_NAMES = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s|us)")


@dataclass(frozen=True)
class Build:
    context: Path
    dockerfile: str
    args: dict[str, str]


@dataclass(frozen=True)
class Port:
    host_ip: str
    published: int
    target: int
    protocol: str = "tcp"


@dataclass(frozen=True)
class Mount:
    type: str  # "bind" (source: absolute host path) or "volume" (source: the project-qualified volume name)
    source: str
    target: str
    read_only: bool = False


@dataclass(frozen=True)
class Device:
    driver: str
    count: int  # -1: all
    capabilities: tuple[str, ...]


@dataclass(frozen=True)
class ServiceSpec:
    """Everything the launcher needs to create the same container as ``docker compose`` would."""

    project: str
    service: str
    image: str
    build: Build | None
    environment: dict[str, str]
    user: str | None
    ports: tuple[Port, ...]
    mounts: tuple[Mount, ...]
    devices: tuple[Device, ...]
    init: bool
    stop_grace_period: float  # seconds
    restart: str
    privileged: bool = False
    security_opt: tuple[str, ...] = ()
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    project_dir: Path = field(default=Path("."))
    raw_user: str | None = None  # ``user:`` before interpolation, e.g. ${MIMICFORGE_UID:-1000}:...
    build_variables: tuple[str, ...] = ()  # variables the build args are made of, e.g. MIMICFORGE_BASE_IMAGE

    @property
    def jupyter_port(self) -> int | None:
        return self.ports[0].published if self.ports else None


def read_dotenv(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines of a Compose ``.env`` file (comments, blank lines and ``export`` allowed)."""
    out: dict[str, str] = {}
    if not path.is_file():
        return out
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.removeprefix("export ").split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[key.strip()] = value
    return out


def interpolate(text: str, env: Mapping[str, str], where: str) -> str:
    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1) or m.group(4)
        op, arg = m.group(2), m.group(3) or ""
        value = env.get(name)
        if op == ":-":
            return value if value else arg
        if op == "-":
            return arg if value is None else value
        if op in (":?", "?") and (value is None or (op == ":?" and not value)):
            raise ConfigError(f"{where}: {name} must be set ({arg or 'required by docker-compose.yml'})")
        return value or ""

    return _VAR.sub(sub, text)


def _interpolate_tree(node: Any, env: Mapping[str, str], where: str) -> Any:
    if isinstance(node, str):
        return interpolate(node, env, where)
    if isinstance(node, list):
        return [_interpolate_tree(x, env, where) for x in node]
    if isinstance(node, dict):
        return {k: _interpolate_tree(v, env, f"{where}.{k}") for k, v in node.items()}
    return node


def parse_duration(text: str | float, where: str) -> float:
    """Compose durations: ``1m30s``, ``2m``, ``90s``, or a number of seconds."""
    if isinstance(text, (int, float)):
        return float(text)
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6}
    parts = _DURATION.findall(text.strip())
    if not parts or "".join(a + b for a, b in parts) != text.strip():
        raise ConfigError(f"{where}: {text!r} is not a duration like 90s or 2m")
    return sum(float(a) * units[b] for a, b in parts)


def find_compose_file(project_dir: Path) -> Path:
    """The project's ``docker-compose.yml``, else the one of the mimicforge checkout this package runs from."""
    candidates = [project_dir / COMPOSE_FILE, Path(__file__).resolve().parents[3] / COMPOSE_FILE]
    for c in candidates:
        if c.is_file():
            return c
    raise ConfigError(f"no {COMPOSE_FILE} in {project_dir} or beside the mimicforge sources; run from a mimicforge "
                      f"checkout or pass --file PATH")


def read_compose(compose_file: Path) -> dict[str, Any]:
    """The compose file as written (not interpolated)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        doc = yaml.load(compose_file.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506 (a safe loader)
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{compose_file}: cannot read it ({' '.join(str(exc).split())})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("services"), dict):
        raise ConfigError(f"{compose_file}: not a compose file (no 'services' mapping)")
    return doc


def _ports(raw: list[Any], where: str) -> tuple[Port, ...]:
    out = []
    for p in raw:
        text = str(p)
        proto = "tcp"
        if "/" in text:
            text, proto = text.split("/", 1)
        parts = text.split(":")
        if len(parts) != 3:
            raise ConfigError(f"{where}: port {p!r} must name its host address (127.0.0.1:HOST:CONTAINER)")
        ip, published, target = parts
        try:
            out.append(Port(ip, int(published), int(target), proto))
        except ValueError:
            raise ConfigError(f"{where}: port {p!r} has a bad number; set JUPYTER_PORT to a port, e.g. 8888") from None
    return tuple(out)


def _mounts(raw: list[Any], project: str, base: Path, where: str,
            volumes: Mapping[str, Any] | None = None) -> tuple[Mount, ...]:
    """Short-syntax mounts; a named volume is ``PROJECT_NAME`` unless the top-level ``volumes:`` entry gives it
    an explicit ``name:`` (Compose's rule)."""
    out = []
    for v in raw:
        if not isinstance(v, str):
            raise ConfigError(f"{where}: only short volume syntax (SOURCE:TARGET[:ro]) is translated, not {v!r}")
        parts = v.split(":")
        source, target = parts[0], parts[1]
        ro = len(parts) > 2 and "ro" in parts[2].split(",")
        if source.startswith((".", "/", "~")):
            path = Path(os.path.expanduser(source))
            out.append(Mount("bind", str((base / path).resolve() if not path.is_absolute() else path), target, ro))
        else:
            declared = (volumes or {}).get(source) or {}
            out.append(Mount("volume", str(declared.get("name") or f"{project}_{source}"), target, ro))
    return tuple(out)


def _devices(deploy: dict[str, Any]) -> tuple[Device, ...]:
    devices = (((deploy or {}).get("resources") or {}).get("reservations") or {}).get("devices") or []
    out = []
    for d in devices:
        count = d.get("count", -1)
        out.append(Device(d.get("driver", ""), -1 if count == "all" else int(count), tuple(d.get("capabilities", ()))))
    return tuple(out)


def service_spec(service: str, *, env: Mapping[str, str] | None = None, project_dir: str | os.PathLike[str] = ".",
                 compose_file: str | os.PathLike[str] | None = None) -> ServiceSpec:
    """The container ``docker compose`` would create for ``service``, resolved with ``env`` (default: os.environ).

    Relative paths resolve against ``project_dir`` (Compose's ``--project-directory``; default: the folder
    you run from), as with ``docker compose -f FILE --project-directory DIR``.
    """
    base = Path(project_dir).resolve()
    path = Path(compose_file) if compose_file is not None else find_compose_file(base)
    raw = read_compose(path)
    full = {**read_dotenv(base / ".env"), **(os.environ if env is None else env)}
    doc = _interpolate_tree(raw, full, path.name)
    services = doc["services"]
    if service not in services:
        raise ConfigError(f"unknown service {service!r}; {path} has: {', '.join(services)}")
    s = services[service]
    where = f"{path.name}: service {service}"
    unknown = sorted(set(s) - KNOWN_KEYS)
    if unknown:
        raise ConfigError(f"{where} uses {', '.join(unknown)}, which 'mimicforge container' does not translate; "
                          f"use docker compose for this file")
    raw_service = raw["services"].get(service) or {}
    project = str(doc.get("name") or base.name)
    build = None
    if "build" in s:
        b = s["build"] if isinstance(s["build"], dict) else {"context": s["build"]}
        # The build context is the checkout holding the Dockerfiles: relative to the compose file's folder.
        build = Build((path.parent.resolve() / b.get("context", ".")).resolve(), b.get("dockerfile", "Dockerfile"),
                      {k: str(v) for k, v in (b.get("args") or {}).items()})
    env_raw = s.get("environment") or {}
    if isinstance(env_raw, list):
        env_raw = dict(item.split("=", 1) if "=" in item else (item, "") for item in env_raw)
    return ServiceSpec(
        project=project,
        service=service,
        image=str(s.get("image") or f"{project}-{service}"),
        build=build,
        environment={k: "" if v is None else str(v) for k, v in env_raw.items()},
        user=str(s["user"]) if s.get("user") else None,
        ports=_ports(s.get("ports") or [], where),
        mounts=_mounts(s.get("volumes") or [], project, base, where, doc.get("volumes")),
        devices=_devices(s.get("deploy") or {}),
        init=bool(s.get("init", False)),
        stop_grace_period=parse_duration(s.get("stop_grace_period", "10s"), where),
        restart=str(s.get("restart", "no")),
        privileged=bool(s.get("privileged", False)),
        security_opt=tuple(s.get("security_opt") or ()),
        cap_add=tuple(s.get("cap_add") or ()),
        cap_drop=tuple(s.get("cap_drop") or ()),
        project_dir=base,
        raw_user=str(raw_service.get("user") or "") or None,
        build_variables=tuple(_NAMES.findall(str((raw_service.get("build") or {}).get("args") or ""))),
    )
