"""Generated datasets the export tests read: real MimicGen runs on the MuJoCo twin from NVIDIA's annotated demos,
made once per session (a few seconds each)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mimicforge.backends.mujoco import deps
from mimicforge.errors import BackendUnavailable


def _generate(real_dataset: Path, out: Path, trials: int, seed: int, **env: str) -> Path:
    try:
        deps.import_mujoco()
    except BackendUnavailable as exc:
        pytest.skip(str(exc))
    from mimicforge.config import load_config
    from mimicforge.run.dispatch import generate

    generate(load_config(env={"INPUT_FILE": str(real_dataset), "OUTPUT_FILE": str(out), "NUM_TRIALS": str(trials),
                              "SEED": str(seed), "WORKERS": "1", "RAY": "0", **env}))
    return out


@pytest.fixture(scope="session")
def state_dataset(real_dataset, tmp_path_factory) -> Path:
    """20 successful state-only demos (legacy format, quaternions w, x, y, z)."""
    return _generate(real_dataset, tmp_path_factory.mktemp("state") / "state.hdf5", 20, 1)


@pytest.fixture(scope="session")
def image_dataset(real_dataset, tmp_path_factory) -> Path:
    """2 demos with table_cam and wrist_cam rgb images in obs (Isaac Lab's Visuomotor names), 64 x 48."""
    return _generate(real_dataset, tmp_path_factory.mktemp("images") / "vm.hdf5", 2, 2,
                     IMAGE_OBS="table_cam,wrist_cam", IMAGE_OBS_WIDTH="64", IMAGE_OBS_HEIGHT="48")


@pytest.fixture(scope="session")
def folder_dataset(real_dataset, tmp_path_factory) -> tuple[Path, Path]:
    """2 demos with rgb image folders of table_cam and table_high_cam, 64 x 48: (dataset, image output dir)."""
    root = tmp_path_factory.mktemp("folders")
    out = _generate(real_dataset, root / "cams.hdf5", 2, 3, CAMERAS="table_cam,table_high_cam", MODALITIES="rgb",
                    CAMERA_WIDTH="64", CAMERA_HEIGHT="48", OUTPUT_DIR=str(root / "output"))
    return out, root / "output"
