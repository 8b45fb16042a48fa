"""Full checks of a dataset file (``mimicforge validate``): what its next consumer needs, by kind of file.

- **annotated source** (any demo has ``obs/datagen_info``): everything ``generate`` reads, in every demo: the
  datagen poses of each end effector and of every object of the task (from the task registry), each subtask
  signal of the task rising once, boundaries that the task's offsets cannot cross, actions of the task's width.
- **training data** (no annotations: a generated file, robomimic's input): the same ``obs`` / ``states`` /
  ``initial_state`` keys, per-step shapes and dtypes in every demo.

Both: array lengths agree with ``actions``, no NaN or infinite value anywhere, the attributes Isaac Lab and
robomimic read. Problems are grouped by kind: one line per kind, with the demos it affects.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import h5py
import numpy as np

from mimicforge.datasets import image_obs, layout
from mimicforge.datasets.reader import DatasetReader, first_change, iter_datasets, length_issues
from mimicforge.errors import DatasetFormatError
from mimicforge.tasks import TASKS, boundary_problem

ANNOTATED = "annotated source"
TRAINING = "training data"
SHOWN = 6  # demos named per line before "... and N more"
_SAME_KEYS = "robomimic and LeRobot need the same keys, dtypes and shapes in every demo"


@dataclass
class Problem:
    """One kind of problem and the demos it affects (none: the file as a whole), each with its own detail."""

    kind: str
    demos: dict[str, str] = field(default_factory=dict)  # demo -> detail ("" when the kind says it all)

    def line(self) -> str:
        if not self.demos:
            return self.kind
        named = [f"{d} ({detail})" if detail else d for d, detail in list(self.demos.items())[:SHOWN]]
        more = len(self.demos) - SHOWN
        count = f"{len(self.demos)} demos: " if len(self.demos) > 1 else ""
        return f"{self.kind}; in {count}{', '.join(named)}" + (f", ... and {more} more" if more > 0 else "")

    def to_json(self) -> dict[str, Any]:
        return {"problem": self.kind, "demos": list(self.demos), "details": {d: x for d, x in self.demos.items() if x}}


@dataclass
class Report:
    path: str
    kind: str  # ANNOTATED or TRAINING
    num_demos: int
    problems: list[Problem] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [p.line() for p in self.problems]

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "kind": self.kind, "num_demos": self.num_demos, "valid": not self.problems,
                "problems": self.lines(), "by_kind": [p.to_json() for p in self.problems]}


class _Findings:
    def __init__(self) -> None:
        self.by_kind: dict[str, Problem] = {}

    def add(self, kind: str, demo: str | None = None, detail: str = "") -> None:
        problem = self.by_kind.setdefault(kind, Problem(kind))
        if demo is not None and demo not in problem.demos:
            problem.demos[demo] = detail


def validate(path: str | os.PathLike[str]) -> list[str]:
    """Every problem found in the file, one line per kind (empty: valid). Raises DatasetFormatError if it is not a
    dataset at all."""
    return check(path).lines()


def check(path: str | os.PathLike[str]) -> Report:
    """The full report behind ``validate`` (``validate --json`` prints ``to_json()``)."""
    found = _Findings()
    with DatasetReader(path) as r:
        try:
            if not r.env_args.get("env_name"):
                found.add("data attribute env_args has no env_name")
        except DatasetFormatError as exc:
            found.add(str(exc).split(": ", 1)[-1])
        annotated = r.is_annotated()
        steps = 0
        for name in r.demo_names:
            steps += _check_demo(r.group(name), name, found)
        _check_same_layout(r, found)
        if annotated:
            _check_source(r, found)
        total_attr = r.data_attrs.get(layout.ATTR_TOTAL)
        if total_attr is None:
            found.add("data lacks the attribute total")
        elif int(total_attr) != steps:
            found.add(f"data attribute total = {int(total_attr)} but the demos hold {steps} steps")
        return Report(str(r.path), ANNOTATED if annotated else TRAINING, len(r.demo_names),
                      list(found.by_kind.values()))


def _check_demo(g: h5py.Group, name: str, found: _Findings) -> int:
    """Checks every consumer needs; returns the demo's steps (0 without usable actions)."""
    for kind, detail in length_issues(g):
        found.add(kind, name, detail.lstrip("/ "))
    for attr in (layout.ATTR_NUM_SAMPLES, layout.ATTR_SUCCESS):
        if attr not in g.attrs:
            found.add(f"demos lack the attribute {attr}", name)
    if isinstance(g.get(layout.OBS), h5py.Group):
        for text in image_obs.problems(name, g[layout.OBS]):
            found.add(text.removeprefix(name + "/"), name)
    for path, ds in iter_datasets(g):
        if ds.dtype.kind in "fc" and ds.size and not np.all(np.isfinite(ds[()])):
            found.add(f"{path} contains NaN or infinite values", name)
    actions = g.get(layout.ACTIONS)
    if isinstance(actions, h5py.Dataset) and actions.ndim >= 1:
        if actions.shape[0] == 0:
            found.add("demos with zero steps", name)
        return int(actions.shape[0])
    return 0


def _layout(g: h5py.Group) -> dict[str, tuple[str, tuple[int, ...]] | None]:
    """path -> (dtype, per-step shape) for each dataset, None for each group; annotations left out."""
    out: dict[str, tuple[str, tuple[int, ...]] | None] = {}

    def walk(group: h5py.Group, prefix: str) -> None:
        for key, item in group.items():
            path = prefix + key
            if path == layout.DATAGEN_INFO:
                continue
            if isinstance(item, h5py.Group):
                out[path] = None
                walk(item, path + "/")
            else:
                out[path] = (item.dtype.name, tuple(item.shape[1:]))

    walk(g, "")
    return out


def _check_same_layout(r: DatasetReader, found: _Findings) -> None:
    """Every demo holds the same keys, with the same dtype and per-step shape (robomimic stacks them)."""
    layouts = {name: _layout(r.group(name)) for name in r.demo_names}
    n = len(layouts)
    have = Counter(path for lay in layouts.values() for path in lay)
    for name, lay in layouts.items():
        for path, count in have.items():
            if path in lay or path.rpartition("/")[0] in have and path.rpartition("/")[0] not in lay:
                continue  # present, or its whole group is missing (reported once, for the group)
            if count <= n / 2:
                continue  # reported from the other side, below
            found.add(f"{path} is missing from some demos ({count} of {n} have it; {_SAME_KEYS})", name)
        for path in lay:
            count = have[path]
            parent = path.rpartition("/")[0]
            if count <= n / 2 and count < n and not (parent and have[parent] == count):
                found.add(f"{path} is only in some demos ({count} of {n}; {_SAME_KEYS})", name)
    by_path: dict[str, Counter] = {}
    for lay in layouts.values():
        for path, sig in lay.items():
            if sig is not None:
                by_path.setdefault(path, Counter())[sig] += 1
    for path, sigs in by_path.items():
        if len(sigs) < 2:
            continue
        (ref_dtype, ref_shape), _ = sigs.most_common(1)[0]
        for name, lay in layouts.items():
            sig = lay.get(path)
            if sig is not None and sig != (ref_dtype, ref_shape):
                found.add(f"{path} is {sig[0]} {_shape(sig[1])} where the other demos have {ref_dtype} "
                          f"{_shape(ref_shape)} ({_SAME_KEYS})", name)


def _shape(per_step: tuple[int, ...]) -> str:
    return "(T" + "".join(f", {d}" for d in per_step) + ")"


def _check_source(r: DatasetReader, found: _Findings) -> None:
    """What ``generate`` reads from an annotated source, in every demo."""
    task = TASKS.get(r.env_name)
    if task is None and r.env_name:  # no env_name at all is reported once, above
        found.add(f"env {r.env_name or '(none)'!r} is no task generate knows ({', '.join(sorted(TASKS))}); "
                  "only the file's own consistency was checked")
    for_task = f"generate needs it for {task.env_name}" if task else "other demos have it"
    infos = {name: r.group(name).get(layout.DATAGEN_INFO) for name in r.demo_names}
    present = {n: i for n, i in infos.items() if isinstance(i, h5py.Group)}

    def names(key: str) -> list[str]:
        return sorted({k for i in present.values() if isinstance(i.get(key), h5py.Group) for k in i[key]})

    eefs = list(task.eef_names) if task else names("eef_pose")
    objects = list(task.object_names) if task else names("object_pose")
    signals = [s for e in eefs for s in task.term_signals(e)] if task else names("subtask_term_signals")
    for name, info in infos.items():
        if name not in present:
            found.add(f"demos without obs/datagen_info in an annotated file (generate reads every demo: drop them, "
                      f"or {layout.ANNOTATE_HINT})", name)
            continue
        missing = [k for k in layout.DATAGEN_KEYS if not isinstance(info.get(k), h5py.Group)]
        for key in missing:
            found.add(f"obs/datagen_info lacks {key}", name)
        wanted = {"eef_pose": eefs, "target_eef_pose": eefs, "object_pose": objects}
        for key, subs in wanted.items():
            if key in missing:
                continue
            for sub in subs:
                if sub not in info[key]:
                    found.add(f"obs/datagen_info/{key} lacks {sub} ({for_task})", name)
            for sub, ds in info[key].items():
                for text in _pose_problems(ds):
                    found.add(f"obs/datagen_info/{key}/{sub} {text}", name)
        if "subtask_term_signals" not in missing:
            _check_signals(info["subtask_term_signals"], signals, name, for_task, found)
            if task:
                _check_boundaries(r, name, info["subtask_term_signals"], task, found)
        actions = r.group(name).get(layout.ACTIONS)
        if task and isinstance(actions, h5py.Dataset) and actions.ndim == 2:
            width = task.action_layout.dim * len(task.eef_names)
            if actions.shape[1] != width:
                found.add(f"actions has {actions.shape[1]} columns; {task.env_name} takes {width}", name)


def _pose_problems(ds: h5py.Dataset) -> list[str]:
    if ds.ndim != 3 or ds.shape[1:] != (4, 4):
        return ["is not (steps, 4, 4) pose matrices"]
    arr = ds[()]
    if not np.all(np.isfinite(arr)):
        return []  # reported with every NaN
    problems = []
    if np.abs(arr[:, 3, :] - np.array([0, 0, 0, 1], dtype=arr.dtype)).max() > 1e-5:
        problems.append("is not a homogeneous transform (last row is not 0 0 0 1)")
    rot = arr[:, :3, :3].astype(np.float64)
    if np.abs(rot @ np.swapaxes(rot, 1, 2) - np.eye(3)).max() > 1e-3:
        problems.append("has a rotation that is not orthonormal")
    return problems


def _check_signals(group: h5py.Group, signals: list[str], name: str, for_task: str, found: _Findings) -> None:
    for sig in signals:
        ds = group.get(sig)
        if not isinstance(ds, h5py.Dataset):
            found.add(f"obs/datagen_info/subtask_term_signals lacks {sig} ({for_task})", name)
            continue
        if ds.dtype != np.bool_:
            found.add(f"subtask signal '{sig}' is not bool", name, str(ds.dtype))
        values = ds[()]
        if first_change(values) is None:
            state = "is True at every step" if values.size and bool(values.flat[0]) else "never turns True"
            found.add(f"subtask signal '{sig}' {state}, so its subtask has no end (re-annotate or drop the demo)",
                      name)


def _check_boundaries(r: DatasetReader, name: str, group: h5py.Group, task: Any, found: _Findings) -> None:
    """The subtask ends generate computes, against the task's offset ranges (Isaac Lab's load-time check)."""
    for eef in task.eef_names:
        sigs = task.term_signals(eef)
        edges = [first_change(group[s][()]) if s in group else None for s in sigs]
        if any(e is None for e in edges):
            return  # reported above
        ends = [int(e) + 2 for e in edges] + [r.length(name)]
        problem = boundary_problem(ends, task.subtasks[eef])
        if problem:
            found.add("subtask boundaries too close for the task's offsets (drop the demo or narrow "
                      "term_offset_range)", name, problem)
