"""robomimic BC-RNN on our data, evaluated the way the field evaluates it. Prints one JSON object.

For each dataset given (``NAME=PATH``) robomimic's own ``train`` script trains BC-RNN with the Franka stack task's
``bc_rnn_low_dim.json`` from the ``isaaclab`` wheel (GMM with 5 modes, 2-layer LSTM of 400, sequence 10, batch
100, lr 1e-3, epochs of 100 gradient steps, seed 101), changed only where this machine needs it: ``--epochs``
(the shipped 2,000 do not fit), a checkpoint every ``--save-every`` epochs, CPU, no data-loader workers, no
TensorBoard. Every checkpoint is evaluated as soon as it is written with ``mimicforge evaluate --json`` (50
rollouts of at most 400 steps from the same seeded resets for every checkpoint of every set); the output is the
success-vs-epoch curve and the best checkpoint of each set, with 95 % Wilson intervals, and the budget.

The config comes from the isaaclab wheel (``.cache/isaaclab-wheels/``, where the Isaac Lab tests keep it; fetched
with ``pip download`` when missing). robomimic needs torchvision with its matching torch, so training and
evaluation run in the interpreter of ``--python`` (``bash scripts/setup-train.sh`` makes ``.venv-train``):

    .venv-train/bin/python bench/bc_rnn.py human=../shared/data/franka_stack_annotated_10.hdf5 \\
        default=default.hdf5 parity=parity.hdf5 --epochs 20 --save-every 5 --out-dir /tmp/bc_rnn

Each set's records are appended to ``OUT_DIR/NAME.jsonl`` as they come (a killed run keeps what it measured);
``--report`` prints the JSON from those records without training.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WHEEL_CACHE = REPO / ".cache" / "isaaclab-wheels"
WHEEL_VERSION = "2.3.2.post1"
CONFIG_IN_WHEEL = "stack/config/franka/agents/robomimic/bc_rnn_low_dim.json"
# robomimic's train script, with torch's threads set by --train-threads (the script fixes 2: on a loaded 2-core
# machine, several runs of 2 threads each spin against each other).
TRAIN = ("import runpy, sys, torch; set_threads = torch.set_num_threads; "
         "torch.set_num_threads = lambda n: set_threads({threads}); sys.argv[0] = 'train'; "
         "runpy.run_module('robomimic.scripts.train', run_name='__main__')")
MIMICGEN_BUDGET = {"epochs": 2000, "steps_per_epoch": 100, "eval_every_epochs": 50, "rollouts": 50, "horizon": 400}


def wheel_config() -> tuple[dict, str]:
    """Isaac Lab's ``bc_rnn_low_dim.json`` for the stack task, read from the isaaclab wheel."""
    wheels = sorted(WHEEL_CACHE.glob(f"isaaclab-{WHEEL_VERSION}-*.whl"))
    if not wheels:
        WHEEL_CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(WHEEL_CACHE),
                        f"isaaclab=={WHEEL_VERSION}", "--python-version", "3.11", "--only-binary=:all:"], check=True)
        wheels = sorted(WHEEL_CACHE.glob(f"isaaclab-{WHEEL_VERSION}-*.whl"))
    with zipfile.ZipFile(wheels[0]) as z:
        name = next(n for n in z.namelist() if n.endswith(CONFIG_IN_WHEEL))
        return json.loads(z.read(name)), f"{wheels[0].name}:{name}"


def first_demos_mask(dataset: Path, count: int) -> str:
    """A robomimic filter key (``mask/first_N``, added to the file) naming the file's first ``count`` demos."""
    import h5py
    import numpy as np

    key = f"first_{count}"
    with h5py.File(dataset, "a") as f:
        names = sorted(f["data"], key=lambda n: int(n.rsplit("_", 1)[-1]))
        if len(names) < count:
            raise SystemExit(f"bc_rnn.py: {dataset} has {len(names)} demos, fewer than {count}")
        mask = f.require_group("mask")
        if key in mask:
            del mask[key]
        mask.create_dataset(key, data=np.array(names[:count], dtype="S"))
    return key


def demo_count(dataset: Path) -> int:
    import h5py

    with h5py.File(dataset, "r") as f:
        return len(f["data"])


def run_config(base: dict, name: str, dataset: Path, out: Path, epochs: int, save_every: int,
               filter_key: str | None = None) -> dict:
    cfg = json.loads(json.dumps(base))
    cfg["train"]["hdf5_filter_key"] = filter_key
    cfg["experiment"]["name"] = name
    cfg["experiment"]["logging"] = {"terminal_output_to_txt": True, "log_tb": False}
    cfg["experiment"]["save"].update(every_n_epochs=save_every, on_best_rollout_success_rate=False)
    cfg["train"].update(data=str(dataset), output_dir=str(out), num_epochs=epochs, cuda=False, num_data_workers=0)
    return cfg


def evaluate(python: str, ckpt: Path, episodes: int, seed: int, horizon: int) -> dict:
    cmd = [python, "-m", "mimicforge", "evaluate", str(ckpt), "--json", "--no-progress", "--episodes", str(episodes),
           "--seed", str(seed), "--horizon", str(horizon)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if proc.returncode != 0:
        return {"checkpoint": str(ckpt), "error": proc.stderr.strip()[-400:]}
    row = json.loads(proc.stdout)["checkpoints"][0]
    row["eval_wall_s"] = round(time.perf_counter() - t0, 1)
    return row


def train_and_evaluate(args: argparse.Namespace, name: str, dataset: Path, count: int | None, base: dict) -> None:
    """Train one set; evaluate each checkpoint when it appears; append records to OUT_DIR/NAME.jsonl."""
    out = args.out_dir / name
    out.mkdir(parents=True, exist_ok=True)
    log = (args.out_dir / f"{name}.jsonl").open("a")

    def record(obj: dict) -> None:
        log.write(json.dumps(obj) + "\n")
        log.flush()

    cfg_path = out / "config.json"
    key = first_demos_mask(dataset, count) if count else None
    cfg_path.write_text(json.dumps(run_config(base, name, dataset.resolve(), out / "runs", args.epochs,
                                              args.save_every, key), indent=2))
    record({"event": "start", "dataset": str(dataset), "demos": count or demo_count(dataset), "time": time.time(),
            "epochs": args.epochs, "save_every": args.save_every})
    t0, wall0 = time.perf_counter(), time.time()
    train_log = (out / "train.log").open("w")
    proc = subprocess.Popen([args.python, "-c", TRAIN.format(threads=args.train_threads), "--config", str(cfg_path)],
                            stdout=train_log, stderr=subprocess.STDOUT, cwd=out)
    seen: set[Path] = set()
    pending: list[Path] = []
    stopped = threading.Event()

    def stop() -> None:  # the wall budget is spent: the checkpoints written so far are the run
        if proc.poll() is None:
            stopped.set()
            proc.terminate()

    timer = threading.Timer(60 * args.train_minutes, stop) if args.train_minutes else None
    if timer is not None:
        timer.start()
    while True:
        finished = proc.poll() is not None
        for ckpt in sorted((out / "runs").rglob("*.pth"), key=lambda p: p.stat().st_mtime):
            if ckpt not in seen:
                seen.add(ckpt)
                record({"event": "checkpoint", "path": str(ckpt),
                        "train_wall_s": round(ckpt.stat().st_mtime - wall0, 1)})
                pending.append(ckpt)
        # The newest checkpoint first: where evaluating is slower than training, the curve thins out evenly
        # instead of stopping early; none starts after --eval-minutes.
        if pending and (not args.eval_minutes or time.perf_counter() - args.started < 60 * args.eval_minutes):
            ckpt = pending.pop()
            record({"event": "eval", **evaluate(args.python, ckpt, args.episodes, args.eval_seed, args.horizon)})
            continue
        if finished:
            break
        time.sleep(10)
    if timer is not None:
        timer.cancel()
    for ckpt in pending:
        record({"event": "not_evaluated", "path": str(ckpt)})
    record({"event": "end", "returncode": proc.returncode, "stopped_at_budget": stopped.is_set(),
            "wall_s": round(time.perf_counter() - t0, 1)})
    log.close()


def report(out_dir: Path, names: list[str], base_source: str | None) -> dict:
    result: dict = {"benchmark": "bc_rnn", "config": base_source, "mimicgen_budget": MIMICGEN_BUDGET, "sets": {}}
    for name in names:
        path = out_dir / f"{name}.jsonl"
        if not path.is_file():
            continue
        events = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        start = next((e for e in events if e["event"] == "start"), {})
        evals = sorted((e for e in events if e["event"] == "eval" and "error" not in e),
                       key=lambda e: e.get("epoch") or 0)
        ckpt_wall = {e["path"]: e["train_wall_s"] for e in events if e["event"] == "checkpoint"}
        curve = [{"epoch": e["epoch"], "stacked": f"{e['successes']}/{e['episodes']}", "interval_95": e["interval_95"],
                  **{s: v["rate"] for s, v in e["progress"].items() if s != "stacked"},
                  "mean_length": e["mean_length"], "train_wall_s": ckpt_wall.get(e["checkpoint"])} for e in evals]
        best = max(evals, key=lambda e: (e["successes"], *(e["progress"][s]["rate"] for s in
                                                          reversed(list(e["progress"])))), default=None)
        end = next((e for e in events if e["event"] == "end"), None)
        train_log = out_dir / name / "train.log"
        minutes = [float(m) for m in re.findall(r'"Time_Epoch": ([0-9.eE+-]+)', train_log.read_text())] \
            if train_log.is_file() else []
        epochs = [int(m.group(1)) for e in events if e["event"] == "checkpoint"
                  for m in [re.search(r"epoch_(\d+)", Path(e["path"]).name)] if m]
        last_epoch = max(epochs, default=0)  # the last checkpoint written, evaluated or not
        result["sets"][name] = {
            "dataset": start.get("dataset"), "demos": start.get("demos"), "epochs_planned": start.get("epochs"),
            "budget": {"epochs_trained": last_epoch, "gradient_steps": last_epoch * 100,
                       "share_of_mimicgen": round(last_epoch / MIMICGEN_BUDGET["epochs"], 4),
                       "train_wall_s": max(ckpt_wall.values(), default=None),
                       "seconds_per_step": round(60 * sum(minutes) / (100 * len(minutes)), 3) if minutes else None,
                       "finished": end is not None and end.get("returncode") == 0,
                       "stopped_at_wall_budget": bool(end and end.get("stopped_at_budget"))},
            "curve": curve,
            "best": None if best is None else {"checkpoint": best["checkpoint"], "epoch": best["epoch"],
                                               "stacked": f"{best['successes']}/{best['episodes']}",
                                               "interval_95": best["interval_95"],
                                               "progress": {s: v["rate"] for s, v in best["progress"].items()}},
            "errors": [e["error"] for e in events if e["event"] == "eval" and "error" in e],
            "not_evaluated": [e["path"] for e in events if e["event"] == "not_evaluated"],
        }
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("datasets", nargs="+", help="NAME=PATH[@N]: the first N demos of the file (a robomimic mask)")
    ap.add_argument("--epochs", type=int, default=20, help="epochs of 100 gradient steps (the config ships 2,000)")
    ap.add_argument("--save-every", type=int, default=5, help="checkpoint (and evaluate) every N epochs")
    ap.add_argument("--train-minutes", type=float, default=0,
                    help="stop training after this wall time (0: run all epochs); its checkpoints are still evaluated")
    ap.add_argument("--eval-minutes", type=float, default=0,
                    help="start no evaluation after this wall time from the start (0: evaluate every checkpoint)")
    ap.add_argument("--train-threads", type=int, default=1, help="torch threads per training run")
    ap.add_argument("--episodes", type=int, default=50)
    ap.add_argument("--horizon", type=int, default=400)
    ap.add_argument("--eval-seed", type=int, default=10_000)
    ap.add_argument("--python", default=sys.executable, help="an interpreter with robomimic and mimicforge")
    ap.add_argument("--out-dir", type=Path, required=True)
    ap.add_argument("--report", action="store_true", help="print the JSON of the records in OUT_DIR; train nothing")
    args = ap.parse_args()
    sets = []
    for spec in args.datasets:
        name, sep, rest = spec.partition("=")
        path, _, cap = rest.partition("@")
        sets.append((name, sep, path, int(cap) if cap.isdigit() else None))
    bad = [f"{n}{s}{p}" for n, s, p, _ in sets if not s or not Path(p).is_file()]
    if bad:
        print(f"bc_rnn.py: {bad[0]!r} is not NAME=PATH of an existing HDF5 file", file=sys.stderr)
        raise SystemExit(2)
    base, source = wheel_config()
    args.started = time.perf_counter()
    if not args.report:
        args.out_dir.mkdir(parents=True, exist_ok=True)
        threads = [threading.Thread(target=train_and_evaluate, args=(args, n, Path(p), c, base))
                   for n, _, p, c in sets]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    print(json.dumps(report(args.out_dir, [n for n, *_ in sets], source), indent=2))


if __name__ == "__main__":
    main()
