"""``mimicforge container`` where no engine is needed: a bad setting fails on the host before the engine is
even contacted, a wrong socket is diagnosed, and a missing Docker SDK gives the install line."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from tests.docker.tools import REPO

BOGUS = "unix:///tmp/mimicforge-no-such-engine.sock"


def test_bad_setting_fails_on_the_host_before_any_engine_call(cli, tmp_path):
    t0 = time.monotonic()
    r = cli("container", "run", "--service", "mimicforge", "--project-directory", str(tmp_path),
            "--file", str(REPO / "docker-compose.yml"), env={"DOCKER_HOST": BOGUS, "NUM_TRIALS": "ten"})
    elapsed = time.monotonic() - t0
    assert r.returncode == 2
    # the message launch.sh and 'mimicforge config --check' give inside the container
    assert r.stderr.strip() == "mimicforge: error: NUM_TRIALS='ten': expected a positive integer, e.g. NUM_TRIALS=10"
    assert "Traceback" not in r.stderr and not (tmp_path / "datasets").exists()  # nothing created either
    print(f"\nbad NUM_TRIALS rejected in {elapsed:.2f} s (whole process)")
    r = cli("container", "jupyter", "--service", "mimicforge", "--project-directory", str(tmp_path),
            "--file", str(REPO / "docker-compose.yml"), env={"DOCKER_HOST": BOGUS, "JUPYTER_TOKEN": "short"})
    assert r.returncode == 2 and "JUPYTER_TOKEN is too short (5 characters); use at least 16" in r.stderr


def test_doctor_with_a_wrong_socket(cli, tmp_path):
    r = cli("container", "doctor", "--service", "mimicforge", "--json", "--project-directory", str(tmp_path),
            "--file", str(REPO / "docker-compose.yml"), env={"DOCKER_HOST": BOGUS, "SEED": "-1"})
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr
    report = json.loads(r.stdout)
    checks = {c["name"]: c for c in report["checks"]}
    assert report["ok"] is False
    assert checks["socket"]["status"] == "fail" and "no Docker socket at /tmp/mimicforge-no-such-engine.sock" in \
        checks["socket"]["detail"]
    assert checks["engine"]["status"] == "fail"
    assert "point DOCKER_HOST at its socket" in checks["engine"]["fix"]
    assert checks["image"]["status"] == "skip" and checks["disk"]["status"] == "skip"
    assert checks["settings"]["status"] == "fail" and checks["settings"]["detail"].startswith("SEED='-1': expected")
    text = subprocess.run([sys.executable, "-m", "mimicforge", "container", "doctor", "--service", "mimicforge",
                           "--project-directory", str(tmp_path), "--file", str(REPO / "docker-compose.yml")],
                          capture_output=True, text=True, env={"DOCKER_HOST": BOGUS, "PATH": "/usr/bin:/bin",
                                                               "PYTHONPATH": ":".join(sys.path)})
    assert text.returncode == 1 and "FAIL  engine" in text.stdout and "fix: start the Docker engine" in text.stdout


def test_missing_docker_sdk_gives_the_install_line(tmp_path):
    code = ("import sys; sys.modules['docker'] = None\n"
            "from mimicforge.cli import main\n"
            f"sys.exit(main(['container', 'doctor', '--project-directory', {str(tmp_path)!r}]))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.strip() == ("mimicforge: error: the Docker SDK is not installed; "
                                "pip install 'mimicforge[docker]'")


def test_doctor_with_a_socket_nobody_answers(cli, tmp_path):
    """A stopped engine whose socket file is still there: the socket is fine, the engine is not."""
    import socket

    path = tmp_path / "docker.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.bind(str(path))  # bound, never listening: connections are refused
        r = cli("container", "doctor", "--service", "mimicforge", "--json", "--project-directory", str(tmp_path),
                "--file", str(REPO / "docker-compose.yml"), env={"DOCKER_HOST": f"unix://{path}"})
    assert r.returncode == 1 and "Traceback" not in r.stderr
    checks = {c["name"]: c for c in json.loads(r.stdout)["checks"]}
    assert checks["socket"]["status"] == "pass"
    assert checks["engine"]["status"] == "fail" and "no Docker engine" in checks["engine"]["detail"]
    assert checks["engine"]["fix"] == (f"start the Docker engine (sudo systemctl start docker) or point DOCKER_HOST "
                                       f"at its socket; nothing answers at unix://{path}")
