"""Which Isaac Lab Mimic tasks have cameras, and what their image terms record (no Isaac import, no numpy).

Camera sensors in Isaac Lab raise inside ``gym.make`` unless Kit was started with cameras enabled, and
Kit cannot restart in a process, so whether cameras are on must be decided from the task *before* Kit
starts; likewise ``CAMERAS`` / ``MODALITIES`` are checked against this table before Kit starts.

- ``files``: image terms that save PNG files (the Blueprint task's ``image`` term with ``image_path``);
  ``CAMERAS`` / ``MODALITIES`` choose among these, and the driver sorts them into the image folders.
- ``recorded``: image terms whose frames go into the HDF5 ``obs`` (the Visuomotor tasks); always recorded.

The contract test reads every ``isaaclab`` wheel's task config sources and checks this table against them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mimicforge.errors import ConfigError

Stream = tuple[str, str]  # (camera, modality)


@dataclass(frozen=True)
class CameraTask:
    gym_id: str
    config: str  # the task config file (module path below the stack task's package)
    files: tuple[Stream, ...]
    recorded: tuple[Stream, ...]

    @property
    def cameras(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c for c, _ in (*self.files, *self.recorded)))


_BP, _VM, _COSMOS = ("stack_ik_rel_blueprint_env_cfg", "stack_ik_rel_visuomotor_env_cfg",
                     "stack_ik_rel_visuomotor_cosmos_env_cfg")
CAMERA_TASKS: dict[str, CameraTask] = {t.gym_id: t for t in (
    CameraTask("Isaac-Stack-Cube-Franka-IK-Rel-Blueprint-Mimic-v0", _BP,
               files=(("table_cam", "normals"), ("table_cam", "semantic_segmentation"),
                      ("table_high_cam", "normals"), ("table_high_cam", "semantic_segmentation")),
               recorded=()),
    CameraTask("Isaac-Stack-Cube-Franka-IK-Rel-Visuomotor-Mimic-v0", _VM, files=(),
               recorded=(("table_cam", "rgb"), ("wrist_cam", "rgb"))),
    CameraTask("Isaac-Stack-Cube-Franka-IK-Rel-Visuomotor-Cosmos-Mimic-v0", _COSMOS, files=(),
               recorded=(("table_cam", "rgb"), ("wrist_cam", "rgb"), ("table_cam", "semantic_segmentation"),
                         ("table_cam", "normals"), ("table_cam", "distance_to_image_plane"))),
)}
# Where the stack task configs live: Isaac Lab up to 2.3, and 3.0 (moved to contrib).
TASK_CONFIG_PACKAGES = ("isaaclab_tasks.manager_based.manipulation.stack.config.franka",
                        "isaaclab_tasks.contrib.stack.config.franka")


def needs_cameras(env_name: str, cameras: Sequence[str]) -> bool:
    """Kit must start with cameras: the task creates camera sensors, or image files were asked for."""
    return env_name in CAMERA_TASKS or bool(cameras)


def check_cameras(env_name: str, cameras: Sequence[str], modalities: Sequence[str]) -> list[Stream]:
    """The image-file streams ``CAMERAS`` x ``MODALITIES`` select for this task (empty: none asked).

    Raises ConfigError, before Kit starts, for a task that saves no image files or a stream it lacks.
    Unknown tasks (not in the table) are left to the check on the live env config after Kit starts.
    """
    if not cameras:
        return []
    wanted = [(c, m) for c in cameras for m in modalities]
    task = CAMERA_TASKS.get(env_name)
    if task is None:
        return wanted
    if not task.files:
        where = f"; its cameras ({', '.join(task.cameras)}) are recorded in the HDF5 obs" if task.recorded else ""
        raise ConfigError(f"task {env_name} saves no camera image files{where}; unset CAMERAS, or use "
                          "TASK=Isaac-Stack-Cube-Franka-IK-Rel-Blueprint-Mimic-v0 for image folders")
    missing = [s for s in wanted if s not in task.files]
    if missing:
        offered = ", ".join(f"{c}:{m}" for c, m in task.files)
        raise ConfigError(f"task {env_name} does not save {', '.join(f'{c}:{m}' for c, m in missing)}; it offers "
                          f"{offered} (set CAMERAS and MODALITIES from these, e.g. MODALITIES=normals,"
                          "semantic_segmentation)")
    return wanted
