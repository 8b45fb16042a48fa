"""What a finished run leaves on disk, for its closing summary: the input it read and every file and folder it wrote,
with sizes (the dataset, its companions beside it, the image folders of its cameras)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mimicforge.config import RunConfig
from mimicforge.datasets.inspect import human_size
from mimicforge.outputs import ImageFolders, OutputPaths, dataset_images


@dataclass(frozen=True)
class Written:
    path: Path
    bytes: int
    files: int  # 1 for a file; the files below a folder
    folder: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "bytes": self.bytes, "files": self.files, "folder": self.folder}


def _folder(path: Path) -> Written:
    total = count = 0
    for root, _, names in os.walk(path):
        for name in names:
            try:
                total += os.stat(os.path.join(root, name)).st_size
                count += 1
            except OSError:  # removed while we looked
                continue
    return Written(path, total, count, folder=True)


def written(cfg: RunConfig) -> list[Written]:
    """Every output of the run ``cfg`` describes that exists now, files first, then image folders."""
    out: list[Written] = []
    for path in OutputPaths.beside(cfg.generation.output_file).all():
        if path.is_file():
            out.append(Written(path, path.stat().st_size, 1))
    c = cfg.cameras
    folders = ImageFolders(dataset_images(c.output_dir, cfg.generation.output_file), [(cam, mod) for cam in c.cameras for mod in c.modalities])
    for cam, mod in folders.streams:
        d = folders.stream_dir(cam, mod)
        if d.is_dir():
            out.append(_folder(d))
    return out


def format_written(items: list[Written], input_file: Path, defaulted: bool, label: str = "generate") -> str:
    how = " (the default input: no --input or INPUT_FILE given)" if defaulted else ""
    lines = [f"{label}: input {input_file}{how}", f"{label}: wrote"]
    width = max((len(str(w.path)) + w.folder for w in items), default=0)
    for w in items:
        name = f"{w.path}/" if w.folder else str(w.path)
        extra = f" in {w.files} files" if w.folder else ""
        lines.append(f"  {name:<{width}}  {human_size(w.bytes):>9}{extra}")
    return "\n".join(lines)


def summary_fields(items: list[Written], input_file: Path, defaulted: bool) -> Mapping[str, Any]:
    """What ``generate --json`` adds to its summary."""
    return {"input": str(input_file), "input_is_default": defaulted, "written": [w.to_dict() for w in items]}
