"""How well a policy learns from a dataset: behaviour cloning on low-dimensional observations, evaluated in
the twin. Prints one JSON object.

For each dataset given (``NAME=PATH``), the same network is trained with the same budget (gradient steps,
batch, learning rate, seed) on CPU torch, then rolled out on the same seeded resets of the twin; the
success rate comes with a 95 % Wilson interval, and so does the share of episodes in which each subtask
signal fired at least once (``grasp_1``, ``stack_1``, ``grasp_2``): how far the policies get.
Observations are the keys Isaac Lab's robomimic config for
this task uses (``bc_rnn_low_dim.json`` of the Franka stack task: ``eef_pos``, ``eef_quat``,
``gripper_pos``, ``object``), the current one and the previous one; the targets are the recorded 7-D actions.

    python bench/policy.py human=H.hdf5 default=D.hdf5 parity=P.hdf5 [--steps 10000] [--episodes 50]
        [--robomimic-python /path/to/venv/bin/python --robomimic-dataset D.hdf5]

``--robomimic-python`` additionally trains robomimic's own BC-RNN (the task's config, cut to a few epochs)
on one dataset in that interpreter (robomimic imports torchvision, which needs its matching torch: keep it
in a separate environment) and reports whether it trained and its losses. ``bench/bc_rnn.py`` trains BC-RNN
properly and evaluates its checkpoints with ``mimicforge evaluate``.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

from mimicforge.evaluate import wilson

OBS_KEYS = ("eef_pos", "eef_quat", "gripper_pos", "object")


def load(paths: list[Path], limit: int | None) -> tuple[np.ndarray, np.ndarray, int, float]:
    """(observations with the previous step's appended, actions, number of demos, mean length) of the
    first ``limit`` demos (None: all) of the files, in order."""
    xs, ys, lengths = [], [], []
    for path in paths:
        with h5py.File(path, "r") as f:
            groups = [f["data"][n] for n in sorted(f["data"], key=lambda n: int(n.split("_")[-1]))]
            if limit is not None:
                groups = groups[:max(0, limit - len(lengths))]
            for g in groups:
                obs = np.concatenate([g["obs"][k][()] for k in OBS_KEYS], axis=1).astype(np.float32)
                prev = np.concatenate([obs[:1], obs[:-1]])
                xs.append(np.concatenate([obs, prev], axis=1))
                ys.append(g["actions"][()].astype(np.float32))
                lengths.append(len(obs))
    return np.concatenate(xs), np.concatenate(ys), len(lengths), float(np.mean(lengths))


class Policy:
    """An MLP on normalized observations; the gripper action is the sign of its last output."""

    def __init__(self, x: np.ndarray, y: np.ndarray, hidden: int, seed: int) -> None:
        import torch

        torch.manual_seed(seed)
        self.torch = torch
        self.x_mean, self.x_std = x.mean(0), x.std(0) + 1e-6
        self.y_mean, self.y_std = y.mean(0), y.std(0) + 1e-6
        self.y_mean[-1], self.y_std[-1] = 0.0, 1.0  # the gripper stays -1 / +1
        self.net = torch.nn.Sequential(
            torch.nn.Linear(x.shape[1], hidden), torch.nn.ReLU(),
            torch.nn.Linear(hidden, hidden), torch.nn.ReLU(),
            torch.nn.Linear(hidden, hidden), torch.nn.ReLU(),
            torch.nn.Linear(hidden, y.shape[1]),
        )

    def train(self, x: np.ndarray, y: np.ndarray, steps: int, batch: int, lr: float, seed: int) -> list[float]:
        torch = self.torch
        xt = torch.from_numpy((x - self.x_mean) / self.x_std)
        yt = torch.from_numpy((y - self.y_mean) / self.y_std)
        opt = torch.optim.Adam(self.net.parameters(), lr=lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
        gen = torch.Generator().manual_seed(seed)
        losses = []
        for step in range(steps):
            idx = torch.randint(0, len(xt), (batch,), generator=gen)
            loss = torch.nn.functional.mse_loss(self.net(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            if step % max(1, steps // 10) == 0 or step == steps - 1:
                losses.append(round(float(loss.detach()), 5))
        return losses

    def act(self, x: np.ndarray) -> np.ndarray:
        with self.torch.no_grad():
            out = self.net(self.torch.from_numpy(((x - self.x_mean) / self.x_std).astype(np.float32)))
        a = out.numpy() * self.y_std + self.y_mean
        a[-1] = 1.0 if a[-1] >= 0 else -1.0
        return a


def evaluate(policy: Policy, episodes: int, max_steps: int, seed: int) -> dict:
    from mimicforge.backends.mujoco.env import FrankaStackTwin

    successes, lengths = 0, []
    reached: dict[str, int] = {}
    with FrankaStackTwin() as env:
        for ep in range(episodes):
            obs = env.reset(seed=seed + ep)
            cur = np.concatenate([np.asarray(obs[k], dtype=np.float32).reshape(-1) for k in OBS_KEYS])
            prev = cur
            fired: set[str] = set()
            for t in range(max_steps):
                obs = env.step(policy.act(np.concatenate([cur, prev])))
                prev, cur = cur, np.concatenate([np.asarray(obs[k], dtype=np.float32).reshape(-1) for k in OBS_KEYS])
                fired.update(k for k, v in env.get_subtask_term_signals().items() if v)
                if env.is_success():
                    successes += 1
                    lengths.append(t + 1)
                    break
            for k in fired:
                reached[k] = reached.get(k, 0) + 1
    stages = {k: {"rate": round(n / episodes, 4), "interval_95": wilson(n, episodes)}
              for k, n in sorted(reached.items())}
    return {"episodes": episodes, "successes": successes, "success_rate": round(successes / episodes, 4),
            "interval_95": wilson(successes, episodes),
            "mean_steps_to_success": round(float(np.mean(lengths)), 1) if lengths else None,
            "subtask_signals_reached": stages}


def robomimic_run(python: str, dataset: Path, epochs: int, timeout: float) -> dict:
    """Train robomimic's BC-RNN with the task's low-dim config (shortened) in another interpreter."""
    config = {
        "algo_name": "bc",
        "experiment": {"name": "bench_policy", "validate": False, "logging": {"terminal_output_to_txt": False,
                                                                             "log_tb": False},
                       "save": {"enabled": False}, "epoch_every_n_steps": 50, "rollout": {"enabled": False},
                       "render": False, "render_video": False},
        "train": {"num_data_workers": 0, "hdf5_cache_mode": "all", "hdf5_use_swmr": True,
                  "hdf5_normalize_obs": False, "seq_length": 10, "dataset_keys": ["actions"], "cuda": False,
                  "batch_size": 100, "num_epochs": epochs, "seed": 101},
        "algo": {"optim_params": {"policy": {"learning_rate": {"initial": 0.001}}},
                 "gmm": {"enabled": True, "num_modes": 5, "min_std": 0.0001, "std_activation": "softplus",
                         "low_noise_eval": True},
                 "rnn": {"enabled": True, "horizon": 10, "hidden_dim": 400, "rnn_type": "LSTM", "num_layers": 2}},
        "observation": {"modalities": {"obs": {"low_dim": list(OBS_KEYS), "rgb": [], "depth": [], "scan": []}}},
    }
    with tempfile.TemporaryDirectory() as tmp:
        config["train"]["output_dir"] = tmp
        config["train"]["data"] = str(dataset)
        cfg_path = Path(tmp) / "config.json"
        cfg_path.write_text(json.dumps(config))
        t0 = time.perf_counter()
        try:
            proc = subprocess.run([python, "-m", "robomimic.scripts.train", "--config", str(cfg_path),
                                   "--dataset", str(dataset)], capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else str(exc.stdout or "")
            tail = out[-600:]
            return {"trained": False, "error": f"timed out after {timeout:.0f} s", "stdout_tail": tail}
        wall = time.perf_counter() - t0
    losses = [float(line.split()[-1].rstrip(",")) for line in proc.stdout.splitlines()
              if '"Loss"' in line and line.split()[-1].rstrip(",").replace(".", "", 1).lstrip("-").isdigit()]
    out = {"trained": proc.returncode == 0, "returncode": proc.returncode, "epochs": epochs, "wall_s": round(wall, 1),
           "losses_per_epoch": losses}
    if proc.returncode != 0:
        out["stderr_tail"] = proc.stderr[-800:]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("datasets", nargs="+", help="NAME=PATH[+PATH...][@N]: the first N demos of the files")
    ap.add_argument("--steps", type=int, default=10000, help="gradient steps per policy (the training budget)")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--episodes", type=int, default=50)
    ap.add_argument("--max-steps", type=int, default=400)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-seed", type=int, default=10_000)
    ap.add_argument("--robomimic-python", default=None)
    ap.add_argument("--robomimic-dataset", type=Path, default=None)
    ap.add_argument("--robomimic-epochs", type=int, default=3)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    result: dict = {"benchmark": "policy", "machine": {"python": platform.python_version(), "torch": torch.__version__},
                    "budget": {"network": f"MLP 3x{args.hidden} ReLU", "observations": [*OBS_KEYS, "(and previous)"],
                               "gradient_steps": args.steps, "batch": args.batch, "lr": args.lr, "seed": args.seed,
                               "eval_episodes": args.episodes, "max_steps": args.max_steps,
                               "eval_seeds": [args.eval_seed, args.eval_seed + args.episodes - 1]}}
    for spec in args.datasets:
        name, _, path = spec.partition("=")
        path, _, cap = path.partition("@")
        paths = [Path(p) for p in path.split("+") if p]
        if not paths or not all(p.is_file() for p in paths) or (cap and not cap.isdigit()):
            print(f"policy.py: {spec!r} is not NAME=PATH[+PATH...][@N] of existing HDF5 files", file=sys.stderr)
            raise SystemExit(2)
        x, y, demos, mean_len = load(paths, int(cap) if cap else None)
        t0 = time.perf_counter()
        policy = Policy(x, y, args.hidden, args.seed)
        losses = policy.train(x, y, args.steps, args.batch, args.lr, args.seed)
        train_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        ev = evaluate(policy, args.episodes, args.max_steps, args.eval_seed)
        result[name] = {"path": path, "demos": demos, "samples": int(len(x)), "mean_demo_length": round(mean_len, 1),
                        "epochs": round(args.steps * args.batch / len(x), 1), "train_s": round(train_s, 1),
                        "loss_first_last": [losses[0], losses[-1]], "eval_s": round(time.perf_counter() - t1, 1), **ev}
        print(f"{name}: {ev['successes']}/{ev['episodes']} ({train_s:.0f} s training)", file=sys.stderr, flush=True)
    if args.robomimic_python:
        ds = args.robomimic_dataset or Path(args.datasets[-1].partition("=")[2].split("+")[0].split("@")[0])
        result["robomimic_bc_rnn"] = {"dataset": str(ds), **robomimic_run(args.robomimic_python, ds,
                                                                          args.robomimic_epochs, 1800)}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
