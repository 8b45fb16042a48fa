"""check_env passes the twin and catches environments that break the MimicEnv contract."""

from __future__ import annotations

import numpy as np
import pytest

from mimicforge.backends.check import check_env
from mimicforge.backends.mujoco.env import FrankaStackTwin


def test_the_twin_passes_check_env(twin) -> None:
    assert check_env(twin) == []


class _SeedIgnored(FrankaStackTwin):
    def reset(self, seed=None):
        return super().reset(0)


class _Unclamped(FrankaStackTwin):
    def target_eef_pose_to_action(self, target_eef_pose, gripper_action, action_noise=None, rng=None):
        pose = np.asarray(target_eef_pose["franka"])
        delta = pose[:3, 3] - self.get_robot_eef_pose("franka")[:3, 3]
        return np.concatenate([delta, np.zeros(3), np.asarray(gripper_action["franka"])[:1]])


class _StaleObservations(FrankaStackTwin):
    def observations(self):
        return {k: v * 0 for k, v in super().observations().items()}


class _NoStack(FrankaStackTwin):
    def get_subtask_term_signals(self):
        signals = super().get_subtask_term_signals()
        signals.pop("stack_1")
        return signals


@pytest.mark.parametrize("cls, finding", [
    (_SeedIgnored, "reset ignores its seed"),
    (_Unclamped, "does not invert"),
    (_StaleObservations, "observations() differs"),
    (_NoStack, "'stack_1' is missing"),
])
def test_check_env_reports_each_breach(cls, finding) -> None:
    with cls(seed=0) as env:
        problems = check_env(env, render=False)
    assert any(finding in p for p in problems), problems


def test_check_env_rejects_non_envs() -> None:
    problems = check_env(object())
    assert len(problems) == 1 and problems[0].startswith("not a MimicEnv")
