from __future__ import annotations

import h5py
import numpy as np
import pytest

from mimicforge.datasets.motion import IDLE_HAND_M, episode_idle_share, idle_share, idle_steps


def test_idle_needs_a_still_hand_and_still_fingers():
    eef = np.zeros((6, 3))
    eef[1:, 0] = np.cumsum([0.005, 0.0002, 0.0002, 0.0002, 0.003])  # moving, still, still, still, moving
    grip = np.full((6, 2), 0.04)
    grip[3:, :] = 0.03  # the fingers close between steps 2 and 3: not idle even though the hand is still
    np.testing.assert_array_equal(idle_steps(eef, grip), [False, True, False, True, False])
    assert idle_share(eef, grip) == pytest.approx(0.4)
    assert idle_share(eef[:1], grip[:1]) == 0.0
    assert episode_idle_share({"eef_pos": eef}) is None


def test_threshold_is_per_step_travel():
    eef = np.zeros((3, 3))
    eef[:, 2] = [0.0, IDLE_HAND_M * 0.99, IDLE_HAND_M * 2.0]
    assert list(idle_steps(eef, np.zeros((3, 2)))) == [True, False]


def test_human_demos_idle_share(real_dataset):
    with h5py.File(real_dataset) as f:
        shares = [episode_idle_share({k: g["obs"][k][()] for k in ("eef_pos", "gripper_pos")})
                  for g in f["data"].values()]
    assert np.mean(shares) == pytest.approx(0.0764, abs=5e-4)
    assert 0.04 < min(shares) and max(shares) < 0.13
