"""Turn rendered frames into PNG-storable arrays, one convention per modality.

- rgb: uint8 (H, W, 3) as rendered;
- depth: metres to uint16 millimetres (0 = no hit or beyond 65.5 m), the usual depth-PNG convention;
- semantic_segmentation: uint8 RGBA with the task's semantic colours, as Isaac Lab colourizes it;
- normals: unit vectors in [-1, 1] mapped to (n + 1) / 2 in uint8, as Isaac Lab's Blueprint saves them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mimicforge.extras import require

IMAGEIO_HINT = "saving or reading images needs imageio; install it with: pip install 'mimicforge[sim]'"


def imageio_v3() -> Any:
    """``imageio.v3``, or ``BackendUnavailable`` with the install command (it is an optional dependency)."""
    return require("imageio.v3", IMAGEIO_HINT)


def to_png_array(modality: str, frame: np.ndarray) -> np.ndarray:
    if modality == "rgb":
        return np.asarray(frame, dtype=np.uint8)
    if modality == "depth":
        mm = np.nan_to_num(np.asarray(frame, dtype=np.float64) * 1000.0, nan=0.0, posinf=0.0, neginf=0.0)
        return np.clip(np.rint(mm), 0, 65535).astype(np.uint16)
    if modality == "semantic_segmentation":
        return np.asarray(frame, dtype=np.uint8)
    if modality == "normals":
        n = np.clip(np.asarray(frame, dtype=np.float64), -1.0, 1.0)
        return np.rint((n + 1.0) * 0.5 * 255.0).astype(np.uint8)
    raise ValueError(f"unknown modality {modality!r}")


def png_bytes(modality: str, frame: np.ndarray) -> bytes:
    from mimicforge.media.png import encode_png

    return encode_png(to_png_array(modality, frame))


def write_png(path, modality: str, frame: np.ndarray) -> None:
    with open(path, "wb") as fh:
        fh.write(png_bytes(modality, frame))
