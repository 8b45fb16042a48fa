"""Previews of recorded demos: MP4 (default, small and fast) or GIF, rendered from the recorded states.

Rendering replays the demo's ``states`` into a fresh twin with ``reset_to`` and renders each step, so a
preview needs neither the engine that generated the demo nor a live simulation: it works for files
from Isaac Lab as well as from the twin, at any time after the run.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mimicforge.backends.base import MimicEnv, state_at
from mimicforge.datasets import DatasetReader
from mimicforge.errors import BackendUnavailable, ConfigError, DatasetFormatError
from mimicforge.extras import require
from mimicforge.media.images import IMAGEIO_HINT, imageio_v3, to_png_array
from mimicforge.outputs import check_frame_count, demo_frames_dir
from mimicforge.tasks import FRANKA_STACK

FORMATS = (".mp4", ".gif")


def displayable(modality: str, frame: np.ndarray) -> np.ndarray:
    """An RGB uint8 view of any modality (depth as a grey ramp, segmentation without alpha)."""
    if modality == "depth":
        d = np.asarray(frame, dtype=np.float64)
        finite = d[np.isfinite(d) & (d > 0)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        grey = np.clip((d - lo) / max(hi - lo, 1e-6), 0, 1)
        return np.repeat((255 * (1 - grey)).astype(np.uint8)[..., None], 3, axis=2)
    img = to_png_array(modality, frame)
    return img[..., :3] if img.ndim == 3 else np.repeat(img[..., None], 3, axis=2)


def demo_frames(env: MimicEnv, path: str | os.PathLike[str], demo: str, cameras: Sequence[str],
                modality: str = "rgb", stride: int = 1) -> Iterator[np.ndarray]:
    """Frames of one demo, cameras side by side, from its initial state and every ``stride``-th state."""
    with DatasetReader(path) as r:
        if demo not in r.demo_names:
            raise DatasetFormatError(f"{path} has no demo {demo!r} (it has {', '.join(r.demo_names[:5])}, ...)")
        d = r.demo(demo, parts=("initial_state", "states"))
    if not d.states or not d.initial_state:
        raise DatasetFormatError(f"{path}: {demo} has no recorded states to render")
    rows = [state_at(d.initial_state, 0)] + [state_at(d.states, t) for t in range(0, d.num_samples, stride)]
    for state in rows:
        env.reset_to(state)
        yield np.concatenate([displayable(modality, env.render(c, modality)) for c in cameras], axis=1)


def folder_frames(output_dir: str | os.PathLike[str], dataset: str | os.PathLike[str], cameras: Sequence[str],
                  modality: str, demo_index: int) -> Iterator[np.ndarray] | None:
    """Frames from the image folders of ``dataset``'s demo (cameras side by side), or None if any folder is
    missing; a folder whose frame count does not fit the demo is an error (another run's frames)."""
    iio = imageio_v3()

    folders = [demo_frames_dir(output_dir, dataset, c, modality, demo_index) for c in cameras]
    if not cameras or not all(f.is_dir() for f in folders):
        return None
    steps = [sorted(f.glob("step_*.png")) for f in folders]
    for folder, found in zip(folders, steps):
        check_frame_count(folder, len(found), dataset, demo_index)
    count = min(len(s) for s in steps)

    def frames() -> Iterator[np.ndarray]:
        for t in range(count):
            images = [iio.imread(s[t]) for s in steps]
            yield np.concatenate([displayable(modality, img if modality != "depth" else img / 1000.0)
                                  for img in images], axis=1)

    return frames()


def preview_frames(dataset: str | os.PathLike[str], demo: str, cameras: Any,
                   renderer: MimicEnv | None = None) -> Iterator[np.ndarray]:
    """Frames for a preview of ``demo``: its image folders when the run wrote them, else its recorded
    states rendered by the twin (``renderer``, or a new one at the configured resolution)."""
    index = int(demo.rsplit("_", 1)[-1])
    names = tuple(cameras.cameras) or FRANKA_STACK.cameras
    from_folders = folder_frames(cameras.output_dir, dataset, names, "rgb", index)
    if from_folders is not None:
        return from_folders
    if renderer is None:
        try:
            from mimicforge.backends.mujoco import make_env
            from mimicforge.backends.mujoco.params import CameraParams, TwinParams
        except ImportError:
            raise BackendUnavailable("previews of runs without cameras render on the MuJoCo twin; install it with "
                                     "pip install 'mimicforge[sim]', or generate with CAMERAS set") from None
        renderer = make_env(TwinParams(camera=CameraParams(height=cameras.height, width=cameras.width,
                                                            mesh_detail=cameras.mesh_detail)))
    return demo_frames(renderer, dataset, demo, names)


def write_video(frames: Iterable[np.ndarray], out: str | os.PathLike[str], fps: float = 20.0, quality: int = 7) -> int:
    """Write frames to ``out`` (.mp4 or .gif, by suffix). Returns the number of frames written. ``quality`` is
    imageio's 0-10 scale for mp4 (libx264)."""
    out = Path(out)
    if out.suffix.lower() not in FORMATS:
        raise ConfigError(f"preview file {out} must end in {' or '.join(FORMATS)}")
    imageio = require("imageio.v2", IMAGEIO_HINT)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.partial{out.suffix}")
    count = 0
    try:
        if out.suffix.lower() == ".mp4":
            writer = imageio.get_writer(tmp, format="FFMPEG", fps=fps, codec="libx264", quality=quality,
                                        macro_block_size=2, ffmpeg_log_level="error")
            with writer:
                for frame in frames:
                    writer.append_data(frame)
                    count += 1
        else:  # GIF needs every frame at once; previews are short
            iio = imageio_v3()

            stack = np.stack(list(frames))
            count = len(stack)
            iio.imwrite(tmp, stack, extension=".gif", duration=1000.0 / fps, loop=0)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(out)
    return count
