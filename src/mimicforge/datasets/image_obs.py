"""Camera images stored as observations, as Isaac Lab's Visuomotor stack tasks record them.

``Isaac-Stack-Cube-Franka-IK-Rel-Visuomotor-v0`` (and its ``-Cosmos-`` variant, Isaac Lab 2.3) puts these
terms in the ``policy`` observation group, one row per recorded step (before that step's action, like every
other ``obs`` key), 200 x 200 by default:

| key | camera, data type | stored |
|---|---|---|
| ``table_cam`` | table camera, rgb | uint8 (T, H, W, 3) |
| ``wrist_cam`` | wrist camera on ``panda_hand``, rgb | uint8 (T, H, W, 3) |
| ``table_cam_segmentation`` | table camera, semantic segmentation | uint8 (T, H, W, 4), colourised RGBA |
| ``table_cam_normals`` | table camera, normals | float32 (T, H, W, 3), ``(n + 1) / 2`` |
| ``table_cam_depth`` | table camera, distance to image plane | float32 (T, H, W, 1), metres, 0 where nothing is hit |

(Isaac's ``mdp.image`` term with ``normalize=True`` for the last three; the cameras clip at 2 m.)
robomimic's image configs (``bc_rnn_image_200.json``) read ``table_cam`` and ``wrist_cam`` as rgb.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mimicforge.config import IMAGE_OBS_KEYS

# key -> (Isaac Lab sensor name, modality as the engines render it)
SOURCES: dict[str, tuple[str, str]] = {
    "table_cam": ("table_cam", "rgb"),
    "wrist_cam": ("wrist_cam", "rgb"),
    "table_cam_segmentation": ("table_cam", "semantic_segmentation"),
    "table_cam_normals": ("table_cam", "normals"),
    "table_cam_depth": ("table_cam", "depth"),
}
assert tuple(SOURCES) == IMAGE_OBS_KEYS
CLIPPING_FAR = 2.0  # metres, the Visuomotor cameras' clipping range (0.1, 2)


def by_sensor(keys: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
    """{sensor: [(key, modality), ...]} for the requested keys, so each camera is drawn once per step."""
    out: dict[str, list[tuple[str, str]]] = {}
    for key in keys:
        sensor, modality = SOURCES[key]
        out.setdefault(sensor, []).append((key, modality))
    return out


def stored(modality: str, frame: np.ndarray) -> np.ndarray:
    """One rendered frame as Isaac Lab stores that observation."""
    if modality in ("rgb", "semantic_segmentation"):
        return np.asarray(frame, dtype=np.uint8)
    if modality == "normals":
        return ((np.asarray(frame, dtype=np.float32) + np.float32(1.0)) * np.float32(0.5)).astype(np.float32)
    if modality == "depth":
        d = np.asarray(frame, dtype=np.float32)
        d = np.where(np.isfinite(d) & (d <= CLIPPING_FAR), d, np.float32(0.0)).astype(np.float32)
        return d[..., None]
    raise ValueError(f"unknown modality {modality!r}")


_LAYOUT = {"rgb": (np.uint8, 3), "semantic_segmentation": (np.uint8, 4), "normals": (np.float32, 3),
           "depth": (np.float32, 1)}


def problems(demo: str, obs: Any) -> list[str]:
    """What is wrong with the image observations (known keys only) of one demo's ``obs`` group."""
    out = []
    for key, (_, modality) in SOURCES.items():
        if key not in obs:
            continue
        ds = obs[key]
        dtype, channels = _LAYOUT[modality]
        if ds.dtype != dtype or ds.ndim != 4 or ds.shape[3] != channels:
            out.append(f"{demo}/obs/{key} is {ds.dtype} {tuple(ds.shape)}; Isaac Lab stores {np.dtype(dtype).name} "
                       f"(T, H, W, {channels})")
    return out
