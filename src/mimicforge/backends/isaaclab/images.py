"""Isaac Lab's camera frames, sorted into the layout both engines share: ``<images>/<camera>_<modality>/demo_<k>/
step_<t>.png``, ``<images>`` being the dataset's own image folder (``outputs.dataset_images``).

Facts this relies on (the Blueprint stack task's ``image`` observation term):

- each camera term saves ``{image_path}_{data_type}_trial_{S}_tile_{e}_step_{n}.png`` on every observation
  compute, where ``S`` is the number of successful episodes exported so far, ``e`` the env (tile) and
  ``n`` the env's global step counter (never reset);
- so the frames of failed attempts carry the same ``S`` as the next success, the reset of the next
  attempt rewrites the last frame of a failed one under the same name (with the new initial state), and
  a success's last frame still carries its own ``S`` (the count rises when it is exported).

Hence, for the success exported as the ``S``-th (0-based) with ``T`` actions, its frames are those of
trial ``S`` with steps ``last - T .. last`` (``last`` = the highest step of trial ``S``): the frame after
``t`` actions becomes ``step_<t>``, as on the embedded engine (``step_0`` after reset, ``step_T`` after
the last action). Every other frame of trial ``S`` belongs to a failed attempt and is deleted. This needs
one env (tile 0): with several, exported demos cannot be traced to their tile, so the driver refuses
cameras with ``NUM_ENVS > 1``.

Frames are moved into a hidden ``.demo_<k>.partial`` folder first and renamed to ``demo_<k>`` only after
the demo is committed to the HDF5 file, the same protocol the embedded engine follows.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mimicforge.errors import ConfigError
from mimicforge.outputs import STEP_DIGITS, ImageFolders

_FRAME = re.compile(r"^(?P<prefix>.+)_trial_(?P<trial>\d+)_tile_(?P<tile>\d+)_step_(?P<step>\d+)\.png$")

Stream = tuple[str, str]  # (camera, modality)


@dataclass(frozen=True)
class Frame:
    path: Path
    stream: Stream
    trial: int
    tile: int
    step: int


def parse_frame(path: Path, streams: Iterable[Stream]) -> Frame | None:
    """The frame a file name stands for, if it is one of ``streams`` (longest camera_modality match)."""
    m = _FRAME.match(path.name)
    if m is None:
        return None
    prefix = m.group("prefix")
    for stream in sorted(streams, key=lambda s: -len(f"{s[0]}_{s[1]}")):
        if prefix == f"{stream[0]}_{stream[1]}":
            return Frame(path, stream, int(m.group("trial")), int(m.group("tile")), int(m.group("step")))
    return None


def camera_terms(env_cfg: Any) -> list[tuple[Any, str, str]]:
    """(term cfg, camera, modality) for every observation term that saves images (``image_path`` +
    ``data_type`` params), in any observation group of the env config."""
    found = []
    observations = getattr(env_cfg, "observations", None)
    for group in vars(observations).values() if observations is not None else ():
        for term in vars(group).values() if hasattr(group, "__dict__") else ():
            params = getattr(term, "params", None)
            if isinstance(params, dict) and "image_path" in params and "data_type" in params:
                found.append((term, Path(str(params["image_path"])).name, str(params["data_type"])))
    return found


def redirect_camera_terms(env_cfg: Any, staging_images: Path, cameras: Sequence[str],
                          modalities: Sequence[str], env_name: str) -> list[Stream]:
    """Point the requested camera terms' files into the staging folder and switch the others off.

    Returns the streams that will be written. Raises ConfigError naming what the task offers when a
    requested camera or modality does not exist.
    """
    terms = camera_terms(env_cfg)
    offered = sorted({(c, m) for _, c, m in terms})
    if not terms:
        raise ConfigError(f"task {env_name} saves no camera images; use a task with cameras (e.g. "
                          "TASK=Isaac-Stack-Cube-Franka-IK-Rel-Blueprint-Mimic-v0) or unset CAMERAS")
    wanted = [(c, m) for c in cameras for m in modalities]
    missing = [s for s in wanted if s not in offered]
    if missing:
        listing = ", ".join(f"{c}:{m}" for c, m in offered)
        raise ConfigError(f"task {env_name} does not save {', '.join(f'{c}:{m}' for c, m in missing)}; it offers "
                          f"{listing} (set CAMERAS and MODALITIES from these)")
    for term, camera, modality in terms:
        if (camera, modality) in wanted:
            term.params["image_path"] = str(staging_images / camera)
            term.params["save_image_to_file"] = True
        elif "save_image_to_file" in term.params:
            term.params["save_image_to_file"] = False
        else:
            term.params["image_path"] = str(staging_images / camera)
    return wanted


class FrameSorter:
    def __init__(self, staging: Path, output_dir: Path, streams: Sequence[Stream]) -> None:
        self.staging = Path(staging)
        self.output_dir = Path(output_dir)
        self.streams = list(streams)
        self.folders = ImageFolders(self.output_dir, self.streams)

    def frames(self) -> list[Frame]:
        if not self.staging.is_dir():
            return []
        out = []
        for p in self.staging.iterdir():
            f = parse_frame(p, self.streams)
            if f is not None:
                out.append(f)
        return out

    def prepare(self, mode: str, next_index: int) -> None:
        self.folders.prepare(mode, next_index)

    def stage_success(self, trial: int, num_steps: int, demo_index: int) -> int:
        """Move the frames of the ``trial``-th success into partial folders; delete its trial's other
        (failed attempts') frames. Returns the number of frames kept."""
        frames = [f for f in self.frames() if f.trial == trial and f.tile == 0]
        kept = 0
        for stream in self.streams:
            mine = [f for f in frames if f.stream == stream]
            if not mine:
                continue
            last = max(f.step for f in mine)
            first = last - num_steps
            partial = self.folders.partial(*stream, demo_index)
            if partial.exists():
                shutil.rmtree(partial)
            partial.mkdir(parents=True)
            for f in mine:
                if first <= f.step <= last:
                    f.path.replace(partial / f"step_{f.step - first:0{STEP_DIGITS}d}.png")
                    kept += 1
                else:
                    f.path.unlink()
        return kept

    def commit(self, demo_index: int) -> None:
        self.folders.commit(demo_index)

    def drop_all(self) -> None:
        """Delete every frame left in staging (failed attempts after the last success, the aborted one)."""
        for f in self.frames():
            f.path.unlink(missing_ok=True)
