"""Worker shards and their merge into the run's outputs (used by the local supervisor and by Ray).

For OUT = ``x/name.hdf5`` worker ``w`` writes ``x/name.shards/worker_<w>.hdf5`` (with its own
``_failed``, metrics and config files beside it) and stages images under
``<output_dir>/.name.shards/worker_<w>/`` (the same volume as the final image folders, so moving them
is a rename).

Every demo carries the (worker, attempt) that made it, and that key is unique per seed. The merged
dataset is therefore defined without any bookkeeping that a crash could lose: the demos already in OUT,
then shard demos whose key OUT does not hold yet, in (attempt, worker) order, up to the target. Merging
again after a crash at any point gives the same result.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from mimicforge.config import RunConfig, to_toml
from mimicforge.datasets import DatasetReader, DatasetWriter, layout, merge_datasets
from mimicforge.datasets.writer import companion
from mimicforge.mimic.generator import TrialAborted
from mimicforge.outputs import MetricsRecord, OutputPaths, metrics_by_attempt, output_mode, recorded_metrics
from mimicforge.run.session import Resumed, Session, demo_keys, scan_existing, write_text_atomic

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShardLayout:
    out: OutputPaths
    root: Path
    image_root: Path

    @classmethod
    def for_run(cls, cfg: RunConfig) -> ShardLayout:
        out = OutputPaths.beside(cfg.generation.output_file)
        stem = out.dataset.with_suffix("").name
        return cls(out, out.dataset.with_name(f"{stem}.shards"), Path(cfg.cameras.output_dir) / f".{stem}.shards")

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


@dataclass(frozen=True)
class MergeOutcome:
    successes: int  # demos in OUT after the merge
    added: int  # of which came from shards now
    failures: int  # demos in OUT_failed after the merge


def _merge_into(target: Path, existing: bool, inputs: list[Path], select: list[tuple[int, str]],
                config_text: str) -> int:
    """Rewrite ``target`` atomically as the selected demos (index 0 being ``target`` itself if it exists),
    carrying the run's own settings (a shard's name the worker's shard file as its output)."""
    if not select:
        return 0
    staging = companion(target, "finalizing")
    sources = ([target] if existing else []) + inputs
    result = merge_datasets(staging, sources, select=select, overwrite=True, skip_empty=True,
                            data_attrs={layout.ATTR_CONFIG: config_text}, check_lengths=False)
    os.replace(staging, target)
    return result.num_demos


def finalize(lay: ShardLayout, cfg: RunConfig) -> MergeOutcome:
    """Merge every shard into the run's outputs, move their images, rebuild the metrics, drop the shards."""
    g = cfg.generation
    out = lay.out
    workers = lay.workers_on_disk()
    base = demo_keys(out.dataset)
    shard_files = [lay.worker_paths(w).dataset for w in workers]
    fresh: list[tuple[int, int, int, str]] = []  # (attempt, worker, shard index, shard demo name)
    for i, path in enumerate(shard_files):
        for (w, a), name in demo_keys(path).items():
            if (w, a) not in base:
                fresh.append((a, w, i, name))
    fresh.sort()
    if g.stop_on == "successes":
        fresh = fresh[: max(0, g.num_trials - len(base))]
    offset = 1 if out.dataset.exists() else 0
    select = [(0, name) for name in base.values()] if offset else []
    select += [(offset + i, name) for _, _, i, name in fresh]
    successes = (_merge_into(out.dataset, out.dataset.exists(), shard_files, select, to_toml(cfg)) if fresh
                 else len(base))

    # Images: shard demo folders to their final numbers (idempotent: a folder already moved is skipped).
    final_names = {(w, a): name for (w, a), name in demo_keys(out.dataset).items()}
    if cfg.cameras.cameras:
        for a, w, _, shard_name in fresh:
            final = layout.demo_index(final_names[(w, a)])
            for cam in cfg.cameras.cameras:
                for mod in cfg.cameras.modalities:
                    src = lay.worker_image_dir(w) / f"{cam}_{mod}" / shard_name
                    dst = Path(cfg.cameras.output_dir) / f"{cam}_{mod}" / f"demo_{final}"
                    if src.is_dir() and not dst.exists():
                        dst.parent.mkdir(parents=True, exist_ok=True)
                        src.rename(dst)

    failures = 0
    if g.keep_failed:
        base_failed = demo_keys(out.failed)
        failed_files = [lay.worker_paths(w).failed for w in workers]
        extra = sorted((a, w, i, n) for i, p in enumerate(failed_files)
                       for (w, a), n in demo_keys(p).items() if (w, a) not in base_failed)
        off = 1 if out.failed.exists() else 0
        sel = ([(0, n) for n in base_failed.values()] if off else []) + [(off + i, n) for _, _, i, n in extra]
        failures = (_merge_into(out.failed, out.failed.exists(), failed_files, sel, to_toml(cfg)) if extra
                    else len(base_failed))

    _rebuild_metrics(lay, workers, final_names, demo_keys(out.failed) if g.keep_failed else {})
    shutil.rmtree(lay.root, ignore_errors=True)
    shutil.rmtree(lay.image_root, ignore_errors=True)
    return MergeOutcome(successes, len(fresh), failures)


def _rebuild_metrics(lay: ShardLayout, workers: list[int], final_names: dict[tuple[int, int], str],
                     failed_names: dict[tuple[int, int], str]) -> None:
    """One record per attempt across OUT's own metrics and every shard's, demo names made final."""
    records: dict[tuple[int, int], dict] = {}
    for path in [lay.out.metrics] + [lay.worker_paths(w).metrics for w in workers]:
        records.update(metrics_by_attempt(path))
    # A worker killed between committing a demo and writing its metrics line: the demo's own copy.
    for path, names in ((lay.out.dataset, final_names), (lay.out.failed, failed_names)):
        missing = {key: name for key, name in names.items() if key not in records}
        if missing:
            records.update(recorded_metrics(path, missing))
    lines = []
    for key in sorted(records, key=lambda k: (k[1], k[0])):
        rec = dict(records[key])
        # Names in the merged files; None for a success beyond the target or a failure not kept.
        rec["demo"] = (final_names if rec.get("success") else failed_names).get(key)
        lines.append(json.dumps(rec, separators=(",", ":")))
    write_text_atomic(lay.out.metrics, "".join(line + "\n" for line in lines))


def prepare_sharded_run(cfg: RunConfig) -> tuple[ShardLayout, Resumed]:
    """Set up OUT for a sharded run (local workers or Ray) and say where it stands.

    OUT exists from the start, as in single-process runs, with the run's settings; shards that a killed
    earlier run left behind are merged first, so counting starts from OUT alone.
    """
    g = cfg.generation
    lay = ShardLayout.for_run(cfg)
    out = lay.out
    out.dataset.parent.mkdir(parents=True, exist_ok=True)
    mode = output_mode(cfg, out)
    if mode == "overwrite":
        shutil.rmtree(lay.root, ignore_errors=True)
        shutil.rmtree(lay.image_root, ignore_errors=True)
        for p in (out.failed, out.metrics):
            p.unlink(missing_ok=True)
    config_text = to_toml(cfg)
    assert g.input_file is not None
    with DatasetReader(g.input_file) as r:
        env_name = g.task or r.env_name
        format_version = r.format_version  # outputs keep the input's dataset format
    DatasetWriter(out.dataset, env_name=env_name, mode=mode, data_attrs={layout.ATTR_CONFIG: config_text},
                  format_version=format_version).close()
    write_text_atomic(out.config, config_text)
    if lay.workers_on_disk():
        finalize(lay, cfg)
    return lay, scan_existing(out)


# ------------------------------------------------------------------ one shard: quota, opening, attempts
def shard_quotas(cfg: RunConfig, shards: int, resumed: Resumed, *, independent: bool) -> dict[int, int | None]:
    """What each shard may do. With stop_on = attempts: attempt indices below its exact share of N (no race
    at the end). With stop_on = successes: no limit when a supervisor stops every shard at the goal, or, for
    ``independent`` shards (Ray tasks), an equal share of the successes still needed, rounded up (the merge
    keeps exactly N)."""
    g = cfg.generation
    if g.stop_on == "attempts":
        share, extra = divmod(g.num_trials, shards)
        return {w: share + (1 if w < extra else 0) for w in range(shards)}
    if not independent:
        return {w: None for w in range(shards)}
    need = max(0, g.num_trials - resumed.successes)
    return {w: math.ceil(need / shards) for w in range(shards)}


def shard_config(cfg: RunConfig, lay: ShardLayout, worker: int) -> RunConfig:
    """The run's settings pointed at one worker's shard files and image staging folder."""
    return dataclasses.replace(
        cfg,
        generation=dataclasses.replace(cfg.generation, output_file=lay.worker_paths(worker).dataset),
        cameras=dataclasses.replace(cfg.cameras, output_dir=lay.worker_image_dir(worker)),
    )


def open_shard(cfg: RunConfig, worker: int, engine: str, first_attempt: int) -> Session:
    """Worker ``worker``'s session on its shard: resumed if the shard's dataset exists, else created fresh
    (leftovers of a shard whose dataset was never created are removed first)."""
    from mimicforge.backends import make_env_factory

    lay = ShardLayout.for_run(cfg)
    lay.root.mkdir(parents=True, exist_ok=True)
    paths = lay.worker_paths(worker)
    mode = "append" if paths.dataset.exists() else "create"
    if mode == "create":
        for p in paths.all():
            p.unlink(missing_ok=True)
    return Session(shard_config(cfg, lay, worker), paths, make_env_factory(engine), worker=worker,
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
