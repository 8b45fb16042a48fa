"""A small lossless PNG encoder for the frames the generators write by the thousand.

Pillow (through imageio) filters every row adaptively and deflates at level 6; on a CPU that costs more
than drawing the frame. Here rows are stored unfiltered and deflated at ``LEVEL`` 1. On the twin's
320 x 176 frames (one demo's states): normals 1.32 ms and 32.3 kB a frame at level 1, 2.40 ms and 29.3 kB
at 3, 6.22 ms and 25.9 kB at 6; segmentation about 0.45 ms and 3 kB at 1-3. Any PNG reader decodes the
exact pixels written.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

LEVEL = 1
_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOUR_TYPE = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> grey, grey + alpha, rgb, rgba


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def encode_png(image: np.ndarray, level: int = LEVEL) -> bytes:
    """PNG bytes of a uint8 or uint16 image shaped (H, W) or (H, W, C) with C in 1-4."""
    a = np.asarray(image)
    if a.dtype not in (np.uint8, np.uint16) or a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in _COLOUR_TYPE):
        raise ValueError(f"cannot store a {a.dtype} array of shape {a.shape} as PNG")
    h, w = a.shape[:2]
    channels = 1 if a.ndim == 2 else a.shape[2]
    rows = a.astype(">u2" if a.dtype == np.uint16 else np.uint8, copy=False).reshape(h, -1).view(np.uint8)
    raw = np.zeros((h, rows.shape[1] + 1), dtype=np.uint8)  # a leading 0 per row: filter type None
    raw[:, 1:] = rows
    header = struct.pack(">IIBBBBB", w, h, 8 * a.dtype.itemsize, _COLOUR_TYPE[channels], 0, 0, 0)
    return b"".join((_SIGNATURE, _chunk(b"IHDR", header), _chunk(b"IDAT", zlib.compress(raw.tobytes(), level)),
                     _chunk(b"IEND", b"")))
