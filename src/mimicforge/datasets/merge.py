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
    left_out: tuple[str, ...] = ()  # demo paths not copied (--common-keys, --drop-annotations)


def merge_datasets(
    out: str | os.PathLike[str],
    inputs: Sequence[str | os.PathLike[str]],
    *,
    overwrite: bool = False,
    skip_empty: bool = False,
    data_attrs: dict[str, object] | None = None,
    select: Sequence[tuple[int, str]] | None = None,
    check_lengths: bool = True,
    common_keys: bool = False,
    drop_annotations: bool = False,
) -> MergeResult:
    """Merge ``inputs`` (in order, demos in file order) into ``out``.

    ``skip_empty``: inputs whose data group holds no demos are skipped instead of rejected (worker shards).
    ``select``: only these demos, in this order, as (index into ``inputs``, demo name) pairs.
    ``check_lengths``: first check that every chosen demo's datasets agree in length (off only for files this
    process's own writer made, such as worker shards: reading every dataset's shape costs about 10 ms a demo).
    ``env_args`` must agree on ``env_name`` across inputs; the first input's ``env_args`` are kept. Inputs must
    not mix annotated with unannotated demos (``drop_annotations``: drop every ``obs/datagen_info``, giving training
    data) nor ``obs`` keys, dtypes or shapes (``common_keys``: keep the ``obs`` keys that are the same in all).
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
        return _merge(out, inputs, skip_empty, data_attrs, select, check_lengths, common_keys, drop_annotations)


def _merge(out: Path, inputs: Sequence[str | os.PathLike[str]], skip_empty: bool, data_attrs: dict[str, object] | None,
           select: Sequence[tuple[int, str]] | None, check_lengths: bool, common_keys: bool,
           drop_annotations: bool) -> MergeResult:
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
        drop = _mixed_inputs(readers, common_keys=common_keys, drop_annotations=drop_annotations)
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
                    _copy(src, data, layout.demo_name(count), drop)
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
    return MergeResult(out, count, total, tuple(sources), tuple(sorted(drop)))


def _obs_layout(r: DatasetReader) -> dict[str, tuple[str, tuple[int, ...]]]:
    """obs key -> (dtype, per-step shape) of an input's first demo, annotations left out."""
    obs = r.group(r.demo_names[0]).get(layout.OBS)
    if not isinstance(obs, h5py.Group):
        return {}
    return {k: (v.dtype.name, tuple(v.shape[1:])) for k, v in obs.items()
            if isinstance(v, h5py.Dataset)}


def _mixed_inputs(readers: Sequence[DatasetReader], *, common_keys: bool, drop_annotations: bool) -> set[str]:
    """Refuse inputs whose demos cannot live in one file (one line naming the files and the difference), or
    the demo paths to leave out when a flag says what to do."""
    drop: set[str] = set()
    annotated = {str(r.path): r.is_annotated() for r in readers}
    if len(set(annotated.values())) > 1 and not drop_annotations:
        yes = ", ".join(p for p, a in annotated.items() if a)
        no = ", ".join(p for p, a in annotated.items() if not a)
        raise DatasetFormatError(
            f"inputs mix annotated and unannotated demos ({yes}: annotated; {no}: not): generate needs "
            "annotations in every demo of a source and training needs the same keys in every demo; pass "
            "--drop-annotations to merge them as training data")
    if drop_annotations:
        drop.add(layout.DATAGEN_INFO)
    layouts = {str(r.path): _obs_layout(r) for r in readers}
    first_path, first = next(iter(layouts.items()))
    shared = {k: v for k, v in first.items() if all(lay.get(k) == v for lay in layouts.values())}
    for path, lay in layouts.items():
        if lay == first:
            continue
        if not common_keys:
            only_first = sorted(set(first) - set(lay))
            only_here = sorted(set(lay) - set(first))
            differ = sorted(k for k in set(first) & set(lay) if first[k] != lay[k])
            parts = [f"{first_path} has {', '.join(only_first)} that {path} lacks" if only_first else "",
                     f"{path} has {', '.join(only_here)} that {first_path} lacks" if only_here else "",
                     "; ".join(f"{k} is {lay[k][0]} {lay[k][1]} in {path} but {first[k][0]} {first[k][1]} in "
                               f"{first_path}" for k in differ)]
            raise DatasetFormatError(
                f"inputs differ in their obs keys ({'; '.join(p for p in parts if p)}): training needs the same "
                "obs in every demo; pass --common-keys to keep only the obs keys that are the same in all inputs")
    if common_keys:
        drop |= {f"{layout.OBS}/{k}" for lay in layouts.values() for k in lay if k not in shared}
    return drop


def _copy(src: h5py.Group, dest: h5py.Group, name: str, drop: set[str], prefix: str = "") -> None:
    """Copy the group ``src`` to ``dest[name]`` (HDF5's object copy keeps dtypes, compression and attributes),
    leaving out the paths in ``drop``, relative to the demo."""
    if not any(d.startswith(prefix) for d in drop):
        src.file.copy(src, dest, name=name)
        return
    group = dest.create_group(name, track_order=True)
    for k, v in src.attrs.items():
        group.attrs[k] = v
    for key, item in src.items():
        path = prefix + key
        if path in drop:
            continue
        if isinstance(item, h5py.Group):
            _copy(item, group, key, drop, path + "/")
        else:
            src.file.copy(item, group, name=key)
