"""The on-disk contract both engines share: names beside OUT, the image folder layout, the metrics record.

For OUT = ``x/name.hdf5``:

- ``x/name.hdf5``            successful demos (Isaac Lab layout)
- ``x/name_failed.hdf5``     failed attempts, with ``--keep-failed``
- ``x/name.config.toml``     the resolved settings of the run
- ``x/name.metrics.jsonl``   one JSON object per attempt (``MetricsRecord``)

Images: ``<output_dir>/name/<camera>_<modality>/demo_<k>/step_<t>.png`` for successful demos, ``k`` being the
demo's number in ``name.hdf5`` and ``t`` the zero-padded step (``step_0000.png``). The folder ``<output_dir>/name``
(``dataset_images``) belongs to the dataset: runs with different outputs never touch each other's frames.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

from mimicforge.datasets import layout  # constants only
from mimicforge.errors import ConfigError, DatasetFormatError, OutputExistsError
from mimicforge.goal import Summary  # noqa: F401 (re-exported)

if TYPE_CHECKING:
    from mimicforge.config import RunConfig


@dataclass(frozen=True)
class OutputPaths:
    dataset: Path
    failed: Path
    config: Path
    metrics: Path

    @classmethod
    def beside(cls, out: str | os.PathLike[str]) -> OutputPaths:
        p = Path(out)
        if p.suffix not in (".hdf5", ".h5"):
            raise ConfigError(f"output file {str(out)!r} must end in .hdf5 (e.g. datasets/generated.hdf5)")
        stem = p.with_suffix("")
        return cls(
            dataset=p,
            failed=stem.with_name(stem.name + "_failed" + p.suffix),
            config=stem.with_name(stem.name + ".config.toml"),
            metrics=stem.with_name(stem.name + ".metrics.jsonl"),
        )

    def all(self) -> tuple[Path, ...]:
        return (self.dataset, self.failed, self.config, self.metrics)


STEP_DIGITS = 4


def dataset_images(output_dir: str | os.PathLike[str], dataset: str | os.PathLike[str]) -> Path:
    """The image folder of the dataset ``x/name.hdf5``: ``<output_dir>/name``."""
    return Path(output_dir) / Path(dataset).stem


def image_dir(output_dir: str | os.PathLike[str], camera: str, modality: str, demo_index: int) -> Path:
    return Path(output_dir) / f"{camera}_{modality}" / f"demo_{demo_index}"


def image_path(output_dir: str | os.PathLike[str], camera: str, modality: str, demo_index: int, step: int) -> Path:
    return image_dir(output_dir, camera, modality, demo_index) / f"step_{step:0{STEP_DIGITS}d}.png"


_old_layout_hinted: set[Path] = set()


def demo_frames_dir(output_dir: str | os.PathLike[str], dataset: str | os.PathLike[str], camera: str,
                    modality: str, demo_index: int) -> Path:
    """The folder of demo ``k``'s frames of ``dataset``: under its own image folder; else, for runs made before
    image folders were namespaced, the old shared ``<output_dir>/<camera>_<modality>/demo_<k>``, with one log line
    on how to move it. Readers check the folder's frame count against the demo (``check_frame_count``)."""
    own = image_dir(dataset_images(output_dir, dataset), camera, modality, demo_index)
    old = image_dir(output_dir, camera, modality, demo_index)
    if own.is_dir() or not old.is_dir():
        return own
    if old.parent not in _old_layout_hinted:
        _old_layout_hinted.add(old.parent)
        logging.getLogger(__name__).warning(
            "%s is in the old image layout shared by every run; if it holds %s's frames, move it: mkdir -p %s && "
            "mv %s %s/", old.parent, Path(dataset).name, dataset_images(output_dir, dataset), old.parent,
            dataset_images(output_dir, dataset))
    return old


def check_frame_count(folder: Path, frames: int, dataset: str | os.PathLike[str], demo_index: int) -> None:
    """Refuse frames that cannot be the demo's: a demo of T steps has T frames (Isaac Lab) or T + 1 (the twin's,
    the last after the final action); any other count is another run's folder."""
    with h5py.File(dataset, "r", locking=False) as f:
        group = f.get(f"{layout.DATA}/{layout.demo_name(demo_index)}")
        steps = int(group.attrs.get(layout.ATTR_NUM_SAMPLES, 0)) if group is not None else None
    if steps is not None and frames not in (steps, steps + 1):
        raise DatasetFormatError(
            f"{folder} holds {frames} frames but {layout.demo_name(demo_index)} of {dataset} has {steps} steps: "
            "these are another run's frames; point --output-dir (OUTPUT_DIR) at this dataset's run, or regenerate")


_PARTIAL = re.compile(r"^\.demo_(\d+)\.partial$")
_FINAL = re.compile(r"^demo_(\d+)$")


class ImageFolders:
    """The image-folder protocol both engines follow, so a crash never leaves a half-written demo folder.
    ``output_dir`` is a dataset's own image folder (``dataset_images``), or a worker shard's.

    Frames of demo ``k`` are written into ``<camera>_<modality>/.demo_<k>.partial`` and renamed to
    ``demo_<k>`` only after the demo is committed to the HDF5 file. A run killed between the commit and
    the rename leaves a complete partial folder for a committed demo, which ``prepare`` renames on
    resume; partial folders of demos never committed are deleted.
    """

    def __init__(self, output_dir: str | os.PathLike[str], streams: list[tuple[str, str]]) -> None:
        self.output_dir = Path(output_dir)
        self.streams = list(streams)  # (camera, modality)

    def stream_dir(self, camera: str, modality: str) -> Path:
        return self.output_dir / f"{camera}_{modality}"

    def partial(self, camera: str, modality: str, demo_index: int) -> Path:
        return self.stream_dir(camera, modality) / f".demo_{demo_index}.partial"

    def prepare(self, mode: str, next_index: int) -> None:
        """Reconcile the folders with the dataset before the first attempt: ``create`` refuses folders that
        already hold demos (another run's), ``overwrite`` deletes them, ``append`` (resume) finishes renames
        cut short by a crash and drops folders of demos the dataset does not hold."""
        if mode == "create":
            self.check_unused()
        elif mode == "overwrite":  # the folder is the dataset's own: every stream of the former run goes
            shutil.rmtree(self.output_dir, ignore_errors=True)
        for cam, mod in self.streams:
            d = self.stream_dir(cam, mod)
            d.mkdir(parents=True, exist_ok=True)
            for entry in d.iterdir():
                partial, final = _PARTIAL.match(entry.name), _FINAL.match(entry.name)
                if partial:
                    k = int(partial.group(1))
                    target = d / f"demo_{k}"
                    if mode == "append" and k < next_index and not target.exists():
                        entry.rename(target)
                    else:
                        shutil.rmtree(entry)
                elif final:
                    k = int(final.group(1))
                    if mode == "overwrite" or (mode == "append" and k >= next_index):
                        shutil.rmtree(entry)

    def check_unused(self) -> None:
        """Refuse demo folders where a new dataset's frames go (a former run of this output whose dataset is gone)."""
        for cam, mod in self.streams:
            d = self.stream_dir(cam, mod)
            if d.is_dir() and any(_FINAL.match(e.name) for e in d.iterdir()):
                raise OutputExistsError(
                    f"{d} already holds demo folders of an earlier run of this output; pass --overwrite (ON_EXISTING="
                    f"overwrite) to clear them with the run, or move {self.output_dir} away"
                )

    def fresh_partials(self, demo_index: int) -> None:
        for cam, mod in self.streams:
            p = self.partial(cam, mod, demo_index)
            if p.exists():
                shutil.rmtree(p)
            p.mkdir(parents=True)

    def commit(self, demo_index: int) -> None:
        for cam, mod in self.streams:
            p = self.partial(cam, mod, demo_index)
            if p.is_dir():
                p.rename(image_dir(self.output_dir, cam, mod, demo_index))

    def discard(self, demo_index: int) -> None:
        for cam, mod in self.streams:
            shutil.rmtree(self.partial(cam, mod, demo_index), ignore_errors=True)


class RunOutputs:
    """The files one run (or one worker's shard) writes, opened crash-safely the same way by both engines:
    ``name.hdf5`` and, with ``keep_failed``, ``name_failed.hdf5`` (``DatasetWriter``), the metrics log, the
    resolved settings, and the image folders. ``commit_attempt`` is the one path by which an attempt of
    either engine reaches them."""

    def __init__(self, paths: OutputPaths, *, env_name: str, mode: str, keep_failed: bool, config_text: str,
                 env_args: dict[str, Any] | None = None, images: ImageFolders | None = None,
                 format_version: int = 0, compression: bool = True) -> None:
        from mimicforge.datasets import DatasetWriter, layout

        self.images = images
        self._resources = contextlib.ExitStack()  # closes in reverse order, also after a failed open
        attrs = {layout.ATTR_CONFIG: config_text}
        codec = "gzip" if compression else None  # DATASET_COMPRESSION
        try:
            if images is not None and mode == "create":
                images.check_unused()  # before anything is created: a refused run leaves nothing behind
            paths.dataset.parent.mkdir(parents=True, exist_ok=True)
            self.writer = DatasetWriter(paths.dataset, env_name=env_name, mode=mode, env_args=env_args,  # type: ignore[arg-type]
                                        data_attrs=attrs, format_version=format_version, compression=codec)
            self._resources.callback(self.writer.close)
            self.failed_writer = None
            if keep_failed:
                self.failed_writer = DatasetWriter(paths.failed, env_name=env_name, mode=mode,  # type: ignore[arg-type]
                                                   env_args=env_args, data_attrs=attrs, format_version=format_version,
                                                   compression=codec)
                self._resources.callback(self.failed_writer.close)
            self.metrics = MetricsLog(paths.metrics, truncate=mode == "overwrite")
            self._resources.callback(self.metrics.close)
            if mode == "append":
                self._recover_metrics(paths)
            write_text_atomic(paths.config, config_text)  # the latest settings: what a resume starts from
            if images is not None:
                images.prepare(mode, self.writer.next_index)
        except BaseException:
            self.close()
            if mode == "create":  # nothing was there before this call (output_mode): leave nothing behind
                for p in paths.all():
                    p.unlink(missing_ok=True)
            raise

    def _recover_metrics(self, paths: OutputPaths) -> None:
        """Write the metrics line of every demo that has none, from the demo's own copy of its record: a
        process killed between committing a demo and writing its line (``commit_attempt``) loses nothing."""
        logged = metrics_by_attempt(paths.metrics)
        for path in (paths.dataset, paths.failed):
            names = {key: name for key, name in demo_keys(path).items() if key not in logged}
            recovered = recorded_metrics(path, names)
            for key in sorted(recovered, key=lambda k: (k[1], k[0])):
                self.metrics.write({**recovered[key], "demo": names[key]})

    def commit_attempt(self, episode: Mapping[str, Any], record: MetricsRecord, *,
                       stage_images: Callable[[int], None] | None = None, started: float | None = None) -> str | None:
        """Persist one finished attempt: a success's frames staged (``stage_images(k)`` fills the partial
        folders of demo ``k``), the demo committed to ``name.hdf5``, its folders renamed into place; a
        failure to ``name_failed.hdf5`` when kept; then the metrics line. Fills ``record.demo`` (and
        ``record.seconds``, measured from the ``time.perf_counter()`` value ``started``); returns the name."""
        from mimicforge.datasets import layout

        attrs = {layout.ATTR_ATTEMPT: np.int64(record.attempt), layout.ATTR_WORKER: np.int64(record.worker)}
        record.add_motion(episode)
        if record.source_steps is not None:
            attrs[layout.ATTR_SOURCE_STEPS] = np.int64(record.source_steps)
        if started is not None:
            record.seconds = time.perf_counter() - started
        # The demo carries its own record: a process killed between the commit and the metrics line below
        # leaves a demo whose record the shard merge (run/shards.py) still recovers.
        attrs[layout.ATTR_METRICS] = record.to_json()
        if record.success:
            k = self.writer.next_index
            if stage_images is not None and self.images is not None:
                try:
                    stage_images(k)
                except BaseException:
                    self.images.discard(k)
                    raise
            record.demo = self.writer.write_demo(episode, True, attrs)
            if self.images is not None:
                self.images.commit(k)
        elif self.failed_writer is not None:
            record.demo = self.failed_writer.write_demo(episode, False, attrs)
        self.metrics.write(record)
        return record.demo

    def close(self) -> None:
        self._resources.close()


@dataclass
class MetricsRecord:
    """One generation attempt. Required fields first; engines may add keys in ``extra``."""

    attempt: int  # 0-based, over the whole run (resumes continue the count)
    success: bool
    steps: int  # env steps executed
    seconds: float  # wall time of the attempt
    source_demos: list[str | None]  # per subtask, the source demo it was generated from (None: unknown)
    failed_subtask: int | None  # index of the first subtask that did not complete; None on success
    demo: str | None = None  # name in the output file (name.hdf5, or name_failed.hdf5 for kept failures)
    engine: str = "mujoco"
    worker: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    # How the attempt moved (datasets/motion.py); None where the engine does not know
    source_steps: int | None = None  # total length of the source segments it was built from
    length_ratio: float | None = None  # steps / source_steps
    idle_share: float | None = None  # share of idle steps (hand and fingers still)

    def add_motion(self, episode: Mapping[str, Any]) -> None:
        """Fill the idle share from the episode's observations and the length ratio from ``source_steps``."""
        from mimicforge.datasets.motion import episode_idle_share

        if self.idle_share is None:
            self.idle_share = episode_idle_share(episode.get("obs", {}))
        if self.length_ratio is None and self.source_steps:
            self.length_ratio = self.steps / self.source_steps

    def to_json(self) -> str:
        d = asdict(self)
        extra = d.pop("extra")
        d.update(extra)
        d["seconds"] = round(float(d["seconds"]), 6) if math.isfinite(d["seconds"]) else None
        for key in ("length_ratio", "idle_share"):
            if d[key] is not None:
                d[key] = round(float(d[key]), 4)
        return json.dumps(d, separators=(",", ":"))


REQUIRED_METRICS_KEYS = ("attempt", "success", "steps", "seconds", "source_demos", "failed_subtask")


class MetricsLog:
    """Append-only ``metrics.jsonl``; each line is flushed to the OS when written."""

    def __init__(self, path: str | os.PathLike[str], *, truncate: bool = False) -> None:
        self.path = Path(path)
        self._fh = open(self.path, "w" if truncate else "a", encoding="utf-8")  # noqa: SIM115 (closed in close())
        # A run killed mid-line leaves a partial last line; start on a fresh one so ours stay parseable.
        if not truncate and self._fh.tell() > 0:
            with open(self.path, "rb") as r:
                r.seek(-1, os.SEEK_END)
                if r.read(1) != b"\n":
                    self._fh.write("\n")

    def write(self, record: MetricsRecord | dict[str, Any]) -> None:
        line = record.to_json() if isinstance(record, MetricsRecord) else json.dumps(record, separators=(",", ":"))
        self._fh.write(line + "\n")
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> MetricsLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_metrics(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Records of a metrics file, skipping lines cut short by a crash."""
    p = Path(path)
    if not p.exists():
        return
    with open(p, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(rec, dict):
                yield rec


# ------------------------------------------------------------------ runs over these files (both engines)
@dataclass(frozen=True)
class Resumed:
    successes: int  # demos already in name.hdf5
    next_attempt: dict[int, int]  # per worker, the first attempt index not yet on record

    def next_for(self, worker: int) -> int:
        return self.next_attempt.get(worker, 0)

    @property
    def attempts(self) -> int:
        """Attempts on record over every worker that ever wrote this output (whatever the worker count now)."""
        return sum(self.next_attempt.values())


def metrics_by_attempt(path: str | os.PathLike[str]) -> dict[tuple[int, int], dict[str, Any]]:
    """The records of a metrics file by (worker, attempt); a later line for the same attempt wins."""
    return {(int(r.get("worker", 0)), r["attempt"]): r for r in read_metrics(path) if isinstance(r.get("attempt"), int)}


def recorded_metrics(path: Path, names: Mapping[tuple[int, int], str]) -> dict[tuple[int, int], dict[str, Any]]:
    """The metrics records that the demos ``names`` ((worker, attempt) -> demo) of an output file carry
    (``commit_attempt`` stores each attempt's record on its demo); demos without one are left out."""
    found: dict[tuple[int, int], dict[str, Any]] = {}
    if not names or not path.exists():
        return found
    with h5py.File(path, "r", locking=False) as f:
        data = f.get(layout.DATA)
        for key, name in names.items():
            raw = data[name].attrs.get(layout.ATTR_METRICS) if data is not None and name in data else None
            if raw is not None:
                found[key] = json.loads(raw.decode() if isinstance(raw, bytes) else str(raw))
    return found


def demo_keys(path: Path) -> dict[tuple[int, int], str]:
    """(worker, attempt) -> demo name for every demo of a mimicforge output file (empty if absent)."""
    keys: dict[tuple[int, int], str] = {}
    if not path.exists():
        return keys
    with h5py.File(path, "r", locking=False) as f:
        data = f.get(layout.DATA)
        if data is None:
            return keys
        for name in data.keys():
            if layout.demo_index(name) is None:
                continue
            attrs = data[name].attrs
            if layout.ATTR_ATTEMPT in attrs:
                keys[(int(attrs.get(layout.ATTR_WORKER, 0)), int(attrs[layout.ATTR_ATTEMPT]))] = name
    return keys


def scan_existing(paths: OutputPaths) -> Resumed:
    """Where previous runs of these outputs stopped. The HDF5 files are the record of what was kept
    (each demo carries the worker and attempt that made it); metrics lines cover attempts that kept nothing."""
    last: dict[int, int] = {}

    def seen(worker: int, attempt: int) -> None:
        last[worker] = max(last.get(worker, -1), attempt)

    main = demo_keys(paths.dataset)
    for w, a in [*main, *demo_keys(paths.failed)]:
        seen(w, a)
    for rec in read_metrics(paths.metrics):
        if isinstance(rec.get("attempt"), int):
            seen(int(rec.get("worker", 0)), rec["attempt"])
    successes = 0
    if paths.dataset.exists():
        with h5py.File(paths.dataset, "r", locking=False) as f:
            data = f.get(layout.DATA)
            successes = sum(layout.demo_index(k) is not None for k in data.keys()) if data is not None else 0
    return Resumed(successes, {w: a + 1 for w, a in last.items()})


def write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def output_mode(cfg: RunConfig, paths: OutputPaths) -> str:
    """The writer mode for the run: create (nothing there), append (resume) or overwrite."""
    existing = [p for p in paths.all() if p.exists()]
    if cfg.on_existing == "overwrite":
        return "overwrite"
    if cfg.on_existing == "resume":
        return "append" if existing else "create"
    if existing:
        listed = ", ".join(str(p) for p in existing[:2])
        raise OutputExistsError(f"{listed} already exist{'s' * (len(existing) == 1)}; pass --resume to continue "
                                "that run, --overwrite to replace it, or choose another --output")
    return "create"
