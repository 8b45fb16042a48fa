"""The task registry owns the task facts; check_env and the twin take them from it."""

from __future__ import annotations

import dataclasses

import pytest

from mimicforge.backends import make_env_factory
from mimicforge.backends.check import check_env
from mimicforge.backends.mujoco import signals
from mimicforge.backends.mujoco.params import SceneParams
from mimicforge.config import load_config
from mimicforge.errors import ConfigError
from mimicforge.tasks import FRANKA_STACK, REGISTRY, TASKS, TaskSpec, task_entry, task_for_env


def test_registry_maps_gym_ids_to_spec_and_twin():
    entry = task_entry("Isaac-Stack-Cube-Franka-IK-Rel-Blueprint-Mimic-v0")
    assert entry.spec is FRANKA_STACK and entry.twin == "mimicforge.backends.mujoco:make_env"
    assert TASKS == {name: e.spec for name, e in REGISTRY.items()}
    with pytest.raises(ConfigError, match="no task is known for env 'Nope-v0'"):
        task_for_env("Nope-v0")


def test_the_twin_reads_its_facts_from_the_registry():
    assert signals.SIGNALS is FRANKA_STACK.signals
    assert set(FRANKA_STACK.signals) == set(FRANKA_STACK.term_signals("franka"))
    assert SceneParams().cube_edge == FRANKA_STACK.object_size
    assert FRANKA_STACK.action_layout.dim == 7


def test_signals_must_name_known_checks_and_objects():
    with pytest.raises(ConfigError, match="signal 'grasp_1'"):
        dataclasses.replace(FRANKA_STACK, signals={"grasp_1": ("grasped", ("cube_9",))})


def test_twin_cameras_come_from_the_task():
    build = make_env_factory("mujoco")
    cfg = load_config(env={"CAMERAS": "wrist_cam"})
    with pytest.raises(ConfigError, match="unknown camera 'wrist_cam'; the task has table_cam and table_high_cam"):
        build(FRANKA_STACK, cfg)
    other = TaskSpec(name="other", env_name="Other-v0", eef_names=FRANKA_STACK.eef_names,
                     object_names=FRANKA_STACK.object_names, subtasks=FRANKA_STACK.subtasks)
    with pytest.raises(ConfigError, match="does not model task 'Other-v0'"):
        build(other, load_config(env={}))


def test_check_env_takes_the_action_layout_from_the_task():
    from mimicforge.backends.mujoco.env import FrankaStackTwin

    wider = dataclasses.replace(FRANKA_STACK.action_layout, gripper=("left", "right"))
    with FrankaStackTwin(seed=0) as twin:
        twin.task = dataclasses.replace(FRANKA_STACK, action_layout=wider)
        problems = check_env(twin)
    assert problems == ["action_dim 7 is not the task's action layout of 8 (dx, dy, dz, drx, dry, drz, left, right)"]


def test_image_terms_live_in_the_registry():
    from mimicforge.backends.isaaclab import cameras

    blueprint_id = "Isaac-Stack-Cube-Franka-IK-Rel-Blueprint-Mimic-v0"
    blueprint = task_entry(blueprint_id)
    assert blueprint.cameras == FRANKA_STACK.cameras and not blueprint.image_obs
    assert set(cameras.CAMERA_TASKS) == {name for name, e in REGISTRY.items() if e.image_files or e.image_obs}
    assert not task_entry(FRANKA_STACK.env_name).has_cameras
    assert cameras.check_cameras(blueprint_id, ["table_high_cam"], ["normals"]) == [("table_high_cam", "normals")]
    with pytest.raises(ConfigError, match="does not save table_cam:rgb; it offers table_cam:normals"):
        cameras.check_cameras(blueprint_id, ["table_cam"], ["rgb"])
    cosmos = task_entry("Isaac-Stack-Cube-Franka-IK-Rel-Visuomotor-Cosmos-Mimic-v0")
    assert cosmos.twin is None and cosmos.cameras == ("table_cam", "wrist_cam")
    assert cosmos.segmentation_colors["cube_1"] != blueprint.segmentation_colors["cube_1"]
