"""Summaries of dataset files (``mimicforge inspect``)."""

from __future__ import annotations

import json
import os
from typing import Any

import h5py

from mimicforge.datasets import layout
from mimicforge.datasets.motion import idle_share
from mimicforge.datasets.reader import DatasetReader, signal_order, subtask_boundaries
from mimicforge.errors import DatasetFormatError
from mimicforge.tasks import TASKS


def _initial_object_positions(group: h5py.Group) -> dict[str, list[float]]:
    objs = group.get(f"{layout.INITIAL_STATE}/rigid_object")
    if not isinstance(objs, h5py.Group):
        return {}
    out = {}
    for name, obj in objs.items():
        pose = obj.get("root_pose")
        if isinstance(pose, h5py.Dataset) and pose.shape[-1] == 7:
            out[name] = [round(float(x), 6) for x in pose[0, :3]]
    return out


def _motion(group: h5py.Group, length: int) -> dict[str, Any]:
    """A demo's idle share (None without ``obs/eef_pos`` and ``obs/gripper_pos``) and, for a generated demo
    that records it, its length over the source segments it was built from."""
    obs = group.get("obs")
    share = None
    if isinstance(obs, h5py.Group) and "eef_pos" in obs and "gripper_pos" in obs:
        share = round(idle_share(obs["eef_pos"][()], obs["gripper_pos"][()]), 4)
    src = group.attrs.get(layout.ATTR_SOURCE_STEPS)
    ratio = round(length / int(src), 4) if src is not None and int(src) > 0 else None
    return {"idle_share": share, "length_ratio": ratio}


def _motion_means(demos: list[dict[str, Any]]) -> dict[str, Any]:
    """Per dataset: mean length, and the mean idle share and length ratio over the demos that have them."""
    def mean(key: str) -> float | None:
        vals = [d[key] for d in demos if d.get(key) is not None]
        return round(sum(vals) / len(vals), 4) if vals else None

    return {"mean_length": round(sum(d["length"] for d in demos) / len(demos), 1) if demos else None,
            "idle_share": mean("idle_share"), "length_ratio": mean("length_ratio")}


def _obs_keys(r: DatasetReader) -> list[dict[str, Any]]:
    """Every ``obs`` key (annotations left out) with its dtype, per-step shape, the demos that hold it and its
    size in memory (uncompressed) and on disk."""
    keys: dict[str, dict[str, Any]] = {}
    for name in r.demo_names:
        obs = r.group(name).get(layout.OBS)
        if not isinstance(obs, h5py.Group):
            continue
        for key, ds in obs.items():
            if not isinstance(ds, h5py.Dataset):
                continue
            k = keys.setdefault(key, {"key": key, "dtype": ds.dtype.name, "shape": list(ds.shape[1:]), "demos": 0,
                                      "bytes": 0, "stored_bytes": 0})
            k["demos"] += 1
            k["bytes"] += int(ds.size * ds.dtype.itemsize)
            k["stored_bytes"] += int(ds.id.get_storage_size())
            if [ds.dtype.name, list(ds.shape[1:])] != [k["dtype"], k["shape"]]:
                k["varies"] = True
    return list(keys.values())


def _failure(g: h5py.Group, env_name: str) -> dict[str, Any]:
    """For a failed demo that records its attempt: the subtask it did not complete (index and name)."""
    raw = g.attrs.get(layout.ATTR_METRICS)
    if raw is None:
        return {}
    try:
        record = json.loads(raw.decode() if isinstance(raw, bytes) else str(raw))
    except json.JSONDecodeError:
        return {}
    index = record.get("failed_subtask")
    if index is None:
        return {}
    task = TASKS.get(env_name)
    subs = next(iter(task.subtasks.values())) if task else ()
    label = ""
    if 0 <= int(index) < len(subs):
        label = subs[int(index)].term_signal or "final"
        label += f": {subs[int(index)].description}" if subs[int(index)].description else ""
    return {"failed_subtask": int(index), "failed_subtask_name": label or None,
            "source_demos": record.get("source_demos")}


def _annotations(r: DatasetReader, name: str, length: int) -> dict[str, Any]:
    demo = r.demo(name, parts=("datagen_info",), require_datagen_info=True)
    assert demo.datagen_info is not None
    signals = demo.datagen_info.subtask_term_signals
    order = signal_order(signals, f"{r.path}: {name}")
    return {"subtask_signals": order,
            "subtask_boundaries": subtask_boundaries(signals, order, length, f"{r.path}: {name}")}


def summarize(path: str | os.PathLike[str]) -> dict[str, Any]:
    """What ``inspect --json`` prints, for any dataset file it can open (raises DatasetFormatError only when it
    cannot): what stops a demo's summary is noted in that demo's ``problem``."""
    with DatasetReader(path) as r:
        annotated = r.is_annotated()
        demos = []
        for name in r.demo_names:
            g = r.group(name)
            actions = g.get(layout.ACTIONS)
            length = int(actions.shape[0]) if isinstance(actions, h5py.Dataset) and actions.ndim else 0
            entry: dict[str, Any] = {"name": name, "length": length,
                                     "success": bool(g.attrs.get(layout.ATTR_SUCCESS, False))}
            try:
                r.check_lengths(name)
                if annotated:
                    entry.update(_annotations(r, name, length))
            except DatasetFormatError as exc:
                entry["problem"] = str(exc).removeprefix(f"{r.path}: ")
            if not entry["success"]:
                entry.update(_failure(g, r.env_name))
            entry["initial_object_positions"] = _initial_object_positions(g)
            entry.update(_motion(g, entry["length"]))
            demos.append(entry)
        total_attr = r.data_attrs.get(layout.ATTR_TOTAL)
        try:
            env_args = r.env_args
        except DatasetFormatError:
            env_args = {}
        return {
            "path": str(r.path),
            "env_name": str(env_args.get("env_name", "")),
            "env_args": env_args,
            "num_demos": len(demos),
            "num_success": sum(d["success"] for d in demos),
            "total_samples": sum(d["length"] for d in demos),
            "total_attr": None if total_attr is None else int(total_attr),
            "annotated": annotated,
            "format_version": r.format_version,
            "quaternion_order": "xyzw" if r.format_version else "wxyz",
            **_motion_means(demos),
            "obs": _obs_keys(r),
            "num_problems": sum("problem" in d for d in demos),
            "demos": demos,
        }


def _pct(x: float | None) -> str:
    return "?" if x is None else f"{x:.1%}"


def format_summary(s: dict[str, Any]) -> str:
    lines = [
        f"{s['path']}",
        f"  env        {s['env_name'] or '(none)'}",
        f"  demos      {s['num_demos']} ({s['num_success']} successful), {s['total_samples']} samples"
        + ("" if s["total_attr"] in (None, s["total_samples"]) else f"  [total attribute says {s['total_attr']}]"),
        f"  annotated  {'yes' if s['annotated'] else 'no'}",
        f"  format     {s.get('format_version', 0)} (quaternions {s.get('quaternion_order', 'wxyz')})",
        f"  motion     mean length {s['mean_length']}, idle share {_pct(s['idle_share'])}"
        + ("" if s["length_ratio"] is None else f", {s['length_ratio']:.2f}x its source segments"),
        "",
    ]
    if s.get("obs"):
        lines.append(f"  {'obs key':<24} {'dtype':<8} {'shape per step':<16} {'demos':>5} {'size':>10} {'on disk':>10}")
        for k in s["obs"]:
            shape = "(" + ", ".join(map(str, k["shape"])) + ("," if len(k["shape"]) == 1 else "") + ")"
            sizes = f"{human_size(k['bytes']):>10} {human_size(k['stored_bytes']):>10}"
            lines.append(f"  {k['key']:<24} {k['dtype']:<8} {shape:<16} {k['demos']:>5} {sizes}"
                         + ("  (varies between demos)" if k.get("varies") else ""))
        lines.append("")
    failed = any("failed_subtask" in d for d in s["demos"])
    head = f"  {'demo':<10} {'steps':>6} {'ok':>3}"
    if s["annotated"]:
        head += "  subtask ends (signals)"
    if failed:
        head += "  failed in subtask"
    lines.append(head)
    for d in s["demos"]:
        row = f"  {d['name']:<10} {d['length']:>6} {'yes' if d['success'] else 'no':>3}"
        if s["annotated"] and "subtask_boundaries" in d:
            row += f"  {d['subtask_boundaries']} ({', '.join(d['subtask_signals'])})"
        if "failed_subtask" in d:
            row += f"  {d['failed_subtask']}" + (f" ({d['failed_subtask_name']})" if d["failed_subtask_name"] else "")
        if "problem" in d:
            row += f"  [{d['problem'].split('; ')[0]}]"
        lines.append(row)
    if s.get("num_problems"):
        lines.append(f"  {s['num_problems']} demo(s) with problems: 'mimicforge validate {s['path']}' lists them all")
    return "\n".join(lines)


def human_size(n: float) -> str:
    """Bytes in B, kB, MB or GB (powers of 1000)."""
    for unit in ("B", "kB", "MB"):
        if n < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"
