"""The finish of a sharded run: worker shards into the run's outputs, for any engine that writes shards.

``finish_shards(out, shards, ...)`` takes the run's ``OutputPaths``, each shard's files (``ShardFiles``: its
``OutputPaths`` and the folder its frames were staged in) and the dataset's own image folder. It runs four steps,
each of which converges on the same final state whatever a kill interrupted before, so calling it again after a
kill anywhere (``--resume`` does) finishes the job:

1. **merge the HDF5 files**: the shard demos OUT does not hold yet are appended to it through the crash-safe
   writer, in (attempt, worker) order, up to ``limit`` demos in OUT (and the kept failures to ``name_failed``).
   Every demo OUT already holds stays, in file order, whatever its attributes; the ``(worker, attempt)`` keys
   serve only to recognise shard demos merged by an earlier, interrupted finish. Nothing of OUT is rewritten.
2. **place the images**: each shard demo's frame folders (final, or ``.demo_<j>.partial`` of a committed demo)
   are renamed to the folder of the demo it became; a destination that already exists belongs to another run
   and is an error, never skipped.
3. **rebuild the metrics**: one line per attempt, the shards' attempts renamed to their final demos, every
   other line of OUT's metrics kept as it was.
4. **drop the staging** (the shards and their image folders), only after the three steps above.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py

from mimicforge.datasets import DatasetWriter, layout, lock, quaternions
from mimicforge.errors import OutputExistsError
from mimicforge.outputs import OutputPaths, demo_keys, read_metrics, recorded_metrics, write_text_atomic

log = logging.getLogger(__name__)

MERGE_BATCH = 1024  # shard demos appended per commit: a kill inside the merge redoes at most this many
Key = tuple[int, int]  # (worker, attempt)

# Called with a label after each unit of work (a commit of the merge, a renamed folder, a finished step); a seam
# for the crash tests, which kill the process there. Does nothing otherwise.
checkpoint: Callable[[str], None] = lambda label: None

_FRAMES = re.compile(r"^(?:demo_(\d+)|\.demo_(\d+)\.partial)$")


@dataclass(frozen=True)
class ShardFiles:
    """One worker's shard: its output files and the folder holding its frames (``<cam>_<mod>/demo_<j>``)."""

    worker: int
    paths: OutputPaths
    images: Path | None = None


@dataclass(frozen=True)
class MergeOutcome:
    successes: int  # demos in OUT after the finish
    added: int  # of which came from the shards in this call
    failures: int  # demos in OUT_failed after the finish
    discarded: int  # shard successes beyond the limit, not kept


def finish_shards(out: OutputPaths, shards: Sequence[ShardFiles], *, limit: int | None, config_text: str,
                  images: Path | None = None, staging: Sequence[Path] = ()) -> MergeOutcome:
    """Merge ``shards`` into ``out`` (at most ``limit`` demos in ``out.dataset``; None: all), place their frames
    under ``images`` (the dataset's own image folder), rebuild the metrics, then delete ``staging``. Holds OUT's
    lock throughout (re-entrant: the run calling it holds it already)."""
    with lock.held(out.dataset):
        return _finish(out, shards, limit, config_text, images, staging)


def _finish(out: OutputPaths, shards: Sequence[ShardFiles], limit: int | None, config_text: str,
            images: Path | None, staging: Sequence[Path]) -> MergeOutcome:
    keys = {p: demo_keys(p) for s in shards for p in (s.paths.dataset, s.paths.failed)}  # read once: they stay
    added, discarded, final = _merge(out.dataset, [s.paths.dataset for s in shards], keys, limit, config_text)
    checkpoint("merged")
    _, _, final_failed = _merge(out.failed, [s.paths.failed for s in shards], keys, None, config_text)
    checkpoint("merged failures")
    if images is not None:
        _place_images(images, shards, keys, final)
    checkpoint("images placed")
    _rebuild_metrics(out, shards, keys, final, final_failed)
    checkpoint("metrics rebuilt")
    for path in staging:
        shutil.rmtree(path, ignore_errors=True)
    return MergeOutcome(count_demos(out.dataset), added, count_demos(out.failed), discarded)


def count_demos(path: Path) -> int:
    if not path.exists():
        return 0
    with h5py.File(path, "r", locking=False) as f:
        data = f.get(layout.DATA)
        return 0 if data is None else sum(layout.demo_index(k) is not None for k in data.keys())


def _env_args(path: Path) -> tuple[dict[str, Any], int] | None:
    """The ``env_args`` and dataset format of a file, if it exists."""
    if not path.exists():
        return None
    with h5py.File(path, "r", locking=False) as f:
        data = f.get(layout.DATA)
        raw = data.attrs.get(layout.ATTR_ENV_ARGS, "{}") if data is not None else "{}"
        args = json.loads(raw.decode() if isinstance(raw, bytes) else str(raw))
        return (args if isinstance(args, dict) else {}), quaternions.read_format_version(f.attrs, path)


def _merge(target: Path, shard_files: Sequence[Path], keys: dict[Path, dict[Key, str]], limit: int | None,
           config_text: str) -> tuple[int, int, dict[Key, str]]:
    """Append the shard demos ``target`` does not hold yet; returns (appended, left out by ``limit``, the name in
    ``target`` of every shard demo it holds now)."""
    have = demo_keys(target)
    ours = set().union(*(keys[p] for p in shard_files)) if shard_files else set()
    final = {key: name for key, name in have.items() if key in ours}
    fresh: list[tuple[int, int, Path, str]] = []  # (attempt, worker, shard file, demo name)
    for path in shard_files:
        fresh += [(a, w, path, name) for (w, a), name in keys[path].items() if (w, a) not in have]
    fresh.sort()
    discarded = 0
    if limit is not None:
        room = max(0, limit - count_demos(target))
        discarded = max(0, len(fresh) - room)
        fresh = fresh[:room]
    if not fresh:
        return 0, discarded, final
    # The shards' env_args (an engine's sim_args, as a one-process run records them) join OUT's.
    found = _env_args(fresh[0][2])  # a shard with demos to append: it exists
    assert found is not None
    shard_args, format_version = found
    own = _env_args(target)
    env_name = str((own[0] if own is not None else shard_args).get("env_name", ""))
    files: dict[Path, h5py.File] = {}
    try:
        with DatasetWriter(target, env_name=env_name, mode="append", format_version=format_version,
                           env_args=shard_args, data_attrs={layout.ATTR_CONFIG: config_text}) as writer:
            for start in range(0, len(fresh), MERGE_BATCH):
                batch = fresh[start:start + MERGE_BATCH]
                groups = []
                for _, _, path, name in batch:
                    if path not in files:
                        files[path] = h5py.File(path, "r", locking=False)
                    groups.append(files[path][layout.DATA][name])
                names = writer.copy_demos(groups, last=start + MERGE_BATCH >= len(fresh))
                final.update({(w, a): name for (a, w, _, _), name in zip(batch, names)})
                checkpoint(f"merge commit {start // MERGE_BATCH}")
    finally:
        for f in files.values():
            f.close()
    return len(fresh), discarded, final


def _place_images(images: Path, shards: Sequence[ShardFiles], keys: dict[Path, dict[Key, str]],
                  final: dict[Key, str]) -> None:
    """Rename each merged shard demo's frame folders to its final demo's folders under ``images``."""
    for shard in shards:
        if shard.images is None or not shard.images.is_dir():
            continue
        committed = {name: key for key, name in keys[shard.paths.dataset].items()}
        for stream in sorted(p for p in shard.images.iterdir() if p.is_dir() and not p.name.startswith(".")):
            for entry in sorted(stream.iterdir()):
                m = _FRAMES.match(entry.name)
                if m is None:
                    continue
                key = committed.get(layout.demo_name(int(m.group(1) or m.group(2))))
                name = final.get(key) if key is not None else None
                if name is None:  # never committed, or beyond the goal: dropped with the staging
                    continue
                dst = images / stream.name / name
                if dst.exists():
                    raise OutputExistsError(
                        f"{dst} already exists and is not the frames of this run's {name}; move it away and run "
                        "again with --resume (or start over with --overwrite)"
                    )
                dst.parent.mkdir(parents=True, exist_ok=True)
                entry.rename(dst)
                checkpoint(f"placed {stream.name}/{name}")


def _rebuild_metrics(out: OutputPaths, shards: Sequence[ShardFiles], keys: dict[Path, dict[Key, str]],
                     final: dict[Key, str], final_failed: dict[Key, str]) -> None:
    """OUT's metrics with one record per shard attempt, its ``demo`` the final name (None: not kept); every line
    of an attempt that no shard made stays as it was, in its place."""
    shard_keys: set[Key] = set()
    for s in shards:
        shard_keys |= set(keys[s.paths.dataset]) | set(keys[s.paths.failed])
        shard_keys |= {_key(r) for r in read_metrics(s.paths.metrics) if isinstance(r.get("attempt"), int)}
    if not shard_keys:
        return
    kept: list[dict[str, Any]] = []
    records: dict[Key, dict[str, Any]] = {}
    for rec in read_metrics(out.metrics):  # the live records a supervisor wrote, and the lines of earlier runs
        if isinstance(rec.get("attempt"), int) and _key(rec) in shard_keys:
            records[_key(rec)] = rec
        else:
            kept.append(rec)
    for s in shards:
        records.update({_key(r): r for r in read_metrics(s.paths.metrics) if isinstance(r.get("attempt"), int)})
    # A worker killed between committing a demo and writing its metrics line: the demo's own copy.
    for path, names in ((out.dataset, final), (out.failed, final_failed)):
        missing = {key: name for key, name in names.items() if key not in records}
        records.update(recorded_metrics(path, missing))
    lines = [json.dumps(r, separators=(",", ":")) for r in kept]
    for key in sorted(records, key=lambda k: (k[1], k[0])):
        rec = dict(records[key])
        rec["demo"] = (final if rec.get("success") else final_failed).get(key)
        lines.append(json.dumps(rec, separators=(",", ":")))
    write_text_atomic(out.metrics, "".join(line + "\n" for line in lines))


def _key(rec: dict[str, Any]) -> Key:
    return int(rec.get("worker", 0)), int(rec["attempt"])
