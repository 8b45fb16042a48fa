"""``mimicforge container`` against the real Docker engine that ``.ci/docker.sh start`` prepares, with the CPU
image: build through the SDK, the doctor's verdicts, a real generation run, SIGTERM mid-run, JupyterLab.

Skipped with the reason where dockerd cannot run (as tests/docker/test_container.py)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import h5py
import pytest

from tests.docker.tools import REPO, engine_state, make_project

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(1800)]
IMAGE = "mimicforge-cpu:ci-sdk"
COMPOSE = str(REPO / "docker-compose.yml")


def mf(*args: str) -> list[str]:
    return [sys.executable, "-m", "mimicforge", "container", *args]


@pytest.fixture(scope="module")
def engine_env() -> dict[str, str]:
    state = engine_state()
    env = {k: v for k, v in os.environ.items() if k != "MIMICFORGE_DEBUG"}
    env |= {"DOCKER_HOST": state["docker_host"], "MIMICFORGE_CPU_IMAGE": IMAGE,
            "MIMICFORGE_BASE_IMAGE": state["base_image"], "MIMICFORGE_UID": str(os.getuid()),
            "MIMICFORGE_GID": str(os.getgid())}
    env.pop("NUM_TRIALS", None)
    return env | {"_WHEELHOUSE": state["wheelhouse"]}


def sh(cmd: list[str], env: dict[str, str], timeout: float = 900, **kw) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in env.items() if not k.startswith("_")}
    return subprocess.run(cmd, env=clean, capture_output=True, text=True, timeout=timeout, **kw)


@pytest.fixture(scope="module")
def image(engine_env: dict[str, str]) -> str:
    t0 = time.monotonic()
    r = sh(mf("build", "--service", "mimicforge", "--file", COMPOSE, "--build-arg",
              f"PIP_WHEELHOUSE={engine_env['_WHEELHOUSE']}"), engine_env, timeout=1500)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "Step 1/" in r.stdout and r.stdout.strip().endswith(f"built {IMAGE}")  # the builder's output, streamed
    print(f"\nimage {IMAGE} built through the SDK in {time.monotonic() - t0:.0f} s")
    return IMAGE


@pytest.fixture
def project(tmp_path: Path, real_dataset: Path) -> Path:
    return make_project(tmp_path, real_dataset)


def doctor(project: Path, env: dict[str, str], service: str = "mimicforge") -> tuple[int, dict[str, dict], str]:
    r = sh(mf("doctor", "--service", service, "--json", "--file", COMPOSE, "--project-directory", str(project)), env)
    assert "Traceback" not in r.stderr, r.stderr
    return r.returncode, {c["name"]: c for c in json.loads(r.stdout)["checks"]}, r.stderr


def our_containers(env: dict[str, str]) -> set[str]:
    r = sh(["docker", "ps", "-aq", "--filter", "label=org.mimicforge.launcher=sdk"], env)
    return set(r.stdout.split())


def valid(path: Path) -> int:
    v = subprocess.run([sys.executable, "-m", "mimicforge", "validate", "--json", str(path)], capture_output=True,
                       text=True)
    assert v.returncode == 0 and json.loads(v.stdout)["valid"], v.stdout + v.stderr
    with h5py.File(path, "r") as f:
        return len([k for k in f["data"] if k.startswith("demo_")])


def test_doctor_passes_for_the_cpu_service(image, engine_env, project):
    rc, checks, _ = doctor(project, engine_env)
    assert rc == 0, checks
    assert {n: c["status"] for n, c in checks.items() if c["status"] == "fail"} == {}
    for name in ("settings", "socket", "engine", "compose", "image", "disk", "./datasets", "./output", "input"):
        assert checks[name]["status"] == "pass", checks[name]
    assert checks["image"]["detail"].startswith(f"{IMAGE} present")
    assert "10 annotated demos" in checks["input"]["detail"]


def test_doctor_fails_on_unwritable_datasets_and_unannotated_input(image, engine_env, project):
    env = engine_env | {"MIMICFORGE_UID": "4242", "MIMICFORGE_GID": "4242"}
    os.chmod(project / "datasets", 0o755)
    src = project / "datasets" / "annotated_dataset.hdf5"
    with h5py.File(src, "a") as f:
        for name in list(f["data"]):
            del f["data"][name]["obs/datagen_info"]
    rc, checks, _ = doctor(project, env)
    assert rc == 1
    d = checks["./datasets"]
    assert d["status"] == "fail" and "is not writable by the container's user 4242:4242" in d["detail"]
    assert d["fix"].startswith("export MIMICFORGE_UID=$(id -u) MIMICFORGE_GID=$(id -g)")
    assert f"sudo chown -R 4242:4242 {project / 'datasets'}" in d["fix"]
    i = checks["input"]
    assert i["status"] == "fail" and "has no subtask annotations (obs/datagen_info)" in i["detail"]
    assert "annotate_demos.py" in i["fix"] and "mimicforge record" in i["fix"]
    shutil.rmtree(project / "output")
    rc, checks, _ = doctor(project, env)
    assert checks["./output"]["status"] == "fail" and checks["./output"]["fix"] == f"mkdir -p {project / 'output'}"


def test_doctor_for_isaac_lab_reports_the_missing_gpu_runtime(engine_env, project):
    info = json.loads(sh(["docker", "info", "--format", "{{json .Runtimes}}"], engine_env).stdout or "{}")
    if "nvidia" in info or shutil.which("nvidia-container-runtime-hook"):
        pytest.skip("this engine has an NVIDIA runtime")
    rc, checks, _ = doctor(project, engine_env, "isaac-lab")
    assert rc == 1
    gpu = checks["gpu runtime"]
    assert gpu["status"] == "fail" and "no NVIDIA runtime or CDI device" in gpu["detail"]
    assert "nvidia-ctk runtime configure --runtime=docker" in gpu["fix"]
    assert checks["gpu in container"]["status"] == "skip"
    assert checks["ACCEPT_EULA"]["status"] == "pass"


def test_run_generates_a_valid_dataset_on_the_host(image, engine_env, project):
    before = our_containers(engine_env)
    t0 = time.monotonic()
    r = sh(mf("run", "--service", "mimicforge", "--file", COMPOSE, "--project-directory", str(project)),
           engine_env | {"NUM_TRIALS": "2"})
    elapsed = time.monotonic() - t0
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "launch.sh: MODE=standalone ENGINE=mujoco NUM_TRIALS=2" in r.stderr  # the container's output, streamed
    out = project / "datasets" / "generated.hdf5"
    assert valid(out) == 2
    assert out.stat().st_uid == os.getuid()
    assert our_containers(engine_env) == before  # removed
    print(f"\ncontainer run (NUM_TRIALS=2) took {elapsed:.0f} s")
    # a failure inside the container is the command's status too (here: the generator's flag check, exit 2)
    r = sh(mf("run", "--service", "mimicforge", "--file", COMPOSE, "--project-directory", str(project), "--",
              "--num-trials", "zero"), engine_env)
    assert r.returncode == 2 and "--num-trials 'zero': expected a positive integer" in r.stderr, r.stderr[-2000:]
    assert our_containers(engine_env) == before


def test_sigterm_mid_run_saves_and_exits_143(image, engine_env, project):
    before = our_containers(engine_env)
    metrics = project / "datasets" / "generated.metrics.jsonl"
    proc = _start_and_wait_for_an_attempt(project, engine_env)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stdout[-2000:] + stderr[-2000:]
    assert "mimicforge: stopping the container (SIGTERM; it has 60 s to finish cleanly)" in stderr
    assert "stopped by SIGTERM after" in stderr  # the generator itself stopped (not a SIGKILL at the end of grace)
    demos = valid(project / "datasets" / "generated.hdf5")
    lines = [json.loads(x) for x in metrics.read_text().splitlines()]
    assert demos == sum(x["success"] for x in lines) >= 1  # every finished attempt is in the file, nothing torn
    assert our_containers(engine_env) == before
    print(f"\nSIGTERM: stopped {time.monotonic() - t0:.1f} s after the signal, {demos} demos, {len(lines)} attempts")


def test_sigterm_at_any_moment_leaves_no_container(image, engine_env, project):
    """Early signals: before the launcher has handlers (killed by the default action, nothing created yet) or
    between create and start (recorded, container removed, 143); never an orphaned container."""
    before = our_containers(engine_env)
    codes = []
    for delay in (0.3, 1.0, 2.0, 3.5):
        proc = subprocess.Popen(mf("run", "--service", "mimicforge", "--file", COMPOSE, "--project-directory",
                                   str(project)), env={k: v for k, v in engine_env.items() if not k.startswith("_")}
                                | {"NUM_TRIALS": "100", "ON_EXISTING": "overwrite"}, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode in (-signal.SIGTERM, 143), stderr[-2000:]
        assert "Traceback" not in stderr
        assert our_containers(engine_env) == before
        codes.append(proc.returncode)
    print(f"\nearly SIGTERM exit codes: {codes}")


def test_jupyter_prints_the_url_once_up_and_stops_on_ctrl_c(image, engine_env, project):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    before = our_containers(engine_env)
    proc = subprocess.Popen(mf("jupyter", "--service", "mimicforge", "--file", COMPOSE, "--project-directory",
                               str(project)), env={k: v for k, v in engine_env.items() if not k.startswith("_")}
                            | {"JUPYTER_PORT": str(port)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = None
        deadline = time.monotonic() + 300
        while url is None:
            line = proc.stdout.readline()
            assert line or proc.poll() is None, proc.communicate()
            if line.startswith("JupyterLab is up: "):
                url = line.split(": ", 1)[1].strip()
            assert time.monotonic() < deadline
        assert url.startswith(f"http://127.0.0.1:{port}/lab?token=")
        token = url.split("token=", 1)[1]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=10) as resp:
            assert resp.status == 200 and "started" in json.loads(resp.read())
    finally:
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0  # JupyterLab's own status on SIGINT, passed through
    assert "mimicforge: stopping the container (SIGINT; it has 60 s to finish cleanly)" in stderr
    assert "grace period over" not in stderr  # Jupyter shut down on the forwarded signal
    assert our_containers(engine_env) == before


def test_jupyter_on_a_taken_port_fails_in_one_line(image, engine_env, project):
    before = our_containers(engine_env)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = sh(mf("jupyter", "--service", "mimicforge", "--file", COMPOSE, "--project-directory", str(project)),
               engine_env | {"JUPYTER_PORT": str(port)}, timeout=300)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("mimicforge: error: the engine could not start the container: ") and \
        str(port) in r.stderr and "Traceback" not in r.stderr
    assert r.stderr.strip().endswith(f"choose a free JUPYTER_PORT, e.g. JUPYTER_PORT={port + 1}")
    assert our_containers(engine_env) == before


def _start_and_wait_for_an_attempt(project: Path, engine_env: dict[str, str]) -> subprocess.Popen[str]:
    """``container run`` with a long goal, returned once its first attempt is in the metrics file."""
    metrics = project / "datasets" / "generated.metrics.jsonl"
    proc = subprocess.Popen(mf("run", "--service", "mimicforge", "--file", COMPOSE, "--project-directory",
                               str(project)), env={k: v for k, v in engine_env.items() if not k.startswith("_")}
                            | {"NUM_TRIALS": "100"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 600
    while not (metrics.is_file() and metrics.read_text().count("\n") >= 1):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no attempt finished in 10 minutes"
        time.sleep(0.5)
    return proc


def test_sighup_mid_run_stops_like_sigterm(image, engine_env, project):
    """A closed terminal (SIGHUP) stops the container as SIGTERM does: the attempt in progress saved, removed."""
    before = our_containers(engine_env)
    proc = _start_and_wait_for_an_attempt(project, engine_env)
    proc.send_signal(signal.SIGHUP)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stdout[-2000:] + stderr[-2000:]  # the container's status: SIGTERM, handled
    assert "mimicforge: stopping the container (SIGHUP; it has 60 s to finish cleanly)" in stderr
    assert "stopped by SIGTERM after" in stderr and "grace period over" not in stderr
    demos = valid(project / "datasets" / "generated.hdf5")
    lines = (project / "datasets" / "generated.metrics.jsonl").read_text().splitlines()
    assert demos == sum(json.loads(x)["success"] for x in lines) >= 1
    assert our_containers(engine_env) == before


def test_container_of_a_killed_launcher_stops_and_is_removed_by_the_next_doctor(image, engine_env, project):
    """SIGKILL of the launcher: its container's stdin closes, launch.sh stops the run as on SIGTERM (the file stays
    valid), and the next doctor removes the container, found by the label naming its dead launcher."""
    before = our_containers(engine_env)
    proc = _start_and_wait_for_an_attempt(project, engine_env)
    (cid,) = our_containers(engine_env) - before
    label = sh(["docker", "inspect", "--format", '{{index .Config.Labels "org.mimicforge.launcher.process"}}', cid],
               engine_env).stdout.strip()
    assert label.split("/")[2] == str(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    deadline = time.monotonic() + 120
    while (state := sh(["docker", "inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", cid],
                       engine_env).stdout.split()) and state[0] == "running":
        assert time.monotonic() < deadline, "the container outlived its killed launcher by 2 minutes"
        time.sleep(0.5)
    assert state == ["exited", "143"]
    logs = sh(["docker", "logs", cid], engine_env)
    assert "the launcher is gone (stdin closed): stopping" in logs.stderr and "stopped by SIGTERM" in logs.stderr
    demos = valid(project / "datasets" / "generated.hdf5")
    assert demos >= 1
    rc, checks, _ = doctor(project, engine_env)
    assert checks["leftovers"]["status"] == "warn" and "removed 1 container(s)" in checks["leftovers"]["detail"]
    assert our_containers(engine_env) == before
    rc, checks, _ = doctor(project, engine_env)
    assert checks["leftovers"]["status"] == "pass"
