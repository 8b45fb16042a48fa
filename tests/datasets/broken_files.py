"""Copies of NVIDIA's annotated file, each broken the way a user's file was (issue: ``validate`` said "valid"
for files that broke the next step). Plain h5py edits of real data; shared by the validate, merge and inspect
tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np


def training_copy(real: Path, out: Path) -> Path:
    """The real demos without ``obs/datagen_info``: a file with the layout ``generate`` writes (training data)."""
    shutil.copy(real, out)
    with h5py.File(out, "r+") as f:
        for demo in f["data"].values():
            del demo["obs/datagen_info"]
    return out


def annotated_without_pose(real: Path, out: Path, demo: str = "demo_3", obj: str = "cube_2") -> Path:
    """An annotated source with one demo lacking one object's datagen pose (``generate`` rejects it)."""
    shutil.copy(real, out)
    with h5py.File(out, "r+") as f:
        del f[f"data/{demo}/obs/datagen_info/object_pose/{obj}"]
    return out


def training_with_holes(real: Path, out: Path) -> Path:
    """Training data with an obs key and a states group deleted in one demo each, and NaN in two demos."""
    training_copy(real, out)
    with h5py.File(out, "r+") as f:
        del f["data/demo_7/obs/eef_pos"]
        del f["data/demo_4/states/rigid_object/cube_2"]
        f["data/demo_2/actions"][5, 0] = np.nan
        f["data/demo_5/obs/joint_pos"][3, 1] = np.nan
    return out


def training_mixed_obs(real: Path, out: Path, with_images: tuple[str, ...] = ("demo_0", "demo_1")) -> Path:
    """Training data whose demos differ in ``obs``: camera images in some demos only (a merge of image and
    non-image runs, or ``ingest --keep-originals``), and one demo storing ``joint_pos`` as float64."""
    training_copy(real, out)
    with h5py.File(out, "r+") as f:
        for name in with_images:
            obs = f[f"data/{name}/obs"]
            obs.create_dataset("table_cam", data=np.zeros((obs["joint_pos"].shape[0], 8, 8, 3), np.uint8))
        jp = f["data/demo_6/obs/joint_pos"][()].astype(np.float64)
        del f["data/demo_6/obs/joint_pos"]
        f["data/demo_6/obs/joint_pos"] = jp
    return out


def annotated_plus_training(real: Path, out: Path) -> Path:
    """The annotated demos followed by unannotated ones in one file, as an unchecked merge wrote it."""
    shutil.copy(real, out)
    with h5py.File(real, "r") as src, h5py.File(out, "r+") as f:
        data = f["data"]
        n = len(data)
        for i, name in enumerate(list(src["data"])):
            data.copy(src[f"data/{name}"], f"demo_{n + i}")
            del data[f"demo_{n + i}/obs/datagen_info"]
        data.attrs["total"] = 2 * int(src["data"].attrs["total"])
    return out


BROKEN = {
    "annotated_without_pose": annotated_without_pose,
    "training_with_holes": training_with_holes,
    "training_mixed_obs": training_mixed_obs,
    "annotated_plus_training": annotated_plus_training,
}
