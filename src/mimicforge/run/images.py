"""Per-demo image folders of the embedded engine, written for successful demos only.

Frames are rendered after an attempt succeeds, from its recorded states (``reset_to`` each state, then
render): the images are exactly those of the live run, and failed attempts cost no rendering at all,
which matters because rendering, not physics, dominates a run with cameras on a CPU. Frame ``t`` shows
the scene before action ``t``; the last one shows it after the final action. The folders follow the
crash-safe protocol of ``outputs.ImageFolders`` (partial folder first, renamed once the demo is committed).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mimicforge.backends.base import MimicEnv, state_at
from mimicforge.datasets import image_obs
from mimicforge.errors import ConfigError
from mimicforge.media.images import write_png
from mimicforge.outputs import STEP_DIGITS, ImageFolders


class FrameSink:
    def __init__(self, output_dir: str | Path, cameras: Sequence[str], modalities: Sequence[str]) -> None:
        self.folders = ImageFolders(output_dir, [(c, m) for c in cameras for m in modalities])
        self._cameras, self._modalities = tuple(cameras), tuple(modalities)

    def write_episode(self, env: MimicEnv, demo_index: int, episode: dict[str, Any]) -> None:
        """Render every recorded state of ``episode`` into the partial folders of demo ``demo_index``
        (``outputs.RunOutputs.commit_attempt`` renames them once the demo is committed)."""
        self.folders.fresh_partials(demo_index)
        states = episode["states"]
        for t in range(1 + len(episode["actions"])):
            env.reset_to(state_at(episode["initial_state"], 0) if t == 0 else state_at(states, t - 1))
            for (cam, mod), frame in draw(env, self._cameras, self._modalities).items():
                write_png(self.folders.partial(cam, mod, demo_index) / f"step_{t:0{STEP_DIGITS}d}.png", mod, frame)


def draw(env: MimicEnv, cameras: Sequence[str], modalities: Sequence[str]) -> dict[tuple[str, str], Any]:
    """Every (camera, modality) frame of the env's current state; an engine that draws all modalities of a
    camera at once (``render_frames``) is asked once per camera."""
    frames = getattr(env, "render_frames", None)
    if frames is None:
        return {(c, m): env.render(c, m) for c in cameras for m in modalities}
    return {(c, m): f for c in cameras for m, f in frames(c, modalities).items()}


def image_observations(env: MimicEnv, episode: dict[str, Any], keys: Sequence[str]) -> dict[str, np.ndarray]:
    """The image observations ``keys`` (``datasets.image_obs``) of a recorded episode: row ``t`` shows the
    scene before action ``t``, as the episode's other ``obs`` rows (Isaac Lab records observations pre-step)."""
    draw_sensor = getattr(env, "render_visuomotor", None)
    if draw_sensor is None:
        raise ConfigError(f"{type(env).__name__} cannot store image observations; unset IMAGE_OBS (--image-obs)")
    groups = image_obs.by_sensor(keys)
    rows: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    states = episode["states"]
    for t in range(len(episode["actions"])):
        env.reset_to(state_at(episode["initial_state"], 0) if t == 0 else state_at(states, t - 1))
        for sensor, wanted in groups.items():
            frames = draw_sensor(sensor, [m for _, m in wanted])
            for key, modality in wanted:
                rows[key].append(image_obs.stored(modality, frames[modality]))
    return {k: np.stack(v) for k, v in rows.items()}
