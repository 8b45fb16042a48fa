"""The way back from Cosmos: augmented videos into a dataset whose demos carry them as image observations.

Videos are matched to (demo, camera) by the names ``cosmos prepare`` wrote: a blueprint folder's results through its
manifest (``--from``), Isaac Lab style videos by their names ``demo_<k>_<camera>[_<variant>].mp4`` (``--videos``),
where the camera must be one of ``cameras`` and a control video (``..._depth``, ``..._shaded_segmentation``, ...)
is refused: all such problems in one line, before anything is written. Every camera of one source demo (and
variant) goes into one demo of the output: a full copy of its source demo (actions, states, datagen info,
attributes, less the per-attempt ones ``layout.PER_ATTEMPT_ATTRS``, which stay with the source), whose
``obs/<camera>`` (Isaac Lab's Visuomotor rgb key, uint8 (T, H, W, 3)) holds that camera's video, resized (bilinear)
to the size the key already has, or to ``size`` (default 200 x 200, the Visuomotor task's) when the demo has none.
Demos are numbered ``demo_0..``; each records ``augmented_from`` (source demo) and ``augmented_videos`` (JSON,
camera to file name). With ``keep_originals`` the source demos come first, unchanged, as Isaac Lab's
``mp4_to_hdf5.py`` does.

A video must cover its whole demo: one frame per step (a last extra frame, the state after the final action, is
dropped). The blueprint's default videos hold only a demo's last 120 frames; prepare with ``--frames 0`` to augment
whole demos for training.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from mimicforge.datasets import layout, lock
from mimicforge.datasets.writer import companion
from mimicforge.errors import ConfigError, DatasetFormatError, OutputExistsError
from mimicforge.media.cosmos import MANIFEST, contained, read_manifest
from mimicforge.media.cosmos_client import result_path
from mimicforge.media.shaded import resize_bilinear

DEFAULT_SIZE = (200, 200)  # (width, height) of Isaac Lab's Visuomotor cameras
DEFAULT_CAMERAS = ("table_cam",)
_VIDEO_NAME = re.compile(r"^demo_(\d+)_(.+)\.mp4$")
# Cosmos-Transfer1's control inputs (and the names prepare gives them): never augmented frames.
CONTROLS = ("shaded_segmentation", "semantic_segmentation", "segmentation", "seg", "depth", "normals", "edge", "canny",
            "vis", "blur", "keypoint", "hdmap", "lidar")


@dataclass(frozen=True)
class Augmented:
    demo: int  # source demo index
    camera: str
    video: Path
    window: tuple[int, int] | None = None  # source frames the video was made from, when known
    variant: str = ""  # tells apart several augmentations of one demo (demo_<k>_<camera>_<variant>.mp4)


def from_prepared(directory: str | os.PathLike[str]) -> list[Augmented]:
    """Results that ``cosmos submit`` saved beside the requests of a blueprint-style folder."""
    d = Path(directory)
    manifest = read_manifest(d)
    if manifest["style"] != "blueprint":
        raise ConfigError(f"{d} holds --style isaaclab inputs, whose results come from transfer.py; pass the folder "
                          "of augmented demo_<k>_<camera>.mp4 files with --videos")
    found = []
    for entry in manifest["videos"]:
        res = result_path(contained(d, entry.get("request"), d / MANIFEST))
        if res.is_file():
            demo = layout.demo_index(str(entry.get("demo")))
            if demo is None or not isinstance(entry.get("camera"), str):
                raise ConfigError(f"{d / MANIFEST}: entry {entry.get('request')!r} names no demo and camera; "
                                  "rerun cosmos prepare")
            found.append(Augmented(demo, entry["camera"], res, (int(entry["frames"][0]), int(entry["frames"][1]))))
    if not found:
        raise ConfigError(f"{d} holds no results (*.result.mp4) yet; run: mimicforge cosmos submit {d} --server URL")
    return found


def _manifest_cameras(d: Path) -> list[str] | None:
    if not (d / MANIFEST).is_file():
        return None
    manifest = read_manifest(d)
    if manifest["style"] == "blueprint":
        raise ConfigError(f"{d} is a blueprint-style prepare folder; ingest its results with --from {d}")
    return sorted({str(v["camera"]) for v in manifest["videos"] if isinstance(v.get("camera"), str)})


def _is_control(rest: str, variant: str) -> bool:
    return any(variant == c or variant.startswith(f"{c}_") or rest.endswith(f"_{c}") for c in CONTROLS)


def _few(names: list[str]) -> str:
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def from_videos(directory: str | os.PathLike[str], cameras: Sequence[str] | None = None) -> list[Augmented]:
    """Augmented videos named ``demo_<k>_<camera>[_<variant>].mp4`` (Isaac Lab's convention, the names ``prepare
    --style isaaclab`` gives the rgb video) for ``cameras`` (default: the cameras of the folder's prepare manifest,
    else table_cam). Control videos, unknown cameras and other mp4 names are refused together, in one line."""
    d = Path(directory)
    if not d.is_dir():
        raise ConfigError(f"--videos {str(d)!r} is not a directory")
    known = list(cameras) if cameras else (_manifest_cameras(d) or list(DEFAULT_CAMERAS))
    by_length = sorted(known, key=len, reverse=True)  # table_high_cam before table_cam
    found: list[Augmented] = []
    controls: list[str] = []
    unknown: list[str] = []
    unnamed: list[str] = []
    for p in sorted(d.iterdir()):
        if p.suffix != ".mp4" or not p.is_file():
            continue
        m = _VIDEO_NAME.match(p.name)
        rest = m.group(2) if m else p.stem
        camera = next((c for c in by_length if rest == c or rest.startswith(f"{c}_")), None)
        variant = rest[len(camera) + 1:] if camera else ""
        if _is_control(rest, variant) or (m is None and any(c in p.stem for c in CONTROLS)):
            controls.append(p.name)
        elif m is None:
            unnamed.append(p.name)
        elif camera is None:
            unknown.append(p.name)
        else:
            found.append(Augmented(int(m.group(1)), camera, p, variant=variant))
    problems = []
    if controls:
        problems.append(f"{len(controls)} control video(s) ({_few(controls)}), Cosmos inputs rather than results")
    if unknown:
        problems.append(f"{len(unknown)} video(s) of a camera other than {', '.join(known)} ({_few(unknown)}; "
                        "pass --cameras to name every camera)")
    if unnamed:
        problems.append(f"{len(unnamed)} video(s) not named demo_<k>_<camera>[_<variant>].mp4 ({_few(unnamed)})")
    if problems:
        raise ConfigError(f"--videos {d}: {'; '.join(problems)}; keep only the augmented demo_<k>_<camera>.mp4 "
                          "results there")
    if not found:
        raise ConfigError(f"{d} holds no demo_<k>_<camera>.mp4 videos (Isaac Lab's naming for augmented demos)")
    return found


def group(videos: Sequence[Augmented]) -> list[tuple[int, str, dict[str, Augmented]]]:
    """(source demo, variant, {camera: video}) in demo order: every camera of one augmented demo together."""
    groups: dict[tuple[int, str], dict[str, Augmented]] = {}
    for v in videos:
        cams = groups.setdefault((v.demo, v.variant), {})
        if v.camera in cams:
            raise ConfigError(f"{cams[v.camera].video.name} and {v.video.name} are both demo_{v.demo}'s {v.camera}"
                              f"{f' ({v.variant})' if v.variant else ''}; keep one of them")
        cams[v.camera] = v
    return [(k, variant, cams) for (k, variant), cams in sorted(groups.items())]


def read_video(path: Path, width: int, height: int) -> np.ndarray:
    """Every frame of ``path`` as uint8 RGB, resized (bilinear) to ``width`` x ``height`` one at a time, so a long
    1280 x 704 video never sits in memory whole."""
    from mimicforge.media.images import imageio_v3

    iio = imageio_v3()
    frames = []
    try:
        for frame in iio.imiter(path, plugin="FFMPEG"):
            f = np.asarray(frame)
            if f.ndim != 3 or f.shape[-1] < 3:
                raise DatasetFormatError(f"{path}: expected colour video frames, got shape {f.shape}")
            frames.append(resize_bilinear(f[..., :3], width, height))
    except DatasetFormatError:
        raise
    except Exception as exc:  # noqa: BLE001 (any decoder failure is a bad input file)
        raise DatasetFormatError(f"{path} is not a readable video ({type(exc).__name__}: {exc})") from None
    if not frames:
        raise DatasetFormatError(f"{path} holds no frames")
    return np.stack(frames)


def _parse_size(size: str | tuple[int, int] | None) -> tuple[int, int]:
    if size is None:
        return DEFAULT_SIZE
    if isinstance(size, tuple):
        return size
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", size)
    if not m or not all(0 < int(v) <= 8192 for v in m.groups()):
        raise ConfigError(f"--size {size!r} must be WIDTHxHEIGHT, e.g. 200x200")
    return int(m.group(1)), int(m.group(2))


def ingest(dataset: str | os.PathLike[str], videos: Sequence[Augmented], out: str | os.PathLike[str], *,
           size: str | tuple[int, int] | None = None, keep_originals: bool = False,
           overwrite: bool = False) -> dict[str, object]:
    """Write ``out``: (optionally the originals, then) one demo per source demo and variant, holding every camera's
    augmented video. Returns a summary. Built in a companion file and renamed over ``out`` when whole."""
    dataset, out = Path(dataset), Path(out)
    default_size = _parse_size(size)
    if not dataset.is_file():
        raise ConfigError(f"dataset {str(dataset)!r} does not exist")
    if out.resolve() == dataset.resolve():
        raise ConfigError(f"{out} is the input dataset; write the augmented dataset to a new file")
    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out} already exists; pass --overwrite to replace it")
    if not out.parent.is_dir():
        raise ConfigError(f"{out.parent}: output directory does not exist; create it first")
    groups = group(videos)
    with lock.held(out):  # one writer per output (a run or a merge writing it is refused in one line)
        tmp = companion(out, "ingesting")
        try:
            made, count = _write(dataset, groups, tmp, default_size, keep_originals)
            os.replace(tmp, out)
        finally:
            tmp.unlink(missing_ok=True)
        return {"output": str(out), "num_demos": count, "augmented": made}


def _write(dataset: Path, groups: list[tuple[int, str, dict[str, Augmented]]], tmp: Path,
           default_size: tuple[int, int], keep_originals: bool) -> tuple[list[dict[str, Any]], int]:
    made: list[dict[str, Any]] = []
    with h5py.File(dataset, "r", locking=False) as src, h5py.File(tmp, "w", locking=False) as dst:
        sdata = src.get(layout.DATA)
        if sdata is None:
            raise DatasetFormatError(f"{dataset} has no '{layout.DATA}' group")
        for k, v in src.attrs.items():  # the dataset format (Isaac Lab 3.0: format_version = 1) stays
            dst.attrs[k] = v
        data = dst.create_group(layout.DATA, track_order=True)
        for k, v in sdata.attrs.items():
            data.attrs[k] = v
        count, total = 0, 0
        if keep_originals:
            for name in sorted((n for n in sdata if layout.demo_index(n) is not None), key=layout.demo_index):
                src.copy(sdata[name], data, name=layout.demo_name(count))
                total += int(sdata[name][layout.ACTIONS].shape[0])
                count += 1
        for demo, variant, cams in groups:
            name = layout.demo_name(demo)
            if name not in sdata:
                first = next(iter(cams.values()))
                raise DatasetFormatError(f"{first.video.name} belongs to {name}, which {dataset} does not hold")
            source = sdata[name]
            steps = int(source[layout.ACTIONS].shape[0])
            frames = {cam: _frames(aug, source, name, steps, default_size) for cam, aug in sorted(cams.items())}
            new = layout.demo_name(count)
            src.copy(source, data, name=new)
            group_ = data[new]
            for attr in layout.PER_ATTEMPT_ATTRS:  # the source demo's attempt, not this one's
                if attr in group_.attrs:
                    del group_.attrs[attr]
            obs = group_.require_group(layout.OBS)
            for cam, images in frames.items():
                if cam in obs:
                    del obs[cam]
                obs.create_dataset(cam, data=images, chunks=(1, *images.shape[1:]), compression="gzip",
                                   compression_opts=4)
            files = {cam: aug.video.name for cam, aug in sorted(cams.items())}
            group_.attrs["augmented_from"] = name
            group_.attrs["augmented_videos"] = json.dumps(files)
            made.append({"demo": new, "from": name, "variant": variant, "videos": files, "frames": steps,
                         "sizes": {cam: [int(im.shape[2]), int(im.shape[1])] for cam, im in frames.items()}})
            total += steps
            count += 1
        data.attrs[layout.ATTR_TOTAL] = np.int64(total)
        data.attrs["augmented"] = json.dumps(made)
    return made, count


def _frames(aug: Augmented, source: h5py.Group, name: str, steps: int, default_size: tuple[int, int]) -> np.ndarray:
    """One camera's augmented frames for ``source``, checked to hold one frame per step."""
    if aug.window is not None and (aug.window[0] != 0 or aug.window[1] < steps):
        raise DatasetFormatError(
            f"{aug.video.name} covers frames {aug.window[0]}..{aug.window[1]} of {name}'s {steps} steps; "
            "image observations need every step: prepare with --frames 0 (whole demos)")
    target = f"{layout.OBS}/{aug.camera}"
    w, h = (source[target].shape[2], source[target].shape[1]) if target in source else default_size
    images = read_video(aug.video, w, h)
    if len(images) == steps + 1:
        images = images[:steps]
    if len(images) != steps:
        raise DatasetFormatError(f"{aug.video} has {len(images)} frames but {name} has {steps} steps; "
                                 "a video must hold one frame per step")
    return images
