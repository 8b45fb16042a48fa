"""One exception hierarchy. Every message is a single line that names the problem and the fix.

``cli.main`` turns these into one line on stderr and an exit code; the library itself never exits.
"""

from __future__ import annotations


class MimicforgeError(Exception):
    """Base class. ``exit_code`` is what the CLI exits with when this reaches it."""

    exit_code = 2


class ConfigError(MimicforgeError):
    """A setting (flag, environment variable, TOML key) has a bad value or is missing."""


class DatasetFormatError(MimicforgeError):
    """An HDF5 file is missing, unreadable, or not in Isaac Lab Mimic's layout."""


class OutputExistsError(MimicforgeError):
    """An output file exists and neither resume nor overwrite was asked for."""


class BackendUnavailable(MimicforgeError):
    """An optional engine or extra is not installed or cannot start here."""


class WorkerCrashed(MimicforgeError):
    """A generation worker died more often than its restart budget allows."""


class GenerationStalled(MimicforgeError):
    """Generation ran but cannot reach its goal (too many consecutive failures, a dead generator task)."""

    exit_code = 1


class Interrupted(MimicforgeError):
    """A run was stopped by SIGINT / SIGTERM after finishing its current write."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.signum = signum
        self.exit_code = 128 + signum
