"""Cosmos Transfer inputs from a dataset's camera frames, in the blueprint's or Isaac Lab's flavour.

``--style blueprint`` (NVIDIA's synthetic-manipulation-motion-generation blueprint): per demo and camera, the last
``frames`` (120) shaded-segmentation frames as an mp4 at 24 fps and native size, named
``shaded_segmentation_<cam>_demo_<k>.mp4``, and beside it a request ``<same stem>.json`` holding what its Cosmos
server takes (prompt, seed, sigma_max, control_weight, canny_strength), the ``{"edge": {"control_weight": w}}``
control spec the server builds from it, and the prompt draw. Demos shorter than ``frames`` are skipped.

``--style isaaclab`` (Isaac Lab's ``hdf5_to_mp4.py`` and Cosmos-Transfer1 spec): per demo and camera the rgb, depth
and shaded-segmentation videos ``demo_<k>_<cam>.mp4``, ``demo_<k>_<cam>_depth.mp4`` and
``demo_<k>_<cam>_shaded_segmentation.mp4`` at 30 fps, bicubic-resized to 1280 x 704, and a Cosmos-Transfer1 spec
``demo_<k>_<cam>_spec.json`` with the four controls vis 0.3, edge 0.3, depth 0.6, seg 0.7 and sigma_max 50.

Everything is written into ``<out>.partial`` and renamed to ``out`` at the end, with ``cosmos_inputs.json`` (the
manifest ``submit`` and ``ingest`` read: style, source, each video's demo, camera, frame range and prompt draw).
Every path written into a request, spec or manifest is relative to the folder (a spec's video paths may instead
start with ``base``, where the folder will lie on the GPU node), so the folder can be copied anywhere; every path
read back from one must stay inside the folder (``contained``).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py

from mimicforge.datasets import layout
from mimicforge.errors import ConfigError, DatasetFormatError, OutputExistsError
from mimicforge.media.prompts import DEFAULTS, PromptSet, check_param
from mimicforge.media.shaded import depth_grey, resize_bicubic
from mimicforge.media.sources import FrameSource, close_source, open_source
from mimicforge.outputs import dataset_images

log = logging.getLogger(__name__)

STYLES = ("blueprint", "isaaclab")
MANIFEST = "cosmos_inputs.json"
BLUEPRINT_FPS, BLUEPRINT_FRAMES = 24, 120
ISAACLAB_FPS, ISAACLAB_SIZE, ISAACLAB_SIGMA_MAX = 30, (1280, 704), 50.0
ISAACLAB_WEIGHTS = {"vis": 0.3, "edge": 0.3, "depth": 0.6, "seg": 0.7}
VIDEO_QUALITY = 9  # imageio's libx264 quality (0-10): Cosmos reads edges from these videos


@dataclass
class Prepared:
    out: Path
    style: str
    videos: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"out": str(self.out), "style": self.style, "videos": self.videos, "skipped": self.skipped}


def cosmos_params(prompts: PromptSet, overrides: dict[str, Any]) -> dict[str, Any]:
    """Blueprint server parameters: flags > the prompt file's [cosmos] table > the blueprint's defaults."""
    params = {**DEFAULTS, **prompts.cosmos}
    for k, v in overrides.items():
        if v is not None:
            params[k] = check_param(k, v, f"--{k.replace('_', '-')}")
    return params


def dataset_demos(dataset: Path) -> list[int]:
    if not dataset.is_file():
        raise ConfigError(f"dataset {str(dataset)!r} does not exist")
    try:
        with h5py.File(dataset, "r", locking=False) as f:
            data = f.get(layout.DATA)
            if data is None:
                raise DatasetFormatError(f"{dataset} has no '{layout.DATA}' group; is it an Isaac Lab Mimic dataset?")
            return sorted(i for i in (layout.demo_index(k) for k in data.keys()) if i is not None)
    except OSError as exc:
        raise DatasetFormatError(f"{dataset} is not a readable HDF5 file ({exc})") from None


def parse_demos(spec: str | Sequence[str] | None, available: list[int], dataset: Path) -> list[int]:
    if not spec:
        return available
    items = spec.split(",") if isinstance(spec, str) else [s for part in spec for s in part.split(",")]
    out: list[int] = []
    for item in (s.strip() for s in items):
        if not item:
            continue
        idx = layout.demo_index(item) if item.startswith("demo_") else (int(item) if item.isdigit() else None)
        if idx is None:
            raise ConfigError(f"--demos: {item!r} is not a demo number or name (e.g. 0,3 or demo_0)")
        if idx not in available:
            raise ConfigError(f"--demos: {dataset} has no demo_{idx} (it has {len(available)} demos)")
        out.append(idx)
    return out


def discover_cameras(dataset: Path, output_dir: Path, demo: int) -> list[str]:
    """Cameras with segmentation frames for ``demo``, in the HDF5 (``<cam>_segmentation``) or the folders."""
    cams: set[str] = set()
    with h5py.File(dataset, "r", locking=False) as f:
        obs = f.get(f"{layout.DATA}/demo_{demo}/{layout.OBS}")
        if obs is not None:
            cams |= {k[: -len("_segmentation")] for k in obs.keys() if k.endswith("_segmentation")}
    suffix = "_semantic_segmentation"
    for root in (dataset_images(output_dir, dataset), output_dir):  # the dataset's folder; the old shared layout
        if root.is_dir():
            cams |= {p.name[: -len(suffix)] for p in root.iterdir()
                     if p.name.endswith(suffix) and (p / f"demo_{demo}").is_dir()}
    return sorted(cams)


def _write(frames: Any, path: Path, fps: float) -> int:
    from mimicforge.media.video import write_video

    return write_video(frames, path, fps=fps, quality=VIDEO_QUALITY)


def _blueprint(src: FrameSource, stage: Path, k: int, cam: str, frames: int, prompts: PromptSet,
               params: dict[str, Any], seed_key: list[int], result: Prepared) -> None:
    total = src.shaded_count()
    if total < frames:
        result.skipped.append({"demo": f"demo_{k}", "camera": cam, "frames": total,
                               "reason": f"{total} frames, fewer than {frames}"})
        log.info("skipping demo_%d %s: %d frames, fewer than %d", k, cam, total, frames)
        return
    start = total - frames if frames else 0
    stem = f"shaded_segmentation_{cam}_demo_{k}"
    first = next(src.frames("shaded_segmentation", start, start + 1))
    n = _write(src.frames("shaded_segmentation", start, total), stage / f"{stem}.mp4", BLUEPRINT_FPS)
    draw = prompts.draw(seed_key)
    request = {
        "video": f"{stem}.mp4", "prompt": draw.prompt, "seed": params["seed"], "sigma_max": params["sigma_max"],
        "control_weight": params["control_weight"], "canny_strength": params["canny_strength"],
        "controlnet_specs": {"edge": {"control_weight": params["control_weight"]}},
        "negative_prompt": draw.negative_prompt, "prompt_draw": draw.to_json(),
        "source": {"demo": f"demo_{k}", "camera": cam, "frames": [start, total], "origin": src.origin},
        "fps": BLUEPRINT_FPS, "size": [int(first.shape[1]), int(first.shape[0])], "num_frames": n,
    }
    (stage / f"{stem}.json").write_text(json.dumps(request, indent=2) + "\n", encoding="utf-8")
    result.videos.append({"demo": f"demo_{k}", "camera": cam, "frames": [start, total], "videos": [f"{stem}.mp4"],
                          "request": f"{stem}.json", "prompt_draw": draw.to_json(), "origin": src.origin})


def _isaaclab(src: FrameSource, stage: Path, base: str | None, k: int, cam: str, prompts: PromptSet,
              seed_key: list[int], result: Prepared) -> None:
    for m in ("rgb", "depth"):
        if not src.has(m):
            raise DatasetFormatError(f"{src.describe(m)} is missing: --style isaaclab needs rgb, depth, "
                                     "semantic_segmentation and normals (generate with --modalities "
                                     "rgb,depth,semantic_segmentation,normals), or use --style blueprint")
    total = src.shaded_count()
    if src.count("rgb") != total or src.count("depth") != total:
        raise DatasetFormatError(f"{cam} demo_{k}: rgb {src.count('rgb')}, depth {src.count('depth')} and "
                                 f"segmentation {total} frame counts differ ({src.origin})")
    w, h = ISAACLAB_SIZE
    names = {"rgb": f"demo_{k}_{cam}.mp4", "depth": f"demo_{k}_{cam}_depth.mp4",
             "seg": f"demo_{k}_{cam}_shaded_segmentation.mp4"}
    _write((resize_bicubic(f, w, h) for f in src.frames("rgb")), stage / names["rgb"], ISAACLAB_FPS)
    _write((resize_bicubic(depth_grey(f), w, h) for f in src.frames("depth")), stage / names["depth"], ISAACLAB_FPS)
    _write((resize_bicubic(f[..., :3], w, h) for f in src.frames("shaded_segmentation")), stage / names["seg"],
           ISAACLAB_FPS)
    draw = prompts.draw(seed_key)
    at = {key: f"{base.rstrip('/')}/{name}" if base else name for key, name in names.items()}
    spec = {
        "prompt": draw.prompt, "negative_prompt": draw.negative_prompt,
        "input_video_path": at["rgb"], "sigma_max": ISAACLAB_SIGMA_MAX,
        "vis": {"input_control": at["rgb"], "control_weight": ISAACLAB_WEIGHTS["vis"]},
        "edge": {"control_weight": ISAACLAB_WEIGHTS["edge"]},
        "depth": {"input_control": at["depth"], "control_weight": ISAACLAB_WEIGHTS["depth"]},
        "seg": {"input_control": at["seg"], "control_weight": ISAACLAB_WEIGHTS["seg"]},
    }
    spec_name = f"demo_{k}_{cam}_spec.json"
    (stage / spec_name).write_text(json.dumps(spec, indent=2) + "\n", encoding="utf-8")
    result.videos.append({"demo": f"demo_{k}", "camera": cam, "frames": [0, total], "videos": list(names.values()),
                          "spec": spec_name, "prompt_draw": draw.to_json(), "origin": src.origin})


def prepare(dataset: str | os.PathLike[str], out: str | os.PathLike[str], *, prompts: PromptSet,
            style: str = "blueprint", demos: str | Sequence[str] | None = None,
            cameras: Sequence[str] | None = None, output_dir: str | os.PathLike[str] = "output",
            frames: int = BLUEPRINT_FRAMES, params: dict[str, Any] | None = None, overwrite: bool = False,
            base: str | None = None, on_video: Callable[[dict[str, Any]], None] | None = None) -> Prepared:
    """Write Cosmos Transfer inputs for ``demos`` x ``cameras`` of ``dataset`` into ``out`` (see module doc).
    ``base``: the folder's path on the GPU node, prefixed to the video paths of Isaac Lab style specs (default:
    paths relative to the folder, for ``transfer.py`` run from inside it)."""
    if style not in STYLES:
        raise ConfigError(f"--style {style!r} is not one of {', '.join(STYLES)}")
    if base is not None:
        if style != "isaaclab":
            raise ConfigError("--base is for --style isaaclab specs (paths transfer.py reads on the GPU node); "
                              "blueprint requests are uploaded by cosmos submit and need none")
        if not base.strip() or any(c in base for c in "\n\r\0"):
            raise ConfigError(f"--base {base!r} must be a folder path on the GPU node, e.g. /data/cosmos_il")
        base = base.rstrip("/") or "/"
    if frames < 0:
        raise ConfigError(f"--frames {frames} must be >= 0 (0 = the whole demo)")
    dataset, out, output_dir = Path(dataset), Path(out), Path(output_dir)
    chosen = parse_demos(demos, dataset_demos(dataset), dataset)
    if not chosen:
        raise DatasetFormatError(f"{dataset} holds no demos")
    resolved = cosmos_params(prompts, params or {})
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {str(out)!r} is a file; give a folder for the Cosmos inputs")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise OutputExistsError(f"{out} is not empty; pass --overwrite to replace it or choose another --out")
    stage = out.with_name(f".{out.name}.partial")
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    result = Prepared(out=out, style=style)
    try:
        for k in chosen:
            cams = list(cameras) if cameras else discover_cameras(dataset, output_dir, k)
            if not cams:
                folder = dataset_images(output_dir, dataset)
                raise DatasetFormatError(f"demo_{k} has no segmentation frames in {dataset} (obs/<cam>_segmentation)"
                                         f" or under {folder}/<cam>_semantic_segmentation/; generate with --cameras "
                                         "and --modalities semantic_segmentation,normals, or pass --output-dir")
            for ci, cam in enumerate(cams):
                src = open_source(dataset, output_dir, cam, k)
                seed_key = [int(resolved["seed"]), k, ci]
                try:
                    before = len(result.videos)
                    if style == "blueprint":
                        _blueprint(src, stage, k, cam, frames, prompts, resolved, seed_key, result)
                    else:
                        _isaaclab(src, stage, base, k, cam, prompts, seed_key, result)
                finally:
                    close_source(src)
                if on_video is not None and len(result.videos) > before:
                    on_video(result.videos[-1])
        if not result.videos:
            raise ConfigError(f"no demo has {frames} frames for the blueprint's video length; pass --frames N "
                              "(0 = whole demos) or generate longer demos")
        # names, not this machine's paths: the folder travels to the GPU node and back
        manifest = {"style": style, "dataset": dataset.name, "base": base,
                    "fps": BLUEPRINT_FPS if style == "blueprint" else ISAACLAB_FPS, "frames": frames,
                    "params": resolved if style == "blueprint" else {"sigma_max": ISAACLAB_SIGMA_MAX,
                                                                      **ISAACLAB_WEIGHTS},
                    "prompts": prompts.origin, "videos": result.videos, "skipped": result.skipped}
        (stage / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    if out.exists():
        shutil.rmtree(out)
    stage.rename(out)
    return result


def read_manifest(directory: str | os.PathLike[str]) -> dict[str, Any]:
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise ConfigError(f"{directory} has no {MANIFEST}; make it with: mimicforge cosmos prepare DATASET --out "
                          f"{directory}")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path} is not readable JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("style") not in STYLES:
        raise ConfigError(f"{path} is not a cosmos prepare manifest (no style)")
    if not isinstance(manifest.get("videos"), list) or not all(isinstance(v, dict) for v in manifest["videos"]):
        raise ConfigError(f"{path} has no list of videos; rerun cosmos prepare")
    return manifest


def contained(folder: str | os.PathLike[str], name: object, source: str | os.PathLike[str]) -> Path:
    """``folder / name`` for a file name read from ``source`` (a request or manifest in ``folder``), refused unless
    it is a relative path that stays inside ``folder`` (no absolute path, no ``..``, no link out of it)."""
    folder = Path(folder)
    if not isinstance(name, str) or not name or "\0" in name:
        raise ConfigError(f"{source} names {name!r}, not a file name; rerun cosmos prepare")
    rel = Path(name)
    if rel.is_absolute() or ".." in rel.parts:
        raise ConfigError(f"{source} names {name!r}, outside its folder; only files inside {folder} are read "
                          "(rerun cosmos prepare)")
    path = folder / rel
    if not path.resolve().is_relative_to(folder.resolve()):
        raise ConfigError(f"{source} names {name!r}, which links outside {folder}; only files inside it are read")
    return path


def shade_dataset(dataset: str | os.PathLike[str], *, output_dir: str | os.PathLike[str] = "output",
                  out: str | os.PathLike[str] | None = None, demos: str | Sequence[str] | None = None,
                  cameras: Sequence[str] | None = None, video: bool = False, fps: float = BLUEPRINT_FPS,
                  overwrite: bool = False) -> list[dict[str, Any]]:
    """Shaded-segmentation frames as ``<out>/<cam>_shaded_segmentation/demo_<k>/step_<t>.png`` (the image-folder
    layout, ``out`` defaulting to the dataset's own image folder under ``output_dir``), each folder written under a
    partial name and renamed when whole;
    with ``video`` also ``<out>/<cam>_shaded_segmentation/demo_<k>.mp4`` at ``fps``."""
    from PIL import Image

    from mimicforge.outputs import image_dir, image_path

    dataset, output_dir = Path(dataset), Path(output_dir)
    root = Path(out) if out is not None else dataset_images(output_dir, dataset)
    chosen = parse_demos(demos, dataset_demos(dataset), dataset)
    plan = [(k, cam) for k in chosen
            for cam in (list(cameras) if cameras else discover_cameras(dataset, output_dir, k))]
    if not plan:
        raise DatasetFormatError(f"no segmentation frames for {dataset} in its obs or under "
                                 f"{dataset_images(output_dir, dataset)}; pass "
                                 "--output-dir or generate with --modalities semantic_segmentation,normals")
    for k, cam in plan:
        final = image_dir(root, cam, "shaded_segmentation", k)
        if final.exists() and not overwrite:
            raise OutputExistsError(f"{final} exists; pass --overwrite to replace it")
    written = []
    for k, cam in plan:
        src = open_source(dataset, output_dir, cam, k)
        try:
            n = src.shaded_count()
            final = image_dir(root, cam, "shaded_segmentation", k)
            partial = final.with_name(f".{final.name}.partial")
            shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir(parents=True)
            for t, frame in enumerate(src.frames("shaded_segmentation")):
                Image.fromarray(frame).save(partial / image_path(root, cam, "shaded_segmentation", k, t).name)
            if final.exists():
                shutil.rmtree(final)
            partial.rename(final)
            entry: dict[str, Any] = {"demo": f"demo_{k}", "camera": cam, "frames": n, "folder": str(final),
                                     "origin": src.origin}
            if video:
                mp4 = final.with_suffix(".mp4")
                _write((f[..., :3] for f in src.frames("shaded_segmentation")), mp4, fps)
                entry["video"] = str(mp4)
            written.append(entry)
        finally:
            close_source(src)
    return written
