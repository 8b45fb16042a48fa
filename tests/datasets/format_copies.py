"""Test helper: an Isaac Lab 3.0-format copy of a legacy dataset (``format_version = 1``, quaternions XYZW).

Built with h5py directly (not with mimicforge's writer), by the rule of Isaac Lab 3.0's
``HDF5DatasetFileHandler``: every ``root_pose`` reordered, and the obs terms holding quaternions. Both
the rule and this copy are checked against the real 3.0 handler in ``tests/backends/isaaclab/test_format3.py``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np

from mimicforge.datasets.quaternions import FORMAT_ATTR, OBS_QUATERNIONS


def wxyz_to_xyzw(q: np.ndarray) -> np.ndarray:
    return np.concatenate([q[..., 1:4], q[..., :1]], axis=-1)


def make_format3_copy(src: Path, dst: Path) -> Path:
    shutil.copyfile(src, dst)
    with h5py.File(dst, "r+") as f:
        f.attrs[FORMAT_ATTR] = np.int64(1)

        def visit(name: str, obj: object) -> None:
            if not isinstance(obj, h5py.Dataset):
                return
            parts = name.split("/")
            a = obj[()]
            if parts[-1] == "root_pose" and a.shape[-1] == 7:
                a[..., 3:7] = wxyz_to_xyzw(a[..., 3:7])
                obj[...] = a
            elif len(parts) == 4 and parts[2] == "obs" and parts[3] in OBS_QUATERNIONS:
                width, starts = OBS_QUATERNIONS[parts[3]]
                if a.shape[-1] == width:
                    for s in starts:
                        a[..., s:s + 4] = wxyz_to_xyzw(a[..., s:s + 4])
                    obj[...] = a

        f.visititems(visit)
    return dst
