"""Subtask signals and success: Isaac Lab 2.3's checks, verified against the signals NVIDIA recorded."""

from __future__ import annotations

import h5py
import numpy as np

from mimicforge.backends.mujoco.signals import cubes_stacked, object_grasped, object_stacked, subtask_signals
from mimicforge.tasks import StackThresholds

TH = StackThresholds()
OPEN = np.array([0.04, 0.04])


def test_signals_recomputed_from_recorded_observations_equal_the_recorded_signals(source_path) -> None:
    """All 3 x 2163 annotated signal values follow from the observations with the task's thresholds."""
    checked = 0
    with h5py.File(source_path, "r") as f:
        for name, g in f["data"].items():
            cubes = g["obs/cube_positions"][()].astype(np.float64)
            eef = g["obs/eef_pos"][()].astype(np.float64)
            fingers = g["obs/joint_pos"][()][:, 7:9].astype(np.float64) + 0.04  # obs is relative to default
            recorded = {k: v[()] for k, v in g["obs/datagen_info/subtask_term_signals"].items()}
            for t in range(len(eef)):
                ours = subtask_signals({"cube_1": cubes[t, :3], "cube_2": cubes[t, 3:6], "cube_3": cubes[t, 6:]},
                                       eef[t], fingers[t], TH)
                for key, values in recorded.items():
                    assert ours[key] == bool(values[t]), (name, t, key)
                    checked += 1
    assert checked == 3 * 2163


def test_every_recorded_demo_ends_stacked_and_starts_unstacked(source_path) -> None:
    with h5py.File(source_path, "r") as f:
        for name, g in f["data"].items():
            for t, expected in ((0, False), (-1, True)):
                cubes = {c: g[f"states/rigid_object/{c}/root_pose"][t, :3].astype(np.float64)
                         for c in ("cube_1", "cube_2", "cube_3")}
                fingers = g["states/articulation/robot/joint_position"][t, 7:9].astype(np.float64)
                assert cubes_stacked(cubes, fingers, TH) is expected, (name, t)


def test_stack_checks_on_constructed_scenes() -> None:
    base = np.array([0.5, 0.0, 0.0203])
    on_top = base + [0.01, -0.01, 0.0468]
    stack = {"cube_1": base, "cube_2": on_top, "cube_3": on_top + [0.0, 0.02, 0.0468]}
    assert cubes_stacked(stack, OPEN, TH)
    assert not cubes_stacked(stack, np.array([0.0398, 0.04]), TH)  # gripper not fully open
    upside_down = {"cube_1": stack["cube_2"], "cube_2": stack["cube_1"], "cube_3": stack["cube_3"]}
    assert not cubes_stacked(upside_down, OPEN, TH)  # order matters for success...
    assert object_stacked(base, on_top, OPEN, TH)  # ...but not for the subtask signal (Isaac's one-sided test)
    assert not cubes_stacked({**stack, "cube_3": on_top + [0.041, 0.0, 0.0468]}, OPEN, TH)  # 41 mm off
    assert object_stacked(on_top + [0.045, 0.0, 0.0468], on_top, OPEN, TH)  # the signal allows 50 mm


def test_grasp_needs_closed_fingers_near_the_cube() -> None:
    cube = np.array([0.5, 0.0, 0.02])
    assert object_grasped(cube, cube + [0, 0, 0.05], np.array([0.03, 0.03]), TH)
    assert not object_grasped(cube, cube + [0, 0, 0.07], np.array([0.03, 0.03]), TH)
    assert not object_grasped(cube, cube, np.array([0.036, 0.03]), TH)  # one finger barely moved


def test_isaac_lab_3_success_rule_also_needs_the_cubes_at_rest() -> None:
    from mimicforge.tasks import SUCCESS_RULES, thresholds_for

    base = np.array([0.5, 0.0, 0.0203])
    stack = {"cube_1": base, "cube_2": base + [0, 0, 0.0468], "cube_3": base + [0, 0, 0.0936]}
    rule3 = thresholds_for("3.0")
    assert SUCCESS_RULES == {"2.3": None, "3.0": 0.05} and thresholds_for("2.3") == TH
    resting = {"cube_1": 0.0, "cube_2": 0.01, "cube_3": 0.049}
    assert cubes_stacked(stack, OPEN, rule3, resting)
    assert not cubes_stacked(stack, OPEN, rule3, {**resting, "cube_3": 0.05})  # falling through the pose
    assert cubes_stacked(stack, OPEN, TH, {**resting, "cube_3": 0.5})  # 2.3 never looks at speeds


def test_the_twin_applies_the_named_generation_s_success_rule(source_path) -> None:
    """Replaying a human demo: both rules see it end stacked; in the step its last cube lands (still moving),
    only 2.3's rule counts it already."""
    from mimicforge.backends.mujoco.env import FrankaStackTwin
    from mimicforge.backends.mujoco.params import TwinParams
    from mimicforge.datasets import DatasetReader

    with DatasetReader(source_path) as r:
        demo = r.demo("demo_0")
    first = {}
    for rule in ("2.3", "3.0"):
        with FrankaStackTwin(TwinParams(success_rule=rule)) as env:
            env.reset_to(demo.initial_state)
            for t, action in enumerate(demo.actions):
                env.step(action)
                if env.is_success() and rule not in first:
                    first[rule] = t
            assert env.is_success(), rule
    assert first["2.3"] <= first["3.0"]
