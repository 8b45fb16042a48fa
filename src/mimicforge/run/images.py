"""Per-demo image folders, written crash-safely for successful demos only.

Frames are rendered after an attempt succeeds, from its recorded states (``reset_to`` each state, then
render): the images are exactly those of the live run, and failed attempts cost no rendering at all,
which matters because rendering, not physics, dominates a run with cameras on a CPU. Frame ``t`` shows
the scene before action ``t``; the last one shows it after the final action.

Frames go to a hidden partial folder first and are renamed to ``demo_<k>`` only after the demo is
committed to the HDF5 file. A run killed between the commit and the rename leaves a complete partial
folder for a committed demo, which ``prepare`` renames on resume; partial folders of demos that were
never committed are deleted.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from pathlib import Path

from typing import Any

from mimicforge.backends.base import MimicEnv, state_at
from mimicforge.errors import OutputExistsError
from mimicforge.media.images import write_png
from mimicforge.outputs import STEP_DIGITS, image_dir

_PARTIAL = re.compile(r"^\.demo_(\d+)\.partial$")
_FINAL = re.compile(r"^demo_(\d+)$")


class FrameSink:
    def __init__(self, output_dir: str | Path, cameras: Sequence[str], modalities: Sequence[str]) -> None:
        self.output_dir = Path(output_dir)
        self.streams = [(c, m) for c in cameras for m in modalities]
        self._index: int | None = None

    def _stream_dir(self, camera: str, modality: str) -> Path:
        return self.output_dir / f"{camera}_{modality}"

    def _partial(self, camera: str, modality: str, index: int) -> Path:
        return self._stream_dir(camera, modality) / f".demo_{index}.partial"

    def prepare(self, mode: str, next_index: int) -> None:
        """Reconcile the folders with the dataset before the first attempt.

        mode ``create``: refuse folders that already hold demos (another run's); ``overwrite``: delete
        demo folders; ``append``: finish renames cut short by a crash and drop orphans.
        """
        for cam, mod in self.streams:
            d = self._stream_dir(cam, mod)
            d.mkdir(parents=True, exist_ok=True)
            for entry in d.iterdir():
                partial, final = _PARTIAL.match(entry.name), _FINAL.match(entry.name)
                if partial:
                    k = int(partial.group(1))
                    target = d / f"demo_{k}"
                    if mode == "append" and k < next_index and not target.exists():
                        entry.rename(target)
                    else:
                        shutil.rmtree(entry)
                elif final:
                    k = int(final.group(1))
                    if mode == "overwrite" or (mode == "append" and k >= next_index):
                        shutil.rmtree(entry)
                    elif mode == "create":
                        raise OutputExistsError(
                            f"{d} already holds demo folders from another run; pass --overwrite to clear them "
                            "or choose another --output-dir"
                        )

    def write_episode(self, env: MimicEnv, demo_index: int, episode: dict[str, Any]) -> None:
        """Render every recorded state of ``episode`` into the partial folders of demo ``demo_index``."""
        self._index = demo_index
        for cam, mod in self.streams:
            p = self._partial(cam, mod, demo_index)
            if p.exists():
                shutil.rmtree(p)
            p.mkdir(parents=True)
        states = episode["states"]
        count = 1 + len(episode["actions"])
        for t in range(count):
            env.reset_to(state_at(episode["initial_state"], 0) if t == 0 else state_at(states, t - 1))
            for cam, mod in self.streams:
                write_png(self._partial(cam, mod, demo_index) / f"step_{t:0{STEP_DIGITS}d}.png", mod,
                          env.render(cam, mod))

    def commit(self) -> None:
        assert self._index is not None
        for cam, mod in self.streams:
            self._partial(cam, mod, self._index).rename(image_dir(self.output_dir, cam, mod, self._index))
        self._index = None

    def discard(self) -> None:
        if self._index is None:
            return
        for cam, mod in self.streams:
            shutil.rmtree(self._partial(cam, mod, self._index), ignore_errors=True)
        self._index = None
