"""What runs without robomimic: finding checkpoints, reading what a config observes, the Wilson interval, the
table, the cameras an image policy sees, and the one-line install hint where robomimic is missing."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from mimicforge.errors import ConfigError
from mimicforge.evaluate import ROBOMIMIC_HINT, find_checkpoints, table, wilson
from mimicforge.evaluate.checkpoints import epoch_of, obs_spec


def test_find_checkpoints_orders_a_run_folder_by_epoch_and_drops_duplicates(tmp_path: Path) -> None:
    models = tmp_path / "run" / "20260101" / "models"
    models.mkdir(parents=True)
    for epoch in (100, 5, 20):
        (models / f"model_epoch_{epoch}.pth").write_bytes(b"x")
    (models / "notes.txt").write_text("not a checkpoint")
    found = find_checkpoints([str(tmp_path / "run"), str(models / "model_epoch_5.pth")])
    assert [p.name for p in found] == ["model_epoch_5.pth", "model_epoch_20.pth", "model_epoch_100.pth"]
    assert [p.name for p in find_checkpoints([str(models / "model_epoch_1*.pth")])] == ["model_epoch_100.pth"]
    assert epoch_of(Path("model_epoch_50_best_validation_0.1.pth")) == 50


@pytest.mark.parametrize("spec, words", [("missing.pth", "no such checkpoint"), ("*.nothing", "matches no"),
                                          (".", "no robomimic checkpoints")])
def test_find_checkpoints_names_what_is_wrong(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spec: str,
                                              words: str) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=words):
        find_checkpoints([spec])


def test_obs_spec_accepts_the_twins_keys_and_names_the_first_it_cannot_provide() -> None:
    spec = obs_spec("ck", {"low_dim": ["eef_pos", "object"], "rgb": ["table_cam", "wrist_cam"]},
                    {"table_cam": [3, 84, 96], "wrist_cam": [3, 84, 96]})
    assert spec.low_dim == ("eef_pos", "object") and spec.image_size() == (84, 96)
    with pytest.raises(ConfigError, match="'robot0_eef_pos'.*eef_pos"):
        obs_spec("ck", {"low_dim": ["robot0_eef_pos"]}, {})
    with pytest.raises(ConfigError, match="'agentview_image'.*table_cam"):
        obs_spec("ck", {"rgb": ["agentview_image"]}, {})
    with pytest.raises(ConfigError, match="depth"):
        obs_spec("ck", {"low_dim": ["eef_pos"], "depth": ["table_cam_depth"]}, {})
    with pytest.raises(ConfigError, match="different sizes"):
        obs_spec("ck", {"rgb": ["table_cam", "wrist_cam"]},
                 {"table_cam": [3, 84, 84], "wrist_cam": [3, 64, 64]}).image_size()


def test_wilson_interval_matches_known_values() -> None:
    assert wilson(0, 50) == [0.0, 0.0714]  # z^2 / (n + z^2)
    assert wilson(6, 50) == [0.0562, 0.2381]
    assert wilson(50, 50) == [0.9286, 1.0]
    lo, hi = wilson(25, 50)
    assert lo < 0.5 < hi and abs((0.5 - lo) - (hi - 0.5)) < 1e-3


def test_table_marks_the_best_row() -> None:
    progress = {s: {"rate": r, "interval_95": [0, 1]} for s, r in
                (("grasp_1", 1.0), ("stack_1", 0.5), ("grasp_2", 0.5), ("stacked", 0.5))}
    rows = [{"checkpoint": f"/r/models/model_epoch_{e}.pth", "epoch": e, "episodes": 2, "successes": k,
             "success_rate": k / 2, "interval_95": wilson(k, 2), "progress": progress, "mean_length": 300.0}
            for e, k in ((5, 0), (10, 1))]
    lines = list(table(rows, "/r/models/model_epoch_10.pth"))
    assert len(lines) == 3 and lines[2].startswith("*model_epoch_10.pth") and not lines[1].startswith("*")
    assert "1/2 50%" in lines[2]


@pytest.mark.skipif(importlib.util.find_spec("robomimic") is not None, reason="robomimic is installed here")
def test_without_robomimic_evaluate_is_one_line_with_the_install_hint(cli, tmp_path: Path) -> None:
    ckpt = tmp_path / "model_epoch_1.pth"
    ckpt.write_bytes(b"not loaded: robomimic is missing")
    r = cli("evaluate", str(ckpt))
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip().count("\n") == 0 and "setup-train.sh" in r.stderr and "Traceback" not in r.stderr
    assert ROBOMIMIC_HINT.split(":")[0] in r.stderr


def test_rgb_rendered_for_a_policy_is_what_generate_records() -> None:
    """The frames handed to an image policy come from the same Visuomotor cameras and size as ``--image-obs``."""
    import numpy as np

    from mimicforge.backends.mujoco import make_env
    from mimicforge.backends.mujoco.params import CameraParams, TwinParams
    from mimicforge.evaluate.rollout import observe

    with make_env(TwinParams(image_obs=CameraParams(height=48, width=64))) as env:
        env.reset(seed=3)
        obs = observe(env, ["eef_pos"], ["table_cam", "wrist_cam"])
        assert obs["table_cam"].shape == (48, 64, 3) and obs["table_cam"].dtype == np.uint8
        assert np.array_equal(obs["wrist_cam"], env.render_visuomotor("wrist_cam", ["rgb"])["rgb"])
        assert not np.array_equal(obs["table_cam"], obs["wrist_cam"])


@pytest.mark.parametrize("flag, value", [("--episodes", "0"), ("--horizon", "-5"), ("--video", "-1")])
def test_bad_counts_are_one_line_before_anything_loads(cli, tmp_path: Path, flag: str, value: str) -> None:
    r = cli("evaluate", str(tmp_path / "missing.pth"), flag, value)
    assert r.returncode == 2 and r.stdout == "" and "Traceback" not in r.stderr
    assert r.stderr.strip().count("\n") == 0 and f"{flag} {value}" in r.stderr
