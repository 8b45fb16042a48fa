"""Merge several dataset files into one, demos renumbered ``demo_0..demo_{n-1}``.

The output is built under a hidden name and renamed into place when complete, so OUT is either absent
(or its old version) or the whole merge, never a partial file. Demo groups are copied with HDF5's object
copy, which keeps every dataset's dtype, compression and attributes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from mimicforge.datasets import layout, lock, quaternions
from mimicforge.datasets.reader import DatasetReader
from mimicforge.datasets.writer import fsync_dir, companion
from mimicforge.errors import DatasetFormatError, OutputExistsError


@dataclass(frozen=True)
class MergeResult:
    path: Path
    num_demos: int
    total: int
    sources: tuple[tuple[str, int], ...]  # (input path, demos taken from it)


def merge_datasets(
    out: str | os.PathLike[str],
    inputs: Sequence[str | os.PathLike[str]],
    *,
    overwrite: bool = False,
    skip_empty: bool = False,
    data_attrs: dict[str, object] | None = None,
    select: Sequence[tuple[int, str]] | None = None,
    check_lengths: bool = True,
) -> MergeResult:
    """Merge ``inputs`` (in order, demos in file order) into ``out``.

    ``skip_empty``: inputs whose data group holds no demos are skipped instead of rejected (worker shards).
    ``select``: only these demos, in this order, as (index into ``inputs``, demo name) pairs.
    ``check_lengths``: first check that every chosen demo's datasets agree in length (off only for files this
    process's own writer made, such as worker shards: reading every dataset's shape costs about 10 ms a demo).
    ``env_args`` must agree on ``env_name`` across inputs; the first input's ``env_args`` are kept.
    """
    out = Path(out)
    if not inputs:
        raise DatasetFormatError("merge needs at least one input file")
    resolved = [Path(p).resolve() for p in inputs]
    if out.resolve() in resolved:
        raise DatasetFormatError(f"{out} is both an input and the output; write the merge to a new file")
    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out} already exists; pass --overwrite to replace it")
    if not out.parent.is_dir():
        raise DatasetFormatError(f"{out.parent}: output directory does not exist; create it first")
    with lock.held(out):  # one writer per output: a run still writing OUT is refused in one line
        return _merge(out, inputs, skip_empty, data_attrs, select, check_lengths)


def _merge(out: Path, inputs: Sequence[str | os.PathLike[str]], skip_empty: bool, data_attrs: dict[str, object] | None,
           select: Sequence[tuple[int, str]] | None, check_lengths: bool) -> MergeResult:
    readers: list[DatasetReader] = []
    by_input: dict[int, DatasetReader] = {}
    try:
        for i, p in enumerate(inputs):
            try:
                readers.append(DatasetReader(p))
            except DatasetFormatError as exc:
                if skip_empty and "no demos" in str(exc):
                    continue
                raise
            by_input[i] = readers[-1]
        if not readers:
            raise DatasetFormatError("none of the merge inputs holds a demo")
        formats = {str(r.path): r.format_version for r in readers}
        if len(set(formats.values())) > 1:
            listing = ", ".join(f"{p} is format {v}" for p, v in formats.items())
            raise DatasetFormatError(f"inputs mix dataset formats ({listing}; 0: Isaac Lab <= 2.3 WXYZ, 1: Isaac Lab "
                                     "3.0 XYZW); merge only files of one Isaac Lab generation")
        names = {str(r.path): r.env_name for r in readers}
        if len(set(names.values())) > 1:
            listing = ", ".join(f"{p} has {n!r}" for p, n in names.items())
            raise DatasetFormatError(f"inputs disagree on env_name ({listing}); merge only files of one task")
        if select is None:
            chosen = [(r, name) for r in readers for name in r.demo_names]
        else:
            chosen = []
            for i, name in select:
                r = by_input.get(i)
                if r is None or name not in r.demo_names:
                    raise DatasetFormatError(f"{inputs[i]} has no demo {name!r} to merge")
                chosen.append((r, name))
        if check_lengths:
            for r, name in chosen:
                r.check_lengths(name)

        tmp = companion(out, "merging")
        count = total = 0
        try:
            with h5py.File(tmp, "w", locking=False) as f:
                if readers[0].format_version:
                    f.attrs[quaternions.FORMAT_ATTR] = np.int64(readers[0].format_version)
                data = f.create_group(layout.DATA, track_order=True)
                data.attrs[layout.ATTR_ENV_ARGS] = json.dumps(readers[0].env_args)
                first_attrs = readers[0].data_attrs
                if layout.ATTR_CONFIG in first_attrs:
                    data.attrs[layout.ATTR_CONFIG] = first_attrs[layout.ATTR_CONFIG]
                for k, v in (data_attrs or {}).items():
                    data.attrs[k] = v
                taken: dict[str, int] = {}
                for r, name in chosen:
                    src = r.group(name)
                    src.file.copy(src, data, name=layout.demo_name(count))
                    total += int(src[layout.ACTIONS].shape[0])
                    count += 1
                    taken[str(r.path)] = taken.get(str(r.path), 0) + 1
                sources = [(str(r.path), taken.get(str(r.path), 0)) for r in readers]
                data.attrs[layout.ATTR_TOTAL] = np.int64(total)
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, out)
            fsync_dir(out.parent)
        finally:
            tmp.unlink(missing_ok=True)
    finally:
        for r in readers:
            r.close()
    return MergeResult(out, count, total, tuple(sources))
