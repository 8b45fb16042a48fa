"""Read Isaac Lab Mimic datasets: annotated sources (with ``obs/datagen_info``) and generated outputs.

Demos come in file order (h5py's iteration order), which is the order Isaac Lab Mimic's
``DataGenInfoPool`` loads them in. Files written by mimicforge track creation order, so for them file
order is ``demo_0, demo_1, ...``; other writers give lexicographic order (``demo_10`` before ``demo_2``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from mimicforge.datasets import layout
from mimicforge.datasets.h5 import data_group, open_h5, reading
from mimicforge.datasets.quaternions import XYZW, convert_part, read_format_version
from mimicforge.errors import DatasetFormatError

Tree = dict[str, Any]  # nested dict of numpy arrays, mirroring an HDF5 group


@dataclass(frozen=True)
class DatagenInfo:
    """Per-step annotations that MimicGen generates from (all arrays have T rows)."""

    eef_pose: Mapping[str, np.ndarray]  # eef name -> (T, 4, 4)
    object_pose: Mapping[str, np.ndarray]  # object name -> (T, 4, 4)
    target_eef_pose: Mapping[str, np.ndarray]  # eef name -> (T, 4, 4)
    subtask_term_signals: Mapping[str, np.ndarray]  # signal name -> bool (T,)


@dataclass(frozen=True)
class Demo:
    name: str
    num_samples: int
    success: bool
    actions: np.ndarray | None = None
    datagen_info: DatagenInfo | None = None
    obs: Tree = field(default_factory=dict)  # without datagen_info
    initial_state: Tree = field(default_factory=dict)
    states: Tree = field(default_factory=dict)
    extra: Tree = field(default_factory=dict)  # any other top-level datasets (e.g. processed_actions)

    def subtask_boundaries(self, order: Sequence[str]) -> list[int]:
        if self.datagen_info is None:
            raise DatasetFormatError(f"{self.name} has no obs/datagen_info; {layout.ANNOTATE_HINT}")
        return subtask_boundaries(self.datagen_info.subtask_term_signals, order, self.num_samples, self.name)


def read_tree(group: h5py.Group) -> Tree:
    """Load a group recursively into nested dicts of numpy arrays."""
    out: Tree = {}
    for key, item in group.items():
        out[key] = read_tree(item) if isinstance(item, h5py.Group) else item[()]
    return out


def iter_datasets(group: h5py.Group, prefix: str = "") -> Iterator[tuple[str, h5py.Dataset]]:
    """(relative path, dataset) for every dataset below ``group``, depth first in file order."""
    for key, item in group.items():
        path = f"{prefix}{key}"
        if isinstance(item, h5py.Group):
            yield from iter_datasets(item, path + "/")
        else:
            yield path, item


def first_change(signal: np.ndarray) -> int | None:
    """Index of the first change of a boolean signal (Isaac Lab's first nonzero diff), or None."""
    changes = np.flatnonzero(np.diff(np.asarray(signal).astype(np.int8)))
    return int(changes[0]) if changes.size else None


def subtask_boundaries(
    signals: Mapping[str, np.ndarray], order: Sequence[str], length: int, where: str
) -> list[int]:
    """Subtask end indices exactly as Isaac Lab Mimic computes them (``DataGenInfoPool._add_episode``).

    For each termination signal in ``order``: end = (first nonzero diff of the signal) + 2, i.e. the index
    of the first True plus one for a signal that starts False. The last subtask ends at ``length``.
    """
    ends: list[int] = []
    for name in order:
        if name not in signals:
            raise DatasetFormatError(
                f"{where}: subtask signal '{name}' is missing from obs/datagen_info/subtask_term_signals "
                f"(present: {', '.join(sorted(signals)) or 'none'}); re-annotate the demo"
            )
        sig = np.asarray(signals[name])
        edge = first_change(sig)
        if edge is None:
            state = "True at every step" if sig.size and bool(sig[0]) else "never turns True"
            raise DatasetFormatError(
                f"{where}: subtask signal '{name}' {state}, so its subtask has no end; "
                "re-annotate this demo or drop it from the source file"
            )
        ends.append(edge + 2)
    ends.append(int(length))
    return ends


def signal_order(signals: Mapping[str, np.ndarray], where: str) -> list[str]:
    """Signal names sorted by the step at which each first changes (the order the subtasks happen in)."""
    edges = {}
    for name, sig in signals.items():
        edge = first_change(sig)
        if edge is None:
            state = "True at every step" if np.asarray(sig).size and bool(np.asarray(sig)[0]) else "never turns True"
            raise DatasetFormatError(
                f"{where}: subtask signal '{name}' {state}, so its subtask has no end; "
                "re-annotate this demo or drop it from the source file"
            )
        edges[name] = edge
    return sorted(edges, key=lambda n: (edges[n], n))


def length_issues(demo: h5py.Group) -> list[tuple[str, str]]:
    """Every way the arrays of one demo disagree about its number of steps, as (kind, detail) pairs: ``kind`` is
    the same for every demo with that problem, ``detail`` this demo's case, starting with "/" and its path inside
    the demo (or with a space), so that ``name + detail`` reads as one sentence."""
    actions = demo.get(layout.ACTIONS)
    if not isinstance(actions, h5py.Dataset):
        return [("no 'actions' dataset", " has no 'actions' dataset")]
    if actions.ndim != 2:
        return [("actions is not (steps, action_dim)", f"/actions has shape {actions.shape}; expected (steps, action_dim)")]
    t = actions.shape[0]
    issues: list[tuple[str, str]] = []
    for path, ds in iter_datasets(demo):
        if path.startswith(layout.INITIAL_STATE + "/"):
            if ds.ndim == 0 or ds.shape[0] != 1:
                issues.append(("initial_state arrays without exactly one row",
                               f"/{path} has shape {ds.shape}; initial_state arrays have one row"))
        elif ds.ndim == 0 or ds.shape[0] != t:
            issues.append(("arrays whose number of steps differs from actions'",
                           f"/{path} has {ds.shape[0] if ds.ndim else 0} steps but actions has {t}"))
    n = demo.attrs.get(layout.ATTR_NUM_SAMPLES)
    if n is not None and int(n) != t:
        issues.append(("attribute num_samples differs from the steps in actions",
                       f" attribute num_samples = {int(n)} but actions has {t} steps"))
    return issues


def length_problems(demo: h5py.Group, name: str) -> list[str]:
    """``length_issues`` as sentences naming the demo (empty if consistent)."""
    return [name + detail for _, detail in length_issues(demo)]


class DatasetReader:
    """Lazy access to one dataset file. Use as a context manager."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._file = open_h5(self.path)
        try:
            self._data = data_group(self._file, self.path)
            # 1: Isaac Lab 3.0's XYZW quaternions, converted to mimicforge's WXYZ as demos are loaded
            self.format_version = read_format_version(self._file.attrs, self.path)
            self.demo_names: list[str] = [k for k in self._data.keys() if layout.demo_index(k) is not None]
        except BaseException:
            self._file.close()
            raise

    def __enter__(self) -> DatasetReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()

    def __len__(self) -> int:
        return len(self.demo_names)

    @property
    def env_args(self) -> dict[str, Any]:
        raw = self._data.attrs.get(layout.ATTR_ENV_ARGS)
        if raw is None:
            return {}
        if isinstance(raw, bytes):
            raw = raw.decode()
        try:
            args = json.loads(str(raw))
        except json.JSONDecodeError:
            raise DatasetFormatError(f"{self.path}: data attribute env_args is not valid JSON: {raw!r:.80}") from None
        if not isinstance(args, dict):
            raise DatasetFormatError(f"{self.path}: data attribute env_args is not a JSON object: {raw!r:.80}")
        return args

    @property
    def env_name(self) -> str:
        return str(self.env_args.get("env_name", ""))

    @property
    def data_attrs(self) -> Mapping[str, Any]:
        return self._data.attrs

    def group(self, name: str) -> h5py.Group:
        return self._data[name]

    def is_annotated(self) -> bool:
        return any(layout.DATAGEN_INFO in self._data[n] for n in self.demo_names)

    def length(self, name: str) -> int:
        with reading(self.path, f"data/{name}/actions"):
            actions = self._data[name].get(layout.ACTIONS)
            if not isinstance(actions, h5py.Dataset):
                raise DatasetFormatError(f"{self.path}: data/{name} has no 'actions' dataset")
            return int(actions.shape[0])

    def check_lengths(self, name: str) -> None:
        problems = length_problems(self._data[name], name)
        if problems:
            more = ""
            if len(problems) > 1:
                more = f" (and {len(problems) - 1} more; run 'mimicforge validate {self.path}')"
            raise DatasetFormatError(f"{self.path}: {problems[0]}{more}")

    def demo(self, name: str, parts: Sequence[str] = ("actions", "datagen_info", "obs", "initial_state", "states"),
             require_datagen_info: bool = False) -> Demo:
        """Load one demo. ``parts`` limits what is read; lengths are always checked first."""
        if name not in self._data:
            raise DatasetFormatError(f"{self.path}: no demo named {name!r}")
        self.check_lengths(name)
        g = self._data[name]
        with reading(self.path, f"data/{name}"):
            kw: dict[str, Any] = {
                "name": name,
                "num_samples": int(g[layout.ACTIONS].shape[0]),
                "success": bool(g.attrs.get(layout.ATTR_SUCCESS, False)),
            }
            if "actions" in parts:
                kw["actions"] = g[layout.ACTIONS][()]
            if "datagen_info" in parts or require_datagen_info:
                kw["datagen_info"] = self._datagen_info(g, name, require_datagen_info)
            if "obs" in parts and layout.OBS in g:
                kw["obs"] = {k: v for k, v in read_tree(g[layout.OBS]).items() if k != "datagen_info"}
            if "initial_state" in parts and layout.INITIAL_STATE in g:
                kw["initial_state"] = read_tree(g[layout.INITIAL_STATE])
            if "states" in parts and layout.STATES in g:
                kw["states"] = read_tree(g[layout.STATES])
            if "extra" in parts:
                known = {layout.ACTIONS, layout.OBS, layout.INITIAL_STATE, layout.STATES}
                kw["extra"] = {k: (read_tree(v) if isinstance(v, h5py.Group) else v[()])
                               for k, v in g.items() if k not in known}
            if self.format_version == XYZW:
                for part in ("obs", "initial_state", "states"):
                    if part in kw:
                        kw[part] = convert_part(part, kw[part], to_xyzw=False)
        return Demo(**kw)

    def _datagen_info(self, g: h5py.Group, name: str, required: bool) -> DatagenInfo | None:
        info = g.get(layout.DATAGEN_INFO)
        if info is None:
            if required:
                raise DatasetFormatError(f"{self.path}: data/{name} has no obs/datagen_info; {layout.ANNOTATE_HINT}")
            return None
        missing = [k for k in layout.DATAGEN_KEYS if k not in info]
        if missing:
            raise DatasetFormatError(
                f"{self.path}: data/{name}/obs/datagen_info lacks {', '.join(missing)}; {layout.ANNOTATE_HINT}"
            )
        tree = read_tree(info)
        for key in ("eef_pose", "object_pose", "target_eef_pose"):
            for sub, arr in tree[key].items():
                if not isinstance(arr, np.ndarray) or arr.ndim != 3 or arr.shape[1:] != (4, 4):
                    raise DatasetFormatError(
                        f"{self.path}: data/{name}/obs/datagen_info/{key}/{sub} has shape "
                        f"{getattr(arr, 'shape', None)}; expected (steps, 4, 4) pose matrices"
                    )
        signals = {k: np.asarray(v).astype(bool) for k, v in tree["subtask_term_signals"].items()}
        return DatagenInfo(tree["eef_pose"], tree["object_pose"], tree["target_eef_pose"], signals)

    def __iter__(self) -> Iterator[Demo]:
        for name in self.demo_names:
            yield self.demo(name)


@dataclass(frozen=True)
class SourceDataset:
    """An annotated source dataset, loaded whole: what MimicGen generates from."""

    path: Path
    env_name: str
    demos: tuple[Demo, ...]
    format_version: int = 0  # the file's (quaternions in ``demos`` are WXYZ whatever it is)

    def boundaries(self, order: Sequence[str]) -> list[list[int]]:
        return [d.subtask_boundaries(order) for d in self.demos]


def load_source_dataset(path: str | os.PathLike[str], signals: Sequence[str] | None = None) -> SourceDataset:
    """Load every demo's actions and datagen_info; check each demo has every subtask signal turning True.

    ``signals`` is the task's ordered list of subtask termination signals (None: every signal in the file,
    in the order they first fire).
    """
    with DatasetReader(path) as r:
        demos = tuple(r.demo(n, parts=("actions", "datagen_info", "initial_state"), require_datagen_info=True)
                      for n in r.demo_names)
        env_name = r.env_name
        format_version = r.format_version
    for d in demos:
        assert d.datagen_info is not None
        order = list(signals) if signals is not None else signal_order(d.datagen_info.subtask_term_signals,
                                                                          f"{path}: {d.name}")
        subtask_boundaries(d.datagen_info.subtask_term_signals, order, d.num_samples, f"{path}: {d.name}")
    return SourceDataset(Path(path), env_name, demos, format_version)
