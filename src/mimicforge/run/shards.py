"""Worker shards of a sharded run (the local supervisor and Ray): their layout, their set-up and their attempts.

For OUT = ``x/name.hdf5`` worker ``w`` writes ``x/name.shards/worker_<w>.hdf5`` (with its own ``_failed``, metrics
and config files beside it) and stages frames under ``<output_dir>/name/.shards/worker_<w>/`` (inside the dataset's
own image folder, so moving them into place is a rename).

Every demo carries the (worker, attempt) that made it, and that key is unique per seed, so the finish
(``run.finish``) needs no bookkeeping that a crash could lose: it appends the shard demos whose key OUT does not hold
yet, in (attempt, worker) order, up to the target, and finishing again after a kill at any point gives the same
result.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from mimicforge.config import RunConfig, to_toml
from mimicforge.datasets import DatasetReader, DatasetWriter, layout
from mimicforge.datasets.writer import check_appendable
from mimicforge.mimic.generator import TrialAborted
from mimicforge.outputs import ImageFolders, MetricsRecord, OutputPaths, dataset_images, output_mode
from mimicforge.run.finish import MergeOutcome, ShardFiles, finish_shards
from mimicforge.run.session import Prepared, Resumed, Session, scan_existing, write_text_atomic

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShardLayout:
    out: OutputPaths
    root: Path  # the shards' HDF5, metrics and config files
    images: Path  # the dataset's own image folder
    image_root: Path  # the shards' staged frames, inside it

    @classmethod
    def for_run(cls, cfg: RunConfig) -> ShardLayout:
        out = OutputPaths.beside(cfg.generation.output_file)
        images = dataset_images(cfg.cameras.output_dir, out.dataset)
        return cls(out, out.dataset.with_name(f"{out.dataset.stem}.shards"), images, images / ".shards")

    def worker_paths(self, worker: int) -> OutputPaths:
        return OutputPaths.beside(self.root / f"worker_{worker}.hdf5")

    def worker_image_dir(self, worker: int) -> Path:
        return self.image_root / f"worker_{worker}"

    def workers_on_disk(self) -> list[int]:
        if not self.root.is_dir():
            return []
        found = set()
        for p in self.root.glob("worker_*"):
            head = p.name.split(".")[0].removesuffix("_failed")
            if head.removeprefix("worker_").isdigit():
                found.add(int(head.removeprefix("worker_")))
        return sorted(found)


def finalize(lay: ShardLayout, cfg: RunConfig) -> MergeOutcome:
    """Merge every shard into the run's outputs, place their frames, rebuild the metrics, drop the shards
    (``finish.finish_shards``: safe to repeat after a kill at any point)."""
    g = cfg.generation
    shards = [ShardFiles(w, lay.worker_paths(w), lay.worker_image_dir(w)) for w in lay.workers_on_disk()]
    return finish_shards(lay.out, shards, limit=g.num_trials if g.stop_on == "successes" else None,
                         config_text=to_toml(cfg), images=lay.images, staging=(lay.root, lay.image_root))


def prepare_sharded_run(cfg: RunConfig) -> tuple[ShardLayout, Resumed]:
    """Set up OUT for a sharded run (local workers or Ray) and say where it stands; the caller holds OUT's lock.

    OUT exists from the start, as in single-process runs, with the run's settings; shards that a killed
    earlier run left behind are finished first, so counting starts from OUT alone.
    """
    g = cfg.generation
    lay = ShardLayout.for_run(cfg)
    out = lay.out
    mode = output_mode(cfg, out)
    config_text = to_toml(cfg)
    assert g.input_file is not None
    with DatasetReader(g.input_file) as r:
        env_name = g.task or r.env_name
        format_version = r.format_version  # outputs keep the input's dataset format
    folders = ImageFolders(lay.images, [(c, m) for c in cfg.cameras.cameras for m in cfg.cameras.modalities])
    if mode == "create":
        folders.check_unused()  # before anything is created: a refused run leaves nothing behind
    out.dataset.parent.mkdir(parents=True, exist_ok=True)
    if mode == "overwrite":
        shutil.rmtree(lay.root, ignore_errors=True)
        shutil.rmtree(lay.images, ignore_errors=True)  # the dataset's own frames (no other run's)
        for p in (out.failed, out.metrics):
            p.unlink(missing_ok=True)
    if mode != "append" or not out.dataset.exists():
        DatasetWriter(out.dataset, env_name=env_name, mode=mode, data_attrs={layout.ATTR_CONFIG: config_text},
                      format_version=format_version).close()
    else:  # a resume: checked as the writer would, without copying OUT (the finish appends to it)
        check_appendable(out.dataset, env_name=env_name, format_version=format_version)
    write_text_atomic(out.config, config_text)
    if lay.workers_on_disk():
        finalize(lay, cfg)
    resumed = scan_existing(out)
    if folders.streams:
        folders.prepare(mode, _next_index(out))
    return lay, resumed


def _next_index(out: OutputPaths) -> int:
    """The number the next demo appended to OUT gets (one more than its highest ``demo_k``)."""
    import h5py

    with h5py.File(out.dataset, "r", locking=False) as f:
        indices = [layout.demo_index(k) for k in f[layout.DATA].keys()]
    return max((i for i in indices if i is not None), default=-1) + 1


# ------------------------------------------------------------------ one shard: quota, opening, attempts
def shard_quotas(cfg: RunConfig, shards: int, resumed: Resumed, *, independent: bool) -> dict[int, int | None]:
    """What each shard may do. With stop_on = attempts: attempt indices below its next one plus its exact share
    of the attempts still to make, counted over every worker that ever wrote the output (the worker count may
    have changed since), so no race at the end. With stop_on = successes: no limit when a supervisor stops
    every shard at the goal, or, for ``independent`` shards (Ray tasks), an equal share of the successes still
    needed, rounded up (the finish keeps exactly N)."""
    g = cfg.generation
    if g.stop_on == "attempts":  # the attempts still to make, shared out (whichever workers made the earlier ones)
        share, extra = divmod(max(0, g.num_trials - resumed.attempts), shards)
        return {w: resumed.next_for(w) + share + (1 if w < extra else 0) for w in range(shards)}
    if not independent:
        return {w: None for w in range(shards)}
    need = max(0, g.num_trials - resumed.successes)
    return {w: math.ceil(need / shards) for w in range(shards)}


def shard_config(cfg: RunConfig, lay: ShardLayout, worker: int) -> RunConfig:
    """The run's settings pointed at one worker's shard files and image staging folder."""
    return dataclasses.replace(
        cfg,
        generation=dataclasses.replace(cfg.generation, output_file=lay.worker_paths(worker).dataset),
        cameras=dataclasses.replace(cfg.cameras, output_dir=lay.image_root),  # frames in worker_image_dir(worker)
    )


def open_shard(cfg: RunConfig, worker: int, engine: str, first_attempt: int,
               prepared: Prepared | None = None) -> Session:
    """Worker ``worker``'s session on its shard: resumed if the shard's dataset exists, else created fresh
    (leftovers of a shard whose dataset was never created are removed first). ``prepared``: what
    ``prepare_engine`` returned for ``cfg`` in this process already (a standby worker's), used as it is."""
    from mimicforge.backends import make_env_factory

    lay = ShardLayout.for_run(cfg)
    lay.root.mkdir(parents=True, exist_ok=True)
    paths = lay.worker_paths(worker)
    mode = "append" if paths.dataset.exists() else "create"
    if mode == "create":
        for p in paths.all():
            p.unlink(missing_ok=True)
    return Session(shard_config(cfg, lay, worker), paths, make_env_factory(engine), worker=worker, prepared=prepared,
                   engine_name=engine, mode=mode, first_attempt=first_attempt)


def shard_attempts(session: Session, quota: int | None, should_stop: Callable[[], bool]) -> Iterator[MetricsRecord]:
    """Attempts on one shard until its quota (successes or attempt indices, as the run stops on) or a stop."""
    by_successes = session.cfg.generation.stop_on == "successes"
    while not should_stop():
        if quota is not None and (session.successes if by_successes else session.next_attempt) >= quota:
            return
        try:
            yield session.attempt(stop_requested=should_stop)
        except TrialAborted:
            return
