"""Opening HDF5 files with one-line, actionable errors instead of h5py's tracebacks."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import h5py

from mimicforge.datasets import layout
from mimicforge.errors import DatasetFormatError


def check_readable_file(path: str | os.PathLike[str]) -> Path:
    """Raise DatasetFormatError unless ``path`` is an existing, non-empty HDF5 file."""
    p = Path(path)
    if not p.exists():
        raise DatasetFormatError(f"{p}: no such file; check the path (datasets live in datasets/ by default)")
    if p.is_dir():
        inside = sorted(x.name for x in p.glob("*.hdf5"))[:3]
        hint = f" (it holds {', '.join(inside)})" if inside else ""
        raise DatasetFormatError(f"{p} is a directory, not an HDF5 file; pass the .hdf5 file itself{hint}")
    if not os.access(p, os.R_OK):
        raise DatasetFormatError(f"{p}: permission denied; make the file readable")
    size = p.stat().st_size
    if size == 0:
        raise DatasetFormatError(f"{p} is empty (0 bytes); it was never written or was truncated, re-create it")
    if not h5py.is_hdf5(p):
        raise DatasetFormatError(
            f"{p} is not an HDF5 file (no HDF5 signature); expected an Isaac Lab Mimic dataset (.hdf5)"
        )
    return p


def open_h5(path: str | os.PathLike[str], mode: str = "r") -> h5py.File:
    """Open an HDF5 file, turning h5py's OSErrors into DatasetFormatError.

    File locking is off: mimicforge's writer never modifies the file that carries the public name
    (see ``writer``), so readers may open it at any time, also while a run is writing.
    """
    p = check_readable_file(path)
    try:
        return h5py.File(p, mode, locking=False)
    except OSError as exc:
        text = str(exc)
        if "truncated file" in text:
            raise DatasetFormatError(
                f"{p} is truncated ({p.stat().st_size} bytes on disk, more expected); "
                "it was copied or written incompletely, re-copy or re-create it"
            ) from None
        raise DatasetFormatError(f"{p} cannot be opened as HDF5 ({_first_line(text)})") from None


def data_group(f: h5py.File, path: str | os.PathLike[str]) -> h5py.Group:
    """The ``data`` group with at least one demo, or DatasetFormatError."""
    grp = f.get(layout.DATA)
    if not isinstance(grp, h5py.Group):
        raise DatasetFormatError(
            f"{path} has no 'data' group: not an Isaac Lab Mimic / robomimic dataset "
            f"(top-level keys: {sorted(f.keys()) or 'none'})"
        )
    if not any(layout.demo_index(k) is not None for k in grp.keys()):
        raise DatasetFormatError(
            f"{path} has a 'data' group with no demos (expected groups demo_0, demo_1, ...); "
            "the run that wrote it produced nothing"
        )
    return grp


@contextlib.contextmanager
def reading(path: str | os.PathLike[str], what: str) -> Iterator[None]:
    """Turn low-level read failures inside the block into one-line DatasetFormatErrors."""
    try:
        yield
    except (OSError, KeyError, TypeError) as exc:
        raise DatasetFormatError(f"{path}: cannot read {what} ({_first_line(str(exc))})") from None


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "unknown HDF5 error"
