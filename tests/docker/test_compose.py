"""``docker compose config`` (the real Compose v2) on docker-compose.yml, with its defaults and overrides."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from mimicforge.config import SETTINGS, RunConfig, load_config
from tests.docker.tools import REPO, compose_binary

SERVICES = ("isaac-lab", "mimicforge")


def compose_config(env: dict[str, str] | None = None, project_dir: Path | None = None) -> dict:
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "TMPDIR")}
    cmd = [compose_binary(), "-f", str(REPO / "docker-compose.yml")]
    if project_dir is not None:
        cmd += ["--project-directory", str(project_dir)]
    r = subprocess.run([*cmd, "config", "--format", "json"], capture_output=True, text=True,
                       env={**base, **(env or {})}, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.fixture(scope="module")
def defaults() -> dict:
    return compose_config()


def test_services_are_safe_by_default(defaults):
    assert set(defaults["services"]) == set(SERVICES)
    for name in SERVICES:
        s = defaults["services"][name]
        assert s["restart"] == "no"
        assert not s.get("privileged", False)
        assert s.get("network_mode") in (None, "bridge")  # never the host network
        assert [(p["host_ip"], p["target"], p["published"]) for p in s["ports"]] == [("127.0.0.1", 8888, "8888")]
        assert s["environment"]["MODE"] == "jupyter"
        assert s["init"] is True
        mounts = {v["target"]: v for v in s["volumes"]}
        for sub in ("datasets", "output"):
            m = mounts[f"/workspace/mimicforge/{sub}"]
            assert m["type"] == "bind" and m["source"] == str(REPO / sub)


def test_isaac_lab_service(defaults):
    s = defaults["services"]["isaac-lab"]
    assert s["environment"]["ACCEPT_EULA"] == "Y"
    devices = s["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and devices[0]["capabilities"] == ["gpu"]
    assert s["build"]["dockerfile"] == "docker/Dockerfile.isaaclab"
    assert s["build"]["args"] == {"ISAACLAB_IMAGE": "nvcr.io/nvidia/isaac-lab", "ISAACLAB_VERSION": "2.3.2",
                                  "ISAACLAB_USER": "root", "MIMICFORGE_EXTRAS": "isaaclab"}
    assert devices[0]["count"] == 1 and s["environment"]["DEVICES"] == ""  # one GPU; the workers' default devices
    named = {v["source"]: v["target"] for v in s["volumes"] if v["type"] == "volume"}
    assert named["isaac-cache-kit"] == "/isaac-sim/kit/cache" and named["isaac-kit-data"] == "/isaac-sim/kit/data"
    assert named["isaac-cache-ov"] == "/root/.cache/ov"
    assert set(named) <= set(defaults["volumes"])
    assert defaults["volumes"]["isaac-cache-kit"]["name"] == "mimicforge-isaac-cache-kit-2.3.2"


@pytest.mark.parametrize(("gpus", "count"), [("2", 2), ("all", -1)])
def test_gpus_gives_the_isaac_lab_container_more_gpus_for_its_workers(gpus, count):
    cfg = compose_config({"GPUS": gpus, "WORKERS": "2", "DEVICES": "cuda:0,cuda:1"})
    s = cfg["services"]["isaac-lab"]
    assert s["deploy"]["resources"]["reservations"]["devices"][0]["count"] == count
    assert (s["environment"]["WORKERS"], s["environment"]["DEVICES"]) == ("2", "cuda:0,cuda:1")


def test_isaac_lab_3_service_runs_as_its_user_with_caches_in_its_home():
    cfg = compose_config({"ISAACLAB_VERSION": "3.0.0", "ISAACLAB_USER": "isaaclab", "ISAACLAB_HOME": "/home/isaaclab"})
    s = cfg["services"]["isaac-lab"]
    assert s["build"]["args"]["ISAACLAB_VERSION"] == "3.0.0" and s["build"]["args"]["ISAACLAB_USER"] == "isaaclab"
    targets = [v["target"] for v in s["volumes"] if v["type"] == "volume"]
    assert not any(t.startswith("/root") for t in targets)
    assert "/home/isaaclab/.cache/ov" in targets and "/isaac-sim/kit/data" in targets
    assert cfg["volumes"]["isaac-cache-ov"]["name"] == "mimicforge-isaac-cache-ov-3.0.0"  # not shared with 2.x


def test_cpu_service(defaults):
    s = defaults["services"]["mimicforge"]
    assert s["build"]["dockerfile"] == "docker/Dockerfile.cpu"
    assert s["user"] == "1000:1000"
    assert "deploy" not in s and s["environment"]["MUJOCO_GL"] == "egl"


def test_every_setting_is_passed_with_mimicforges_default(defaults):
    """Each variable of mimicforge.config reaches both services, and the compose default resolves to the
    same value as mimicforge's own default (empty = mimicforge's default)."""
    for name in SERVICES:
        env = defaults["services"][name]["environment"]
        passed = {s.env: env[s.env] for s in SETTINGS if s.env}
        assert set(passed) == {s.env for s in SETTINGS if s.env}
        assert load_config(env=passed) == RunConfig()


def test_overrides_reach_the_services(tmp_path):
    cfg = compose_config({"MODE": "standalone", "NUM_TRIALS": "5", "JUPYTER_PORT": "9999", "SEED": "42",
                          "ISAACLAB_VERSION": "2.2.0", "MIMICFORGE_UID": "1234", "MIMICFORGE_GID": "99",
                          "CAMERAS": "table_cam", "MODALITIES": "normals"}, project_dir=tmp_path)
    for name in SERVICES:
        s = cfg["services"][name]
        env = s["environment"]
        assert (env["MODE"], env["NUM_TRIALS"], env["SEED"], env["CAMERAS"]) == ("standalone", "5", "42", "table_cam")
        assert [(p["host_ip"], p["target"], p["published"]) for p in s["ports"]] == [("127.0.0.1", 9999, "9999")]
        assert {v["target"]: v["source"] for v in s["volumes"] if v["type"] == "bind"}[
            "/workspace/mimicforge/datasets"] == str(tmp_path / "datasets")
    assert cfg["services"]["isaac-lab"]["build"]["args"]["ISAACLAB_VERSION"] == "2.2.0"
    assert cfg["services"]["mimicforge"]["user"] == "1234:99"
