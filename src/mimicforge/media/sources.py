"""Where a demo's camera frames come from: the image folders either engine writes, or image observations in the HDF5.

- Folders: ``<output_dir>/<dataset stem>/<camera>_<modality>/demo_<k>/step_<t>.png`` (``outputs.demo_frames_dir``;
  the old shared layout without the dataset's folder is still read), their frame count checked against the demo's
  steps; depth PNGs hold
  uint16 millimetres, normals (n + 1) / 2 in uint8, segmentation RGBA.
- HDF5: Isaac Lab's Visuomotor keys in ``data/demo_<k>/obs``: ``<camera>`` (rgb, uint8 (T, H, W, 3)),
  ``<camera>_segmentation`` (uint8 RGBA), ``<camera>_normals`` (float (n + 1) / 2, or uint8) and ``<camera>_depth``
  (float metres, (T, H, W) or (T, H, W, 1)).

A camera whose demo carries any of those keys is read from the HDF5; otherwise from the folders.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from mimicforge.errors import BackendUnavailable, DatasetFormatError
from mimicforge.media.shaded import shade_segmentation
from mimicforge.outputs import check_frame_count, demo_frames_dir

MODALITIES = ("rgb", "semantic_segmentation", "normals", "depth")
# modality -> suffix of Isaac Lab's Visuomotor observation key after the camera name
OBS_SUFFIX = {"rgb": "", "semantic_segmentation": "_segmentation", "normals": "_normals", "depth": "_depth"}


def obs_key(camera: str, modality: str) -> str:
    return camera + OBS_SUFFIX[modality]


def _imread(path: Path) -> np.ndarray:
    try:
        from PIL import Image
    except ImportError:
        raise BackendUnavailable("reading image folders needs Pillow; install with: pip install 'mimicforge[sim]'") \
            from None
    with Image.open(path) as im:
        return np.asarray(im)


class FrameSource:
    """The frames of one camera in one demo, by modality (plus ``shaded_segmentation``, made on the fly)."""

    camera: str
    demo_index: int
    origin: str

    def has(self, modality: str) -> bool:
        raise NotImplementedError

    def count(self, modality: str) -> int:
        raise NotImplementedError

    def frame(self, modality: str, t: int) -> np.ndarray:
        """Frame ``t``: rgb (H, W, 3) uint8, semantic_segmentation (H, W, 4) uint8, normals as stored, depth metres."""
        raise NotImplementedError

    def frames(self, modality: str, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        """Frames ``start`` to ``stop`` (default: the end); ``shaded_segmentation`` pairs segmentation and normals."""
        if modality == "shaded_segmentation":
            n = self.shaded_count()
            for t in range(start, n if stop is None else stop):
                yield shade_segmentation(self.frame("semantic_segmentation", t), self.frame("normals", t))
            return
        for t in range(start, self.count(modality) if stop is None else stop):
            yield self.frame(modality, t)

    def shaded_count(self) -> int:
        """Frames with both segmentation and normals; a mismatch between the two is an error."""
        for m in ("semantic_segmentation", "normals"):
            if not self.has(m):
                raise DatasetFormatError(f"{self.describe(m)} is missing: shaded segmentation needs "
                                         "semantic_segmentation and normals (generate with --modalities "
                                         "semantic_segmentation,normals)")
        a, b = self.count("semantic_segmentation"), self.count("normals")
        if a != b:
            raise DatasetFormatError(f"{self.camera} demo_{self.demo_index}: {a} segmentation frames but {b} normals "
                                     f"frames ({self.origin}); both are needed for every step")
        return a

    def describe(self, modality: str) -> str:
        raise NotImplementedError


class FolderSource(FrameSource):
    origin = "folders"

    def __init__(self, output_dir: str | os.PathLike[str], dataset: str | os.PathLike[str], camera: str,
                 demo_index: int) -> None:
        self.output_dir, self.dataset = Path(output_dir), Path(dataset)
        self.camera, self.demo_index = camera, demo_index
        self._steps: dict[str, list[Path]] = {}

    def _dir(self, modality: str) -> Path:
        return demo_frames_dir(self.output_dir, self.dataset, self.camera, modality, self.demo_index)

    def _list(self, modality: str) -> list[Path]:
        if modality not in self._steps:
            d = self._dir(modality)
            self._steps[modality] = sorted(d.glob("step_*.png")) if d.is_dir() else []
            if self._steps[modality]:
                check_frame_count(d, len(self._steps[modality]), self.dataset, self.demo_index)
        return self._steps[modality]

    def has(self, modality: str) -> bool:
        return bool(self._list(modality))

    def count(self, modality: str) -> int:
        return len(self._list(modality))

    def shaded_count(self) -> int:
        n = super().shaded_count()
        seg = [p.name for p in self._list("semantic_segmentation")]
        nor = [p.name for p in self._list("normals")]
        if seg != nor:
            missing = sorted(set(seg) ^ set(nor))[0]
            raise DatasetFormatError(f"{self._dir('semantic_segmentation')} and {self._dir('normals')} hold different "
                                     f"steps (e.g. {missing}); every step needs both")
        return n

    def frame(self, modality: str, t: int) -> np.ndarray:
        img = _imread(self._list(modality)[t])
        if modality == "depth":
            return img.astype(np.float32) / np.float32(1000.0)  # uint16 millimetres (media.images)
        if modality == "rgb" and img.ndim == 3 and img.shape[-1] == 4:
            return img[..., :3]
        return img

    def describe(self, modality: str) -> str:
        return f"image folder {self._dir(modality)}"


class HDF5Source(FrameSource):
    origin = "hdf5"

    def __init__(self, dataset: str | os.PathLike[str], camera: str, demo_index: int) -> None:
        import h5py

        self.path, self.camera, self.demo_index = Path(dataset), camera, demo_index
        self._file = h5py.File(self.path, "r", locking=False)
        self._obs = self._file.get(f"data/demo_{demo_index}/obs")

    def close(self) -> None:
        self._file.close()

    def has(self, modality: str) -> bool:
        return self._obs is not None and obs_key(self.camera, modality) in self._obs

    def count(self, modality: str) -> int:
        return int(self._obs[obs_key(self.camera, modality)].shape[0]) if self.has(modality) else 0

    def frame(self, modality: str, t: int) -> np.ndarray:
        return np.asarray(self._obs[obs_key(self.camera, modality)][t])

    def describe(self, modality: str) -> str:
        return f"{self.path}: data/demo_{self.demo_index}/obs/{obs_key(self.camera, modality)}"


def hdf5_has_images(dataset: str | os.PathLike[str], camera: str, demo_index: int) -> bool:
    import h5py

    with h5py.File(dataset, "r", locking=False) as f:
        obs = f.get(f"data/demo_{demo_index}/obs")
        return obs is not None and any(obs_key(camera, m) in obs for m in MODALITIES)


def open_source(dataset: str | os.PathLike[str], output_dir: str | os.PathLike[str], camera: str,
                demo_index: int) -> FrameSource:
    """The HDF5 observations when ``dataset`` holds any for this camera and demo, else its image folders."""
    if hdf5_has_images(dataset, camera, demo_index):
        return HDF5Source(dataset, camera, demo_index)
    return FolderSource(output_dir, dataset, camera, demo_index)


def close_source(source: FrameSource) -> None:
    if isinstance(source, HDF5Source):
        source.close()
