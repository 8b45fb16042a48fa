"""What an Isaac Lab Mimic demo becomes in a LeRobot v3.0 dataset: features, names, conventions, frames.

Key by key (docs/lerobot.md has the full table):

- ``action`` (float32, 7): ``data/demo_k/actions``, the recorded IK-Rel actions, unchanged.
- ``observation.state`` (float32): the ``--state-keys`` obs terms side by side, by default ``eef_pos`` (3),
  ``eef_quat`` (4), ``gripper_pos`` (2): the low-dim terms of Isaac Lab's robomimic config but ``object``.
- ``observation.environment_state`` (float32, 7 per object): each object's position and quaternion, the first
  columns of ``obs/object``.
- ``observation.images.<camera>`` (video): rgb frames from the demo's image observations (``obs/<camera>``)
  or from the run's image folders (``<camera>_rgb/demo_k/step_t.png``, steps 0..T-1: the scene before each
  action, as every ``obs`` row).

Quaternions are exported (x, y, z, w) whatever the file's ``format_version`` (legacy files store w, x, y, z
and are converted); each element's ``names`` entry says which it is (``eef_quat.qx`` ... ``eef_quat.qw``).
Nothing here imports LeRobot: the plan is checked against the whole file before anything is written.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from mimicforge.datasets import layout
from mimicforge.datasets.quaternions import LEGACY_WXYZ, convert_part
from mimicforge.datasets.reader import DatasetReader
from mimicforge.errors import ConfigError, DatasetFormatError
from mimicforge.tasks import FRANKA_STACK, REGISTRY, TaskSpec

QUATERNION_ORDER = "xyzw"
DEFAULT_STATE_KEYS = ("eef_pos", "eef_quat", "gripper_pos")
OBJECT_KEY = "object"  # per object position (3) and quaternion (4), then relative positions
IMAGE_SOURCES = ("auto", "obs", "folders", "none")
ROBOT_TYPE = "franka"
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")
_FINGERS = ("panda_finger_joint1", "panda_finger_joint2")
_ARM = tuple(f"panda_joint{i}" for i in range(1, 8))


def pose_names(prefix: str) -> list[str]:
    return [f"{prefix}.{c}" for c in ("x", "y", "z", "qx", "qy", "qz", "qw")]


def element_names(key: str, width: int, objects: Sequence[str]) -> list[str]:
    """Per-element names of one obs term (``key.element``); quaternions in (x, y, z, w) order."""
    xyz = ("x", "y", "z")
    known: dict[str, list[str]] = {
        "eef_pos": [f"eef_pos.{c}" for c in xyz],
        "eef_quat": [f"eef_quat.{c}" for c in ("qx", "qy", "qz", "qw")],
        "gripper_pos": [f"gripper_pos.{j}" for j in _FINGERS],
        "joint_pos": [f"joint_pos.{j}" for j in (*_ARM, *_FINGERS)],
        "joint_vel": [f"joint_vel.{j}" for j in (*_ARM, *_FINGERS)],
        "cube_positions": [f"{o}.{c}" for o in objects for c in xyz],
        "cube_orientations": [f"{o}.{c}" for o in objects for c in ("qx", "qy", "qz", "qw")],
    }
    if len(objects) == 3:
        rel = [f"gripper_to_{o}" for o in objects] + ["cube_1_to_2", "cube_2_to_3", "cube_1_to_3"]
        known[OBJECT_KEY] = [n for o in objects for n in pose_names(o)] + [f"{r}.{c}" for r in rel for c in xyz]
    names = known.get(key)
    if names is not None and len(names) == width:
        return names
    return [f"{key}.{i}" for i in range(width)]


def parse_demos(spec: str | None, available: Sequence[str]) -> list[str]:
    """``--demos``: names or numbers, comma-separated, ranges ``a-b`` inclusive; None: every demo in file order."""
    if not spec:
        return list(available)
    out: list[str] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        m = re.fullmatch(r"(?:demo_)?(\d+)(?:-(?:demo_)?(\d+))?", part)
        if not m:
            raise ConfigError(f"--demos {spec!r}: {part!r} is not a demo name, number or range (e.g. 0,3,10-19)")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if hi < lo:
            raise ConfigError(f"--demos {spec!r}: range {part!r} runs backwards")
        out.extend(f"demo_{k}" for k in range(lo, hi + 1))
    missing = [d for d in out if d not in set(available)]
    if missing:
        raise ConfigError(f"--demos {spec!r}: {missing[0]} is not in the dataset ({len(available)} demos: "
                          f"{', '.join(available[:3])}{', ...' if len(available) > 3 else ''})")
    return list(dict.fromkeys(out))


def _csv(value: str | Sequence[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(s.strip() for s in items if s.strip())


@dataclass(frozen=True)
class Feature:
    key: str
    dtype: str
    shape: tuple[int, ...]
    names: list[str] | None

    def to_lerobot(self) -> dict[str, Any]:
        return {"dtype": self.dtype, "shape": self.shape, "names": self.names}


@dataclass(frozen=True)
class Plan:
    """Everything the export needs, resolved and checked against the file."""

    source: Path
    env_name: str
    format_version: int
    fps: int
    fps_from: str  # where the rate came from: the file's sim_args, the task registry, or --fps
    task: str
    demos: tuple[str, ...]  # exported, in order
    lengths: tuple[int, ...]
    skipped: tuple[str, ...]  # unsuccessful demos left out
    state_keys: tuple[str, ...]
    features: dict[str, Feature]
    images: str  # obs | folders | none
    cameras: tuple[str, ...] = ()
    output_dir: Path | None = None  # image folders, with images == "folders"
    robot_type: str = ROBOT_TYPE

    @property
    def total_frames(self) -> int:
        return sum(self.lengths)

    def lerobot_features(self) -> dict[str, dict[str, Any]]:
        return {k: f.to_lerobot() for k, f in self.features.items()}

    def provenance(self) -> dict[str, Any]:
        """What ``meta/mimicforge.json`` records beside the dataset."""
        return {"source": str(self.source), "env_name": self.env_name, "format_version": self.format_version,
                "quaternion_order": QUATERNION_ORDER, "fps": self.fps, "fps_from": self.fps_from,
                "state_keys": list(self.state_keys), "images": self.images, "cameras": list(self.cameras),
                "episodes": list(self.demos), "skipped_unsuccessful": list(self.skipped)}


def _task_spec(env_name: str) -> TaskSpec | None:
    entry = REGISTRY.get(env_name)
    return entry.spec if entry is not None else None


def _fps(env_args: Mapping[str, Any], spec: TaskSpec | None, override: int | None, path: Path) -> tuple[int, str]:
    if override is not None:
        if override <= 0:
            raise ConfigError(f"--fps {override}: expected a positive integer, e.g. --fps 20")
        return override, "--fps"
    sim = env_args.get("sim_args")
    if isinstance(sim, Mapping) and "dt" in sim and "decimation" in sim:
        try:
            rate = 1.0 / (float(sim["dt"]) * float(sim["decimation"]))
            where = "the file's sim_args (1 / (dt x decimation))"
        except (TypeError, ValueError, ZeroDivisionError):
            raise DatasetFormatError(f"{path}: env_args sim_args dt={sim['dt']!r}, decimation={sim['decimation']!r} "
                                     "do not give a control rate; pass --fps") from None
    elif spec is not None:
        rate, where = 1.0 / spec.step_dt, "the task registry"
    else:
        raise ConfigError(f"{path}: the control rate is not recorded (no sim_args in env_args) and env "
                          f"{env_args.get('env_name', '')!r} is not a known task; pass --fps, e.g. --fps 20")
    if not math.isfinite(rate) or abs(rate - round(rate)) > 1e-6 or round(rate) <= 0:
        raise DatasetFormatError(f"{path}: the control rate from {where} is {rate:g} Hz, not a whole number of frames "
                                 "per second (LeRobot needs one); pass --fps")
    return int(round(rate)), where


def _rgb_obs_cameras(obs: h5py.Group) -> list[str]:
    """Image observations that are rgb frames (uint8, (T, H, W, 3)), as Isaac Lab's Visuomotor tasks record them."""
    out = []
    for key, ds in obs.items():
        if isinstance(ds, h5py.Dataset) and ds.dtype == np.uint8 and ds.ndim == 4 and ds.shape[3] == 3:
            out.append(key)
    return out


def _folder_cameras(output_dir: Path, dataset: Path, demo_index: int, candidates: Sequence[str]) -> list[str]:
    from mimicforge.outputs import demo_frames_dir

    return [c for c in candidates if demo_frames_dir(output_dir, dataset, c, "rgb", demo_index).is_dir()]


def _folder_frame_count(output_dir: Path, dataset: Path, camera: str, demo_index: int) -> int:
    from mimicforge.media.sources import FolderSource

    return FolderSource(output_dir, dataset, camera, demo_index).count("rgb")


def plan_export(dataset: str | os.PathLike[str], *, task: str | None = None, demos: str | None = None,
                images: str = "auto", cameras: str | Sequence[str] | None = None,
                state_keys: str | Sequence[str] | None = None, fps: int | None = None,
                output_dir: str | os.PathLike[str] = "output", include_failed: bool = False) -> Plan:
    """Resolve the export of ``dataset`` and check every selected demo (keys, shapes, frames) before writing."""
    path = Path(dataset)
    if images not in IMAGE_SOURCES:
        raise ConfigError(f"--images {images!r}: expected one of {', '.join(IMAGE_SOURCES)}")
    keys = _csv(state_keys) or DEFAULT_STATE_KEYS
    wanted_cams = _csv(cameras)
    with DatasetReader(path) as r:
        env_name, env_args, version = r.env_name, r.env_args, r.format_version
        spec = _task_spec(env_name)
        rate, rate_from = _fps(env_args, spec, fps, path)
        text = task if task is not None else (spec.instruction if spec is not None else "")
        if not text.strip():
            raise ConfigError(f"{path}: env {env_name!r} is not a known task, so there is no task text; pass --task "
                              "'what the robot does'")
        selected = parse_demos(demos, r.demo_names)
        if not selected:
            raise DatasetFormatError(f"{path} holds no demos; generate some first (mimicforge generate)")
        chosen, skipped = [], []
        for name in selected:
            success = bool(r.group(name).attrs.get(layout.ATTR_SUCCESS, False))
            (chosen if include_failed or success else skipped).append(name)
        if not chosen:
            raise DatasetFormatError(f"{path}: none of the {len(selected)} selected demos is marked successful; pass "
                                     "--include-failed to export them anyway")
        objects = spec.object_names if spec is not None else FRANKA_STACK.object_names
        layout_names = (spec or FRANKA_STACK).action_layout
        first = r.group(chosen[0])
        lengths = []
        widths: dict[str, int] = {}
        for name in chosen:
            r.check_lengths(name)
            g = r.group(name)
            lengths.append(int(g[layout.ACTIONS].shape[0]))
            if lengths[-1] == 0:
                raise DatasetFormatError(f"{path}: {name} has no steps; drop it with --demos")
            obs = g.get(layout.OBS)
            for key in (*keys, OBJECT_KEY):
                ds = obs.get(key) if obs is not None else None
                if ds is None:
                    if key == OBJECT_KEY:
                        continue
                    present = ", ".join(sorted(k for k in (obs or {}) if k != "datagen_info")) or "none"
                    raise DatasetFormatError(f"{path}: {name}/obs has no {key!r} (present: {present}); choose "
                                             "--state-keys among those")
                if not isinstance(ds, h5py.Dataset) or ds.ndim != 2 or not np.issubdtype(ds.dtype, np.number):
                    raise DatasetFormatError(f"{path}: {name}/obs/{key} is {getattr(ds, 'dtype', 'a group')} "
                                             f"{getattr(ds, 'shape', '')}; state terms must be numeric (steps, n)")
                if widths.setdefault(key, ds.shape[1]) != ds.shape[1]:
                    raise DatasetFormatError(f"{path}: {name}/obs/{key} has {ds.shape[1]} columns, {chosen[0]} has "
                                             f"{widths[key]}; export demos of one task at a time")
        action_dim = int(first[layout.ACTIONS].shape[1])
        action_names = (list(layout_names.pose + layout_names.gripper) if action_dim == layout_names.dim
                        else [f"action.{i}" for i in range(action_dim)])
        features: dict[str, Feature] = {
            "action": Feature("action", "float32", (action_dim,), action_names),
            "observation.state": Feature(
                "observation.state", "float32", (sum(widths[k] for k in keys),),
                [n for k in keys for n in element_names(k, widths[k], objects)]),
        }
        if widths.get(OBJECT_KEY, 0) >= 7 * len(objects):
            features["observation.environment_state"] = Feature(
                "observation.environment_state", "float32", (7 * len(objects),),
                [n for o in objects for n in pose_names(o)])
        mode, cams, out_dir = _plan_images(path, r, chosen, lengths, images, wanted_cams, Path(output_dir), spec)
        for cam, shape in cams.items():
            features[f"observation.images.{cam}"] = Feature(f"observation.images.{cam}", "video", shape,
                                                            ["height", "width", "channels"])
    return Plan(source=path, env_name=env_name, format_version=version, fps=rate, fps_from=rate_from, task=text,
                demos=tuple(chosen), lengths=tuple(lengths), skipped=tuple(skipped), state_keys=keys,
                features=features, images=mode, cameras=tuple(cams), output_dir=out_dir)


def _plan_images(path: Path, r: DatasetReader, demos: Sequence[str], lengths: Sequence[int], images: str,
                 wanted: tuple[str, ...] | None, output_dir: Path, spec: TaskSpec | None,
                 ) -> tuple[str, dict[str, tuple[int, int, int]], Path | None]:
    """The image source, cameras and frame shapes; every selected demo checked to have every frame."""
    if images == "none":
        return "none", {}, None
    first_obs = r.group(demos[0]).get(layout.OBS)
    in_obs = _rgb_obs_cameras(first_obs) if first_obs is not None else []
    mode = images
    if mode == "auto":
        mode = "obs" if in_obs else "folders"
    if mode == "obs":
        cams = list(wanted) if wanted is not None else in_obs
        for cam in cams:
            if cam not in in_obs:
                raise DatasetFormatError(f"{path}: {demos[0]}/obs has no rgb images {cam!r} (present: "
                                         f"{', '.join(in_obs) or 'none'}); generate with --image-obs {cam} or choose "
                                         "--cameras among those")
        shapes: dict[str, tuple[int, int, int]] = {}
        for name in demos:
            obs = r.group(name)[layout.OBS]
            for cam in cams:
                ds = obs.get(cam)
                shape = tuple(int(s) for s in ds.shape[1:]) if isinstance(ds, h5py.Dataset) and ds.ndim == 4 else None
                if ds is None or ds.dtype != np.uint8 or shape is None or shape[2] != 3:
                    raise DatasetFormatError(f"{path}: {name}/obs/{cam} is missing or not uint8 rgb (T, H, W, 3)")
                if shapes.setdefault(cam, shape) != shape:  # type: ignore[arg-type]
                    raise DatasetFormatError(f"{path}: {name}/obs/{cam} frames are {shape[0]}x{shape[1]}, "
                                             f"{demos[0]}'s are {shapes[cam][0]}x{shapes[cam][1]}; one size per camera")
        return ("obs" if cams else "none"), shapes, None
    # folders: the dataset's own <camera>_rgb/demo_k/step_t.png, found through outputs.demo_frames_dir
    indices = [layout.demo_index(n) for n in demos]
    candidates = list(dict.fromkeys([*(spec.cameras if spec is not None else ()), "table_cam", "wrist_cam",
                                     "table_high_cam"]))
    cams = list(wanted) if wanted is not None else _folder_cameras(output_dir, path, indices[0], candidates)  # type: ignore[arg-type]
    if not cams:
        if images == "auto":
            return "none", {}, None
        raise DatasetFormatError(f"no rgb image folders for {demos[0]} under {output_dir} (looked for "
                                 f"{', '.join(c + '_rgb' for c in candidates)}); pass --output-dir where the run "
                                 "wrote them, --cameras, or --images none")
    from mimicforge.media.sources import FolderSource

    shapes = {}
    for name, k, t in zip(demos, indices, lengths, strict=True):
        for cam in cams:
            n = _folder_frame_count(output_dir, path, cam, k)  # type: ignore[arg-type]
            if n < t:
                raise DatasetFormatError(f"image folder {cam}_rgb for {name} under {output_dir} has {n} frames, the "
                                         f"demo {t} steps; pass --output-dir of the run that wrote {path.name}, or "
                                         "--images none")
    for cam in cams:
        frame = FolderSource(output_dir, path, cam, indices[0]).frame("rgb", 0)  # type: ignore[arg-type]
        shapes[cam] = (int(frame.shape[0]), int(frame.shape[1]), 3)
    return "folders", shapes, output_dir


def check_repo_id(repo_id: str) -> str:
    if not _REPO_ID.match(repo_id):
        raise ConfigError(f"--repo-id {repo_id!r}: expected OWNER/NAME (letters, digits, '-', '_', '.'), "
                          "e.g. --repo-id local/franka_stack")
    return repo_id


def read_episode(f: h5py.File, plan: Plan, name: str) -> dict[str, np.ndarray]:
    """One demo's low-dim frames as exported: ``action``, ``observation.state`` and, when planned,
    ``observation.environment_state``, each (T, n) float32, quaternions (x, y, z, w)."""
    g = f[layout.DATA][name]
    obs_keys = [*plan.state_keys]
    env_state = "observation.environment_state" in plan.features
    if env_state and OBJECT_KEY not in obs_keys:
        obs_keys.append(OBJECT_KEY)
    obs = {k: np.asarray(g[layout.OBS][k][()]) for k in obs_keys}
    if plan.format_version == LEGACY_WXYZ:  # stored (w, x, y, z): reorder to the exported (x, y, z, w)
        obs = convert_part("obs", obs, to_xyzw=True)
    out = {
        "action": np.asarray(g[layout.ACTIONS][()], dtype=np.float32),
        "observation.state": np.concatenate([obs[k].astype(np.float32) for k in plan.state_keys], axis=1),
    }
    if env_state:
        out["observation.environment_state"] = obs[OBJECT_KEY][:, :plan.features[
            "observation.environment_state"].shape[0]].astype(np.float32)
    return out


def iter_images(f: h5py.File, plan: Plan, name: str, camera: str, length: int) -> Iterator[np.ndarray]:
    """The rgb frames of one camera for one demo, (H, W, 3) uint8, one per step (the scene before each action)."""
    if plan.images == "obs":
        frames = f[layout.DATA][name][layout.OBS][camera][()]  # one demo at a time
        yield from frames[:length]
        return
    from mimicforge.media.sources import FolderSource

    k = layout.demo_index(name)
    assert plan.output_dir is not None and k is not None
    src = FolderSource(plan.output_dir, plan.source, camera, k)
    expected = plan.features[f"observation.images.{camera}"].shape
    for t in range(length):
        frame = np.asarray(src.frame("rgb", t), dtype=np.uint8)
        if frame.shape != expected:
            raise DatasetFormatError(f"{src.describe('rgb')}: frame {t} is {frame.shape[0]}x{frame.shape[1]}, the "
                                     f"first demo's are {expected[0]}x{expected[1]}; one size per camera")
        yield frame

