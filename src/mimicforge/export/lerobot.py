"""``mimicforge export lerobot``: a Mimic HDF5 dataset as a LeRobot v3.0 dataset, through LeRobot's own API.

``LeRobotDataset.create`` / ``add_frame`` / ``save_episode`` / ``finalize`` write the dataset, so its layout is
upstream's (``meta/info.json``, ``meta/stats.json``, ``meta/tasks.parquet``, ``meta/episodes/``, ``data/``,
``videos/``). Demos stream one at a time (memory independent of the dataset's size). Everything is written into
``DIR.partial`` and renamed to ``DIR`` only after ``finalize``: a killed export leaves no ``DIR``, never a half
dataset that loads, and the next export of the same ``DIR`` says it found the unfinished one and starts over.
One export writes a ``DIR`` at a time (a lock beside it). ``meta/mimicforge.json`` records where each episode
came from (source file, demo names, quaternion order, fps source).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py

from mimicforge.errors import ConfigError, OutputExistsError
from mimicforge.export.mapping import Plan, check_repo_id, iter_images, read_episode
from mimicforge.extras import require

log = logging.getLogger(__name__)

INSTALL_HINT = ("mimicforge export lerobot needs lerobot 0.4.4 (Python 3.10/3.11); install it with: "
                "pip install 'mimicforge[lerobot]' (in this repository: bash scripts/setup-train.sh)")
VIDEO_CODECS = ("libsvtav1", "h264", "hevc")
PROVENANCE = "meta/mimicforge.json"


@dataclass(frozen=True)
class Episode:
    """Progress report: one episode written."""

    index: int  # 0-based episode index in the LeRobot dataset
    demo: str
    frames: int
    seconds: float


@dataclass(frozen=True)
class ExportResult:
    out: Path
    repo_id: str
    episodes: int
    frames: int
    seconds: float
    restarted: bool  # an unfinished export of the same DIR was found and started over

    def to_json(self) -> dict[str, Any]:
        return {"output": str(self.out), "repo_id": self.repo_id, "episodes": self.episodes, "frames": self.frames,
                "seconds": round(self.seconds, 3), "restarted": self.restarted}


def lerobot_dataset_class() -> Any:
    """``lerobot.datasets.lerobot_dataset.LeRobotDataset``, or ``BackendUnavailable`` with the install line."""
    return require("lerobot.datasets.lerobot_dataset", INSTALL_HINT).LeRobotDataset


def check_output(out: str | os.PathLike[str], overwrite: bool) -> Path:
    out = Path(out)
    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out} already exists; pass --overwrite to replace it, or choose another --out")
    return out


def partial_dir(out: Path) -> Path:
    return out.with_name(out.name + ".partial")


@contextlib.contextmanager
def _exclusive(out: Path) -> Iterator[None]:
    lock = out.with_name(f".{out.name}.lock")
    with open(lock, "a+b") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputExistsError(f"another export is writing {out} (it holds {lock}); wait for it to finish or "
                                    "choose another --out") from None
        try:
            yield
        finally:
            lock.unlink(missing_ok=True)


def export_lerobot(plan: Plan, out: str | os.PathLike[str], *, repo_id: str, overwrite: bool = False,
                   vcodec: str = "libsvtav1", on_episode: Callable[[Episode], None] | None = None) -> ExportResult:
    """Write ``plan``'s demos to the LeRobot v3.0 dataset ``out`` (see the module docstring)."""
    check_repo_id(repo_id)
    if vcodec not in VIDEO_CODECS:
        raise ConfigError(f"--vcodec {vcodec!r}: expected one of {', '.join(VIDEO_CODECS)}")
    out = check_output(out, overwrite)
    dataset_cls = lerobot_dataset_class()
    out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with _exclusive(out):
        partial = partial_dir(out)
        restarted = partial.exists()
        if restarted:
            log.warning("%s is left from an export that did not finish (nothing was published at %s); starting over",
                        partial, out)
            shutil.rmtree(partial)
        try:
            frames = _write(dataset_cls, plan, partial, repo_id, vcodec, on_episode)
            (partial / PROVENANCE).write_text(json.dumps(plan.provenance(), indent=1) + "\n", encoding="utf-8")
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        if out.exists():  # --overwrite: the finished export replaces the old one
            old = out.with_name(f".{out.name}.replaced")
            shutil.rmtree(old, ignore_errors=True)
            out.rename(old)
            partial.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            partial.rename(out)
    return ExportResult(out, repo_id, len(plan.demos), frames, time.perf_counter() - t0, restarted)


@contextlib.contextmanager
def _episodes_without_image_columns(plan: Plan) -> Iterator[None]:
    """LeRobot 0.4.4 passes every episode through ``embed_images`` (a row-by-row ``datasets.map``) before writing
    its parquet. It only changes columns of dtype ``image``, which this export never writes (cameras go to
    ``video``), yet it takes about 80 % of a state-only export; while we write, it is skipped for datasets
    without such columns (the parquet is the same: the loader tests compare every value)."""
    import lerobot.datasets.lerobot_dataset as module

    original = getattr(module, "embed_images", None)
    if original is None or any(f.dtype == "image" for f in plan.features.values()):
        yield
        return
    module.embed_images = lambda dataset: dataset
    try:
        yield
    finally:
        module.embed_images = original


def _write(dataset_cls: Any, plan: Plan, root: Path, repo_id: str, vcodec: str,
           on_episode: Callable[[Episode], None] | None) -> int:
    with _episodes_without_image_columns(plan):
        return _write_episodes(dataset_cls, plan, root, repo_id, vcodec, on_episode)


def _write_episodes(dataset_cls: Any, plan: Plan, root: Path, repo_id: str, vcodec: str,
                    on_episode: Callable[[Episode], None] | None) -> int:
    ds = dataset_cls.create(repo_id=repo_id, fps=plan.fps, features=plan.lerobot_features(), root=root,
                            robot_type=plan.robot_type, use_videos=bool(plan.cameras), vcodec=vcodec)
    frames = 0
    try:
        with h5py.File(plan.source, "r", locking=False) as f:
            for index, (name, length) in enumerate(zip(plan.demos, plan.lengths, strict=True)):
                started = time.perf_counter()
                low_dim = read_episode(f, plan, name)
                images = {cam: iter_images(f, plan, name, cam, length) for cam in plan.cameras}
                for t in range(length):
                    frame: dict[str, Any] = {key: values[t] for key, values in low_dim.items()}
                    for cam, stream in images.items():
                        frame[f"observation.images.{cam}"] = next(stream)
                    frame["task"] = plan.task
                    ds.add_frame(frame)
                ds.save_episode()
                frames += length
                if on_episode is not None:
                    on_episode(Episode(index, name, length, time.perf_counter() - started))
    finally:
        ds.finalize()
    return frames
