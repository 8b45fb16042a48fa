"""Shaded segmentation and the other per-frame conversions Cosmos Transfer inputs are made of.

Shaded segmentation is the picture NVIDIA's blueprint (and Isaac Lab's ``hdf5_to_mp4.py``) feed to Cosmos: the
semantic colours, darkened where a surface turns away from a light straight above. With the normals *as stored*
(the PNG divided by 255, so each component is in [0, 1]; no remap to [-1, 1]) and the light (0, 0, 1):

    shade = 0.5 + 0.5 * n_z                       (float32, in [0.5, 1])
    out[..., c] = uint8(seg[..., c] * shade)      for c in R, G, B (truncated, not rounded)
    out[..., 3] = 255

Depth for the Isaac Lab flavour is an inverted grey image of ``d / 1.5`` (metres): values under 0.01 (no hit)
become black, near is bright.
"""

from __future__ import annotations

import numpy as np

DEPTH_RANGE_M = 1.5  # Isaac Lab's hdf5_to_mp4.py: MIN_DEPTH 0, MAX_DEPTH 1.5
_HALF = np.float32(0.5)


def stored_normals(normals: np.ndarray) -> np.ndarray:
    """Normals as the shading reads them: float32 in [0, 1]. uint8 (a PNG) is divided by 255; floats (Isaac Lab's
    HDF5 ``*_normals`` observation, already (n + 1) / 2) are taken as they are."""
    n = np.asarray(normals)
    if n.ndim != 3 or n.shape[-1] < 3:
        raise ValueError(f"normals must be (H, W, 3), got shape {n.shape}")
    if n.dtype == np.uint8:
        return n[..., :3].astype(np.float32) / np.float32(255.0)
    return n[..., :3].astype(np.float32)


def shade_segmentation(segmentation: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """One shaded-segmentation frame, (H, W, 4) uint8 RGBA, from an RGB(A) uint8 segmentation and its normals."""
    seg = np.asarray(segmentation)
    if seg.dtype != np.uint8 or seg.ndim != 3 or seg.shape[-1] not in (3, 4):
        raise ValueError(f"segmentation must be (H, W, 3|4) uint8, got {seg.dtype} {seg.shape}")
    n = stored_normals(normals)
    if n.shape[:2] != seg.shape[:2]:
        raise ValueError(f"segmentation {seg.shape[:2]} and normals {n.shape[:2]} differ in size")
    shade = _HALF + n[..., 2] * _HALF
    out = np.empty(seg.shape[:2] + (4,), dtype=np.uint8)
    out[..., :3] = (seg[..., :3].astype(np.float32) * shade[..., None]).astype(np.uint8)
    out[..., 3] = 255
    return out


def depth_grey(depth_m: np.ndarray) -> np.ndarray:
    """Depth in metres ((H, W) or (H, W, 1)) as Isaac Lab's depth video shows it: (H, W) uint8, 255 = at the camera,
    0 = beyond 1.5 m or nothing hit."""
    d = np.asarray(depth_m, dtype=np.float32)
    if d.ndim == 3:
        d = d[..., 0]
    x = np.nan_to_num(d / np.float32(DEPTH_RANGE_M), nan=0.0, posinf=0.0, neginf=0.0)
    x = np.where(x < 0.01, np.float32(1.0), x)
    return (np.clip(1.0 - x, 0.0, 1.0) * 255.0).astype(np.uint8)


def resize_bicubic(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """``frame`` (H, W[, C]) uint8 resized to ``width`` x ``height`` with bicubic interpolation (Pillow)."""
    from PIL import Image

    f = np.asarray(frame, dtype=np.uint8)
    if f.shape[1] == width and f.shape[0] == height:
        return f
    return np.asarray(Image.fromarray(f).resize((width, height), Image.Resampling.BICUBIC))


def resize_bilinear(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """As :func:`resize_bicubic`, bilinear (how Isaac Lab brings augmented frames back to the camera's size)."""
    from PIL import Image

    f = np.asarray(frame, dtype=np.uint8)
    if f.shape[1] == width and f.shape[0] == height:
        return f
    return np.asarray(Image.fromarray(f).resize((width, height), Image.Resampling.BILINEAR))
