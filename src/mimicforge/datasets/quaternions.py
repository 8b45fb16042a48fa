"""Dataset format versions: where quaternions sit in a demo, and their order in each format.

Isaac Lab up to 2.3 stores quaternions (w, x, y, z) and writes no ``format_version``; Isaac Lab 3.0 writes
the root attribute ``format_version = 1`` and stores (x, y, z, w) (``HDF5DatasetFileHandler``: a file
without the attribute, or with 0, is legacy WXYZ). Inside mimicforge every quaternion is (w, x, y, z): the
reader converts a version-1 file's quaternions when it loads them, and the writer converts back when it
writes a version-1 file, so outputs keep the format of their input's generation.

The quaternions of a demo (Isaac Lab's stack-task layout, which the twin mirrors):

- ``states`` / ``initial_state``: every ``root_pose`` (7 = position, quaternion), as 3.0's loader converts;
- ``obs/eef_quat`` (4), ``obs/cube_orientations`` (3 x 4), and ``obs/object`` (39: per cube position and
  quaternion, then relative positions), for the columns given in ``OBS_QUATERNIONS``.

``obs/datagen_info`` holds 4x4 matrices, identical in both formats.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from mimicforge.errors import DatasetFormatError

FORMAT_ATTR = "format_version"
LEGACY_WXYZ = 0
XYZW = 1
FORMATS = {LEGACY_WXYZ: "0 (legacy, quaternions w,x,y,z; Isaac Lab <= 2.3)",
           XYZW: "1 (quaternions x,y,z,w; Isaac Lab 3.0)"}
# obs key -> (row width, first column of each quaternion)
OBS_QUATERNIONS: dict[str, tuple[int, tuple[int, ...]]] = {
    "eef_quat": (4, (0,)),
    "cube_orientations": (12, (0, 4, 8)),
    "object": (39, (3, 10, 17)),
}
STATE_KEYS = ("states", "initial_state")


def read_format_version(attrs: Mapping[str, Any], path: str | Path) -> int:
    """The file's format version from its root attributes (absent: 0). Anything else than 0 or 1 is refused."""
    raw = attrs.get(FORMAT_ATTR)
    if raw is None:
        return LEGACY_WXYZ
    try:
        value = int(np.asarray(raw).item())
    except (TypeError, ValueError):
        value = None
    if value not in FORMATS or np.asarray(raw).item() != value:
        shown = np.asarray(raw).item()
        raise DatasetFormatError(f"{path}: root attribute {FORMAT_ATTR} = {shown!r} is not a dataset format "
                                 "mimicforge knows (0 or absent: Isaac Lab <= 2.3, 1: Isaac Lab 3.0); convert the "
                                 "file with the Isaac Lab release that wrote it")
    return value


def _reorder(arr: np.ndarray, starts: tuple[int, ...], to_xyzw: bool) -> np.ndarray:
    out = np.array(arr, copy=True)
    for s in starts:
        q = arr[..., s:s + 4]
        out[..., s:s + 4] = np.concatenate([q[..., 1:], q[..., :1]], -1) if to_xyzw else \
            np.concatenate([q[..., 3:], q[..., :3]], -1)
    return out


def _states(tree: Mapping[str, Any], to_xyzw: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            out[key] = _states(value, to_xyzw)
        elif key == "root_pose" and np.asarray(value).shape[-1:] == (7,):
            out[key] = _reorder(np.asarray(value), (3,), to_xyzw)
        else:
            out[key] = value
    return out


def _obs(tree: Mapping[str, Any], to_xyzw: bool) -> dict[str, Any]:
    out = dict(tree)
    for key, (width, starts) in OBS_QUATERNIONS.items():
        value = tree.get(key)
        if value is not None and not isinstance(value, Mapping) and np.asarray(value).shape[-1:] == (width,):
            out[key] = _reorder(np.asarray(value), starts, to_xyzw)
    return out


def convert_part(part: str, tree: Mapping[str, Any], *, to_xyzw: bool) -> dict[str, Any]:
    """One part of a demo (``obs``, ``states``, ``initial_state``) with its quaternions reordered."""
    if part in STATE_KEYS:
        return _states(tree, to_xyzw)
    if part == "obs":
        return _obs(tree, to_xyzw)
    return dict(tree)


def convert_episode(episode: Mapping[str, Any], *, to_xyzw: bool) -> dict[str, Any]:
    """A whole episode (as written or read) with every quaternion reordered; other arrays untouched."""
    return {k: convert_part(k, v, to_xyzw=to_xyzw) if isinstance(v, Mapping) else v for k, v in episode.items()}


def describe(version: int) -> str:
    return FORMATS[version]
