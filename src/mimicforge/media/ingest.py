"""The way back from Cosmos: augmented videos into a dataset whose demos carry them as image observations.

Each augmented video becomes one demo of the output: a full copy of its source demo (actions, states, datagen info,
attributes: everything), whose ``obs/<camera>`` (Isaac Lab's Visuomotor rgb key, uint8 (T, H, W, 3)) holds the
video's frames, resized (bilinear) to the size that key already has, or to ``size`` (default 200 x 200, the
Visuomotor task's) when the demo has none. Demos are numbered ``demo_0..``; each records ``augmented_from`` (source
demo) and ``augmented_video`` (file name). With ``keep_originals`` the source demos come first, unchanged, as Isaac
Lab's ``mp4_to_hdf5.py`` does.

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

import h5py
import numpy as np

from mimicforge.datasets import layout, lock
from mimicforge.datasets.writer import companion
from mimicforge.errors import ConfigError, DatasetFormatError, OutputExistsError
from mimicforge.media.cosmos import read_manifest
from mimicforge.media.cosmos_client import result_path
from mimicforge.media.shaded import resize_bilinear

DEFAULT_SIZE = (200, 200)  # (width, height) of Isaac Lab's Visuomotor cameras
_VIDEO_NAME = re.compile(r"^demo_(\d+)_.*\.mp4$")


@dataclass(frozen=True)
class Augmented:
    demo: int  # source demo index
    camera: str
    video: Path
    window: tuple[int, int] | None = None  # source frames the video was made from, when known


def from_prepared(directory: str | os.PathLike[str]) -> list[Augmented]:
    """Results that ``cosmos submit`` saved beside the requests of a blueprint-style folder."""
    d = Path(directory)
    manifest = read_manifest(d)
    if manifest["style"] != "blueprint":
        raise ConfigError(f"{d} holds --style isaaclab inputs, whose results come from transfer.py; pass the folder "
                          "of augmented demo_<k>_*.mp4 files with --videos")
    found = []
    for entry in manifest["videos"]:
        res = result_path(d / entry["request"])
        if res.is_file():
            found.append(Augmented(int(entry["demo"].rsplit("_", 1)[1]), entry["camera"], res,
                                   (int(entry["frames"][0]), int(entry["frames"][1]))))
    if not found:
        raise ConfigError(f"{d} holds no results (*.result.mp4) yet; run: mimicforge cosmos submit {d} --server URL")
    return found


def from_videos(directory: str | os.PathLike[str], camera: str) -> list[Augmented]:
    """Augmented videos named ``demo_<k>_*.mp4`` (Isaac Lab's convention), all for ``camera``."""
    d = Path(directory)
    if not d.is_dir():
        raise ConfigError(f"--videos {str(d)!r} is not a directory")
    found = [Augmented(int(m.group(1)), camera, p) for p in sorted(d.iterdir())
             if (m := _VIDEO_NAME.match(p.name)) and p.is_file()]
    if not found:
        raise ConfigError(f"{d} holds no demo_<k>_*.mp4 videos (Isaac Lab's naming for augmented demos)")
    return found


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
    """Write ``out``: (optionally the originals, then) one demo per augmented video. Returns a summary."""
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
    with lock.held(out):  # one writer per output (a run or a merge writing it is refused in one line)
        return _ingest(dataset, videos, out, default_size, keep_originals)


def _ingest(dataset: Path, videos: Sequence[Augmented], out: Path, default_size: tuple[int, int],
            keep_originals: bool) -> dict[str, object]:
    tmp = companion(out, "ingesting")
    made: list[dict[str, object]] = []
    try:
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
                for name in sorted(sdata, key=lambda n: layout.demo_index(n) if layout.demo_index(n) is not None
                                   else 1 << 30):
                    if layout.demo_index(name) is None:
                        continue
                    src.copy(sdata[name], data, name=layout.demo_name(count))
                    total += int(sdata[name][layout.ACTIONS].shape[0])
                    count += 1
            for aug in videos:
                name = layout.demo_name(aug.demo)
                if name not in sdata:
                    raise DatasetFormatError(f"{aug.video.name} belongs to {name}, which {dataset} does not hold")
                steps = int(sdata[name][layout.ACTIONS].shape[0])
                if aug.window is not None and (aug.window[0] != 0 or aug.window[1] < steps):
                    raise DatasetFormatError(
                        f"{aug.video.name} covers frames {aug.window[0]}..{aug.window[1]} of {name}'s {steps} steps; "
                        "image observations need every step: prepare with --frames 0 (whole demos)")
                target = f"{layout.OBS}/{aug.camera}"
                group = sdata[name]
                w, h = (group[target].shape[2], group[target].shape[1]) if target in group else default_size
                images = read_video(aug.video, w, h)
                if len(images) == steps + 1:
                    images = images[:steps]
                if len(images) != steps:
                    raise DatasetFormatError(f"{aug.video} has {len(images)} frames but {name} has {steps} steps; "
                                             "a video must hold one frame per step")
                new = layout.demo_name(count)
                src.copy(group, data, name=new)
                obs = data[new].require_group(layout.OBS)
                if aug.camera in obs:
                    del obs[aug.camera]
                obs.create_dataset(aug.camera, data=images, chunks=(1, h, w, 3), compression="gzip",
                                    compression_opts=4)
                data[new].attrs["augmented_from"] = name
                data[new].attrs["augmented_video"] = aug.video.name
                made.append({"demo": new, "from": name, "camera": aug.camera, "video": aug.video.name,
                             "frames": steps, "size": [w, h]})
                total += steps
                count += 1
            data.attrs[layout.ATTR_TOTAL] = np.int64(total)
            data.attrs["augmented"] = json.dumps(made)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return {"output": str(out), "num_demos": count, "augmented": made}
