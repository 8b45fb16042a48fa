"""Installs the Kit-free Isaac Lab harness in a child process when MIMICFORGE_ISAAC_HARNESS is set (tests only)."""

import os

if os.environ.get("MIMICFORGE_ISAAC_HARNESS"):
    from tests.backends.isaaclab.harness import install

    install(os.environ["MIMICFORGE_ISAAC_HARNESS"])
