"""shellcheck on the shell scripts and hadolint on the Dockerfiles, with the real linters (from PyPI)."""

from __future__ import annotations

import subprocess

import pytest

from tests.docker.tools import REPO, tool

SCRIPTS = ["launch.sh", ".ci/docker.sh"]
DOCKERFILES = ["docker/Dockerfile.isaaclab", "docker/Dockerfile.cpu"]


@pytest.mark.parametrize("script", SCRIPTS)
def test_shellcheck_clean(script):
    r = subprocess.run([tool("shellcheck"), "--severity=style", "--external-sources", script], cwd=REPO,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_hadolint_clean(dockerfile):
    r = subprocess.run([tool("hadolint"), "--failure-threshold", "info", dockerfile], cwd=REPO,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def test_linters_are_real_and_find_problems(tmp_path):
    """The linters used above do report problems (so a clean result means something)."""
    bad_sh = tmp_path / "bad.sh"
    bad_sh.write_text("#!/bin/bash\nrm -rf $DIR/*\n")
    assert subprocess.run([tool("shellcheck"), str(bad_sh)], capture_output=True).returncode != 0
    bad_df = tmp_path / "Dockerfile"
    bad_df.write_text("FROM debian:latest\nRUN apt-get install curl\n")
    r = subprocess.run([tool("hadolint"), str(bad_df)], capture_output=True, text=True)
    assert r.returncode != 0 and "DL3007" in r.stdout
