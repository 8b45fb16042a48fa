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

from mimicforge.backends.base import MimicEnv, state_at
from mimicforge.media.images import imageio_v3, write_png
from mimicforge.outputs import STEP_DIGITS, ImageFolders


class FrameSink:
    def __init__(self, output_dir: str | Path, cameras: Sequence[str], modalities: Sequence[str]) -> None:
        imageio_v3()  # a missing optional dependency fails the run before its first attempt
        self.folders = ImageFolders(output_dir, [(c, m) for c in cameras for m in modalities])

    def write_episode(self, env: MimicEnv, demo_index: int, episode: dict[str, Any]) -> None:
        """Render every recorded state of ``episode`` into the partial folders of demo ``demo_index``
        (``outputs.RunOutputs.commit_attempt`` renames them once the demo is committed)."""
        self.folders.fresh_partials(demo_index)
        states = episode["states"]
        for t in range(1 + len(episode["actions"])):
            env.reset_to(state_at(episode["initial_state"], 0) if t == 0 else state_at(states, t - 1))
            for cam, mod in self.folders.streams:
                write_png(self.folders.partial(cam, mod, demo_index) / f"step_{t:0{STEP_DIGITS}d}.png", mod,
                          env.render(cam, mod))
