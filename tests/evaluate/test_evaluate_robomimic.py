"""``mimicforge evaluate`` on real robomimic checkpoints: a tiny BC-RNN trained for a few gradient steps by
robomimic's own ``train`` script on NVIDIA's 10 human demos, then rolled out in the twin by the CLI.

Needs robomimic (``bash scripts/setup-train.sh``; CI runs these in ``.venv-train``); skipped with that hint
elsewhere.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from mimicforge.evaluate import ROBOMIMIC_HINT, STAGES

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("robomimic") is None or importlib.util.find_spec("torchvision") is None,
    reason=ROBOMIMIC_HINT)

LOW_DIM = ["eef_pos", "eef_quat", "gripper_pos", "object"]  # Isaac Lab's bc_rnn_low_dim.json keys


def tiny_config(data: Path, out: Path) -> dict:
    """BC-RNN-GMM as in Isaac Lab's config, shrunk: 2 epochs of 3 steps, LSTM 1 x 16, a checkpoint per epoch."""
    return {
        "algo_name": "bc",
        "experiment": {"name": "tiny", "validate": False, "logging": {"terminal_output_to_txt": False,
                                                                      "log_tb": False},
                       "save": {"enabled": True, "every_n_seconds": None, "every_n_epochs": 1, "epochs": [],
                                "on_best_validation": False, "on_best_rollout_return": False,
                                "on_best_rollout_success_rate": False},
                       "epoch_every_n_steps": 3, "rollout": {"enabled": False}, "render": False,
                       "render_video": False},
        "train": {"data": str(data), "output_dir": str(out), "num_data_workers": 0, "hdf5_cache_mode": "low_dim",
                  "hdf5_use_swmr": True, "hdf5_normalize_obs": False, "seq_length": 10, "dataset_keys": ["actions"],
                  "cuda": False, "batch_size": 8, "num_epochs": 2, "seed": 1},
        "algo": {"gmm": {"enabled": True, "num_modes": 2, "min_std": 0.0001, "std_activation": "softplus",
                         "low_noise_eval": True},
                 "rnn": {"enabled": True, "horizon": 10, "hidden_dim": 16, "rnn_type": "LSTM", "num_layers": 1}},
        "observation": {"modalities": {"obs": {"low_dim": LOW_DIM, "rgb": [], "depth": [], "scan": []}}},
    }


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory, real_dataset: Path) -> Path:
    root = tmp_path_factory.mktemp("bc_rnn")
    cfg = root / "config.json"
    cfg.write_text(json.dumps(tiny_config(real_dataset, root / "runs")))
    proc = subprocess.run([sys.executable, "-m", "robomimic.scripts.train", "--config", str(cfg)],
                          capture_output=True, text=True, cwd=root, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert len(list((root / "runs").rglob("*.pth"))) == 2
    return root / "runs"


def evaluate_json(cli, *args: str) -> dict:
    r = cli("evaluate", *args, "--json", "--episodes", "2", "--horizon", "15")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_a_run_folder_gives_one_row_per_checkpoint_on_the_same_seeds_and_the_best(cli, run_dir: Path) -> None:
    out = evaluate_json(cli, str(run_dir), "--seed", "7")
    rows = out["checkpoints"]
    assert [r["epoch"] for r in rows] == [1, 2]
    assert all(r["seeds"] == [7, 8] and r["episodes"] == 2 for r in rows)
    assert out["best"] in [r["checkpoint"] for r in rows]
    for r in rows:
        assert set(r["progress"]) == set(STAGES) == {"grasp_1", "stack_1", "grasp_2", "stacked"}
        assert r["successes"] == 0 and r["interval_95"] == [0.0, 0.6576]  # 6 steps of training stack nothing
        assert r["mean_length"] == 15.0


def test_the_same_checkpoint_and_seeds_give_the_same_rollouts(cli, run_dir: Path, tmp_path: Path) -> None:
    """The GMM's sampling is seeded per episode, so a checkpoint's numbers are reproducible."""
    ckpt = sorted(run_dir.rglob("model_epoch_2.pth"))[0]
    first = evaluate_json(cli, str(ckpt), "--video", "1", "--video-dir", str(tmp_path))
    second = evaluate_json(cli, str(ckpt), "--video-dir", str(tmp_path / "none"))
    for row in (first["checkpoints"][0], second["checkpoints"][0]):
        row.pop("seconds"), row.pop("videos")
    assert first["checkpoints"] == second["checkpoints"]
    videos = list(tmp_path.glob("*.mp4"))
    assert len(videos) == 1 and videos[0].stat().st_size > 1000 and "model_epoch_2_episode_0" in videos[0].name


def test_a_file_that_is_not_a_checkpoint_is_one_line(cli, run_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "model_epoch_9.pth"
    bad.write_bytes(b"\x00garbage" * 100)
    r = cli("evaluate", str(next(run_dir.rglob("*.pth"))), str(bad))
    assert r.returncode == 2 and r.stdout == "" and "Traceback" not in r.stderr
    assert r.stderr.strip().count("\n") == 0 and str(bad) in r.stderr and "not a readable robomimic" in r.stderr


def test_a_policy_observing_a_key_the_twin_lacks_is_one_line(cli, run_dir: Path, tmp_path: Path) -> None:
    import torch

    ckpt = torch.load(next(run_dir.rglob("*.pth")), map_location="cpu", weights_only=False)
    config = json.loads(ckpt["config"])
    config["observation"]["modalities"]["obs"]["low_dim"][0] = "robot0_eef_pos"  # robosuite's name
    ckpt["config"] = json.dumps(config)
    edited = tmp_path / "robosuite_keys.pth"
    torch.save(ckpt, edited)
    r = cli("evaluate", str(edited))
    assert r.returncode == 2 and r.stdout == "" and "Traceback" not in r.stderr
    assert r.stderr.strip().count("\n") == 0 and "'robot0_eef_pos'" in r.stderr and "eef_pos" in r.stderr


IMAGE_POLICY = """
import sys
import torch
from robomimic.algo import algo_factory
from robomimic.config import config_factory
from robomimic.utils import obs_utils, train_utils

config = config_factory("bc")
with config.values_unlocked():
    config.observation.modalities.obs.low_dim = ["eef_pos", "gripper_pos"]
    config.observation.modalities.obs.rgb = ["table_cam", "wrist_cam"]
    config.algo.rnn.enabled = True
    config.algo.rnn.hidden_dim = 16
    config.algo.rnn.horizon = 10
    config.train.cuda = False
obs_utils.initialize_obs_utils_with_config(config)
shapes = {"eef_pos": [3], "gripper_pos": [2], "table_cam": [3, 64, 80], "wrist_cam": [3, 64, 80]}
model = algo_factory("bc", config, obs_key_shapes=shapes, ac_dim=7, device=torch.device("cpu"))
train_utils.save_model(model=model, config=config, env_meta={"env_name": "stack", "type": 2, "env_kwargs": {}},
                       shape_meta={"all_shapes": shapes, "all_obs_keys": list(shapes), "ac_dim": 7,
                                   "use_images": True}, ckpt_path=sys.argv[1])
"""


def test_an_image_policy_gets_the_visuomotor_cameras_at_its_trained_size(cli, tmp_path: Path) -> None:
    """An untrained BC-RNN on ``table_cam`` + ``wrist_cam`` (robomimic's default ResNet18 visual core) saved by
    robomimic's own ``save_model`` at 64 x 80: the twin renders both cameras at that size and the policy acts.
    Built in a subprocess: torchvision's import of triton crashed in a process that had already rendered with
    MuJoCo's EGL context (``evaluate`` itself loads policies before it builds the twin)."""
    ckpt = tmp_path / "image_policy.pth"
    proc = subprocess.run([sys.executable, "-c", IMAGE_POLICY, str(ckpt)], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    r = cli("evaluate", str(ckpt), "--json", "--episodes", "1", "--horizon", "3")
    assert r.returncode == 0, r.stderr
    row = json.loads(r.stdout)["checkpoints"][0]
    assert row["episodes"] == 1 and row["mean_length"] == 3.0
