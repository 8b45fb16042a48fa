"""Isaac Lab writes into a staging folder; finished attempts are appended to OUT one demo at a time.

Why not let Isaac Lab write OUT directly: its recorder opens the output files with mode ``"w"`` when the
env is created, truncating whatever was there, before a single attempt has run, so a resumed run or a
typo in ``OUTPUT_FILE`` would destroy a finished dataset, and a crash mid-run leaves a file that only
its own process had flushed. Instead the recorder writes ``attempts.hdf5`` / ``attempts_failed.hdf5`` in
``.<name>.isaaclab/`` beside OUT (same file system, hidden, ours alone), and the ``Collector`` copies each
newly exported demo into OUT with mimicforge's crash-safe ``DatasetWriter`` (create / append / overwrite
exactly as ``ON_EXISTING`` says), writes its metrics line, and sorts its camera frames. OUT therefore
obeys the same contract as on the embedded engine: it is valid at every instant and never truncated
unless asked.

The staging files are read while Isaac Lab still holds them open for writing. That is safe because it
happens in the same process and thread (HDF5 shares the open file, read-only) and between the
recorder's exports, each of which ends with a flush.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from mimicforge.backends.isaaclab.images import FrameSorter
from mimicforge.datasets import layout, quaternions
from mimicforge.datasets.reader import read_tree
from mimicforge.datasets.writer import Mode
from mimicforge.outputs import MetricsRecord, OutputPaths, RunOutputs

log = logging.getLogger(__name__)

STAGING_NAME = "attempts"  # Isaac's recorder writes attempts.hdf5 and attempts_failed.hdf5


@dataclass(frozen=True)
class Staging:
    root: Path

    @classmethod
    def beside(cls, paths: OutputPaths) -> Staging:
        return cls(paths.dataset.with_name(f".{paths.dataset.stem}.isaaclab"))

    @property
    def successes(self) -> Path:
        return self.root / f"{STAGING_NAME}.hdf5"

    @property
    def failures(self) -> Path:
        return self.root / f"{STAGING_NAME}_failed.hdf5"

    @property
    def images(self) -> Path:
        return self.root / "images"

    def reset(self) -> None:
        """Start empty. A leftover from a killed run holds at most its last unsaved attempt."""
        if self.root.exists():
            log.warning("removing %s left by an earlier run that did not finish", self.root)
            shutil.rmtree(self.root)
        self.images.mkdir(parents=True)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def open_staged(path: Path) -> Iterator[h5py.File | None]:
    """The staging file read-only, or None while it cannot be opened yet.

    The recorder holds it open for writing in this process; HDF5 then insists that a second open uses
    the same file-locking setting, which depends on how h5py was configured, so both are tried.
    """
    f = None
    if path.exists():
        for locking in (None, False):
            try:
                f = h5py.File(path, "r") if locking is None else h5py.File(path, "r", locking=locking)
                break
            except OSError:
                continue
    try:
        yield f
    finally:
        if f is not None:
            f.close()


def demo_names(f: h5py.File) -> list[str]:
    data = f.get(layout.DATA)
    if not isinstance(data, h5py.Group):
        return []
    found = [(layout.demo_index(k), k) for k in data.keys()]
    return [k for i, k in sorted((i, k) for i, k in found if i is not None)]


def staged_format(staging: Staging) -> int:
    """The dataset format Isaac Lab's recorder writes (3.0: ``format_version = 1``, set when the file is created);
    OUT keeps it."""
    for path in (staging.successes, staging.failures):
        with open_staged(path) as f:
            if f is not None:
                return quaternions.read_format_version(f.attrs, path)
    return quaternions.LEGACY_WXYZ


class Collector:
    """Copy newly exported attempts from staging into OUT (see module docstring)."""

    def __init__(self, staging: Staging, paths: OutputPaths, *, env_name: str, mode: Mode, keep_failed: bool,
                 config_text: str, next_attempt: int, num_subtasks: int, frames: FrameSorter | None = None,
                 on_attempt: Callable[[MetricsRecord], None] | None = None,
                 clock: Callable[[], float] = time.monotonic, worker: int = 0,
                 seed: dict[str, object] | None = None, compression: bool = True) -> None:
        self.staging = staging
        self.paths = paths
        self.num_subtasks = num_subtasks
        self.frames = frames
        self.on_attempt = on_attempt
        self.clock = clock
        self.next_attempt = next_attempt
        self.worker = worker
        self.seed = dict(seed or {})  # how the process was seeded, kept in every record (and so in every demo)
        self.new_successes = self.new_attempts = 0
        self._seen = {True: 0, False: 0}  # staged demos already collected, per file
        self._env_args: dict[str, object] = {}
        self._last_time = clock()
        self.format_version = staged_format(staging)
        self.outputs = RunOutputs(paths, env_name=env_name, mode=mode, keep_failed=keep_failed,
                                  config_text=config_text, images=frames.folders if frames is not None else None,
                                  format_version=self.format_version, compression=compression)
        self.writer, self.failed_writer, self.metrics = (self.outputs.writer, self.outputs.failed_writer,
                                                         self.outputs.metrics)

    @property
    def successes(self) -> int:
        """Demos in OUT, resumed ones included."""
        return self.writer.num_demos

    def collect(self) -> list[MetricsRecord]:
        """Move every attempt exported since the last call into OUT; returns their metrics records.

        Within one call, failures are taken before successes: with one env, calls come after every
        attempt, so there is at most one new attempt per call and the order is the true one.
        """
        records = []
        for success, path in ((False, self.staging.failures), (True, self.staging.successes)):
            with open_staged(path) as f:
                if f is None:
                    continue
                self._sync_env_args(f)
                names = demo_names(f)
                for name in names[self._seen[success]:]:
                    records.append(self._take(f[layout.DATA][name], success))
                    self._seen[success] += 1
        return records

    def _sync_env_args(self, f: h5py.File) -> None:
        raw = f[layout.DATA].attrs.get(layout.ATTR_ENV_ARGS) if layout.DATA in f else None
        if raw is None:
            return
        try:
            args = json.loads(raw.decode() if isinstance(raw, bytes) else str(raw))
        except json.JSONDecodeError:
            return
        extra = {k: v for k, v in args.items() if k not in ("env_name", "type")} if isinstance(args, dict) else {}
        if extra and extra != self._env_args:
            self._env_args = extra
            self.writer.update_env_args(extra)
            if self.failed_writer is not None:
                self.failed_writer.update_env_args(extra)

    def _take(self, group: h5py.Group, success: bool) -> MetricsRecord:
        episode = read_tree(group)
        if self.format_version == quaternions.XYZW:  # the writer takes mimicforge's WXYZ and stores XYZW again
            episode = quaternions.convert_episode(episode, to_xyzw=False)
        steps = int(group.attrs.get(layout.ATTR_NUM_SAMPLES, np.asarray(episode[layout.ACTIONS]).shape[0]))
        index = self.next_attempt
        now = self.clock()
        record = MetricsRecord(
            attempt=index, success=success, steps=steps, seconds=now - self._last_time,
            source_demos=[None] * self.num_subtasks, failed_subtask=None, engine="isaaclab", worker=self.worker,
            extra=dict(self.seed),
        )
        frames, trial = self.frames, self._seen[True]
        stage = None if frames is None else (lambda k: frames.stage_success(trial, steps, k))
        self.outputs.commit_attempt(episode, record, stage_images=stage)
        self.new_successes += int(success)
        self._last_time = now
        self.next_attempt = index + 1
        self.new_attempts += 1
        if self.on_attempt is not None:
            self.on_attempt(record)
        return record

    def close(self) -> None:
        self.outputs.close()
