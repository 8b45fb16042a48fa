"""Summaries (``mimicforge inspect``) and full checks (``mimicforge validate``) of dataset files."""

from __future__ import annotations

import os
from typing import Any

import h5py
import numpy as np

from mimicforge.datasets import image_obs, layout
from mimicforge.datasets.motion import idle_share
from mimicforge.datasets.reader import DatasetReader, length_problems, signal_order, subtask_boundaries
from mimicforge.errors import DatasetFormatError


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


def summarize(path: str | os.PathLike[str]) -> dict[str, Any]:
    """What ``inspect --json`` prints. Raises DatasetFormatError on anything that stops a summary."""
    with DatasetReader(path) as r:
        annotated = r.is_annotated()
        demos = []
        for name in r.demo_names:
            r.check_lengths(name)
            g = r.group(name)
            entry: dict[str, Any] = {
                "name": name,
                "length": r.length(name),
                "success": bool(g.attrs.get(layout.ATTR_SUCCESS, False)),
            }
            if annotated:
                demo = r.demo(name, parts=("datagen_info",), require_datagen_info=True)
                assert demo.datagen_info is not None
                signals = demo.datagen_info.subtask_term_signals
                order = signal_order(signals, f"{r.path}: {name}")
                entry["subtask_signals"] = order
                entry["subtask_boundaries"] = subtask_boundaries(signals, order, entry["length"], f"{r.path}: {name}")
            entry["initial_object_positions"] = _initial_object_positions(g)
            entry.update(_motion(g, entry["length"]))
            demos.append(entry)
        total_attr = r.data_attrs.get(layout.ATTR_TOTAL)
        return {
            "path": str(r.path),
            "env_name": r.env_name,
            "env_args": r.env_args,
            "num_demos": len(demos),
            "num_success": sum(d["success"] for d in demos),
            "total_samples": sum(d["length"] for d in demos),
            "total_attr": None if total_attr is None else int(total_attr),
            "annotated": annotated,
            "format_version": r.format_version,
            "quaternion_order": "xyzw" if r.format_version else "wxyz",
            **_motion_means(demos),
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
    head = f"  {'demo':<10} {'steps':>6} {'ok':>3}"
    if s["annotated"]:
        head += "  subtask ends (signals)"
    lines.append(head)
    for d in s["demos"]:
        row = f"  {d['name']:<10} {d['length']:>6} {'yes' if d['success'] else 'no':>3}"
        if s["annotated"]:
            row += f"  {d['subtask_boundaries']} ({', '.join(d['subtask_signals'])})"
        lines.append(row)
    return "\n".join(lines)


def _check_pose_stack(arr: np.ndarray, where: str) -> list[str]:
    if arr.ndim != 3 or arr.shape[1:] != (4, 4):
        return [f"{where} has shape {arr.shape}; expected (steps, 4, 4)"]
    if not np.all(np.isfinite(arr)):
        return [f"{where} contains NaN or infinite values"]
    problems = []
    if np.abs(arr[:, 3, :] - np.array([0, 0, 0, 1], dtype=arr.dtype)).max() > 1e-5:
        problems.append(f"{where} is not a homogeneous transform (last row is not 0 0 0 1)")
    rot = arr[:, :3, :3].astype(np.float64)
    err = np.abs(rot @ np.swapaxes(rot, 1, 2) - np.eye(3)).max()
    if err > 1e-3:
        problems.append(f"{where} has a rotation that is not orthonormal (error {err:.2g})")
    return problems


def validate(path: str | os.PathLike[str]) -> list[str]:
    """Every problem found in the file (empty: valid). Raises DatasetFormatError if it is not a dataset at all."""
    problems: list[str] = []
    with DatasetReader(path) as r:
        try:
            args = r.env_args
            if not args.get("env_name"):
                problems.append("data attribute env_args has no env_name")
        except DatasetFormatError as exc:
            problems.append(str(exc).split(": ", 1)[-1])
        lengths: dict[str, int] = {}
        annotated = r.is_annotated()
        signal_sets: dict[frozenset[str], str] = {}
        for name in r.demo_names:
            g = r.group(name)
            demo_problems = length_problems(g, name)
            problems += demo_problems
            if "actions" in g and isinstance(g["actions"], h5py.Dataset) and g["actions"].ndim >= 1:
                lengths[name] = int(g["actions"].shape[0])
                if lengths[name] == 0:
                    problems.append(f"{name} has zero steps")
                elif not np.all(np.isfinite(g["actions"][()])):
                    problems.append(f"{name}/actions contains NaN or infinite values")
            if isinstance(g.get("obs"), h5py.Group):
                problems += image_obs.problems(name, g["obs"])
            for attr in (layout.ATTR_NUM_SAMPLES, layout.ATTR_SUCCESS):
                if attr not in g.attrs:
                    problems.append(f"{name} lacks the attribute {attr}")
            if not annotated:
                continue
            info = g.get(layout.DATAGEN_INFO)
            if info is None:
                problems.append(f"{name} has no obs/datagen_info while other demos do; {layout.ANNOTATE_HINT}")
                continue
            missing = [k for k in layout.DATAGEN_KEYS if k not in info]
            if missing:
                problems.append(f"{name}/obs/datagen_info lacks {', '.join(missing)}")
                continue
            for key in ("eef_pose", "object_pose", "target_eef_pose"):
                for sub, ds in info[key].items():
                    problems += _check_pose_stack(ds[()], f"{name}/obs/datagen_info/{key}/{sub}")
            signals = {k: ds[()] for k, ds in info["subtask_term_signals"].items()}
            for sig_name, sig in signals.items():
                if sig.dtype != np.bool_:
                    problems.append(f"{name}/obs/datagen_info/subtask_term_signals/{sig_name} is {sig.dtype}, not bool")
            try:
                signal_order(signals, name)
            except DatasetFormatError as exc:
                problems.append(str(exc).split("; ")[0])
            signal_sets.setdefault(frozenset(signals), name)
        if len(signal_sets) > 1:
            listing = "; ".join(f"{n}: {', '.join(sorted(s))}" for s, n in signal_sets.items())
            problems.append(f"demos disagree on their subtask signals ({listing})")
        total_attr = r.data_attrs.get(layout.ATTR_TOTAL)
        if total_attr is None:
            problems.append("data lacks the attribute total")
        elif int(total_attr) != sum(lengths.values()):
            steps = sum(lengths.values())
            problems.append(f"data attribute total = {int(total_attr)} but the demos hold {steps} steps")
    return problems
