"""Small synthetic inputs for the Cosmos tests: a dataset written by DatasetWriter, image folders in the layout both
engines write, and the same frames as Isaac Lab Visuomotor observations in the HDF5."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from mimicforge.datasets import DatasetWriter
from mimicforge.media.images import write_png
from mimicforge.outputs import image_path
from tests.datasets.episodes import make_episode

H, W = 16, 24
SEG_COLOURS = np.array([[140, 25, 255, 255], [255, 25, 140, 255], [0, 0, 0, 255]], dtype=np.uint8)


def frames(t: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Deterministic frames of step ``t``: rgb, depth (metres), segmentation RGBA, normals in [-1, 1]."""
    rng = np.random.default_rng([seed, t])
    blocks = (H // 8, W // 8)  # 8x8 blocks of one class and one normal: video codecs keep them nearly intact
    seg = np.kron(SEG_COLOURS[rng.integers(0, len(SEG_COLOURS), blocks)], np.ones((8, 8, 1), np.uint8))
    n = rng.normal(size=blocks + (3,))
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    n = np.kron(n, np.ones((8, 8, 1)))
    return {"rgb": rng.integers(0, 256, (H, W, 3), dtype=np.uint8), "depth": rng.uniform(0.2, 2.0, (H, W)),
            "semantic_segmentation": seg, "normals": n}


def make_dataset(path: Path, lengths: tuple[int, ...]) -> Path:
    with DatasetWriter(path, env_name="Isaac-Stack-Cube-Franka-IK-Rel-Blueprint-Mimic-v0") as w:
        for i, n in enumerate(lengths):
            w.write_demo(make_episode(n, seed=i), success=True)
    return path


def write_folders(output_dir: Path, demo: int, length: int, cameras: tuple[str, ...] = ("table_cam",),
                  modalities: tuple[str, ...] = ("rgb", "depth", "semantic_segmentation", "normals"),
                  dataset: str = "d") -> None:
    """Frames of ``demo`` in the image folders of dataset ``<dataset>.hdf5`` (``<output_dir>/<dataset>/...``)."""
    output_dir = output_dir / dataset
    for ci, cam in enumerate(cameras):
        for m in modalities:
            image_path(output_dir, cam, m, demo, 0).parent.mkdir(parents=True, exist_ok=True)
        for t in range(length):
            f = frames(t, seed=100 * demo + ci)
            for m in modalities:
                write_png(image_path(output_dir, cam, m, demo, t), m, f[m])


def add_obs_images(path: Path, demo: int, camera: str = "table_cam", seed: int = 7) -> None:
    """Isaac Lab Visuomotor-Cosmos observation keys and dtypes: rgb uint8, segmentation uint8 RGBA, normals float32
    (n + 1) / 2, depth float32 (T, H, W, 1) metres."""
    with h5py.File(path, "r+") as f:
        obs = f[f"data/demo_{demo}/obs"]
        n = f[f"data/demo_{demo}/actions"].shape[0]
        fr = [frames(t, seed) for t in range(n)]
        obs[camera] = np.stack([x["rgb"] for x in fr])
        obs[f"{camera}_segmentation"] = np.stack([x["semantic_segmentation"] for x in fr])
        obs[f"{camera}_normals"] = np.stack([(x["normals"] + 1) * 0.5 for x in fr]).astype(np.float32)
        obs[f"{camera}_depth"] = np.stack([x["depth"][..., None] for x in fr]).astype(np.float32)
