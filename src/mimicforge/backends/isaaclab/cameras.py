"""Camera decisions for Isaac Lab, made before Kit starts from the task registry's image terms (no Isaac
import, no numpy).

Camera sensors in Isaac Lab raise inside ``gym.make`` unless Kit was started with cameras enabled, and
Kit cannot restart in a process, so whether cameras are on must be decided from the task *before* Kit
starts; likewise ``CAMERAS`` / ``MODALITIES`` are checked against the task's image-file streams
(``tasks.TaskEntry.image_files``) before Kit starts. The contract test reads every ``isaaclab`` wheel's
task config sources and checks the registry's image terms against them.
"""

from __future__ import annotations

from collections.abc import Sequence

from mimicforge.errors import ConfigError
from mimicforge.tasks import REGISTRY, Stream, TaskEntry

CAMERA_TASKS: dict[str, TaskEntry] = {name: e for name, e in REGISTRY.items() if e.has_cameras}
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
    if not task.image_files:
        where = f"; its cameras ({', '.join(task.cameras)}) are recorded in the HDF5 obs" if task.image_obs else ""
        raise ConfigError(f"task {env_name} saves no camera image files{where}; unset CAMERAS, or use "
                          "TASK=Isaac-Stack-Cube-Franka-IK-Rel-Blueprint-Mimic-v0 for image folders")
    missing = [s for s in wanted if s not in task.image_files]
    if missing:
        offered = ", ".join(f"{c}:{m}" for c, m in task.image_files)
        raise ConfigError(f"task {env_name} does not save {', '.join(f'{c}:{m}' for c, m in missing)}; it offers "
                          f"{offered} (set CAMERAS and MODALITIES from these, e.g. MODALITIES=normals,"
                          "semantic_segmentation)")
    return wanted
