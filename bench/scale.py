"""Scaling of supervised workers on this machine: successes/min with 1 and with 2 workers, one run each.

Each case is the real command, ``mimicforge generate --workers N`` in a subprocess (cameras off), so the
figures include interpreter and worker start-up, shards and the final merge. While it runs the benchmark
polls the run's metrics log and its processes: ``first_success_s`` is the time from starting the command
to the first success on disk (a worker commits a demo to its shard before reporting it), and
``peak_rss_mb`` is each process's peak resident memory (``VmHWM``): the command's, and each worker's (with one
worker, the command is the worker). ``efficiency`` =
rate(2 workers) / (2 x rate(1 worker)); ``successes_per_cpu_min`` divides by the CPU time the command and its
workers used (on a loaded machine: what free cores would give). The load average is printed beside them.

The limit, computed in the same run: ``env_steps_per_success`` (every attempt's steps over the successes,
from the run's metrics) and ``replayed_step_ms`` (CPU time per env step of replaying the 1-worker run's
demos in the twin, in this process: once right after the 1-worker run, once after the 2-worker run; the
1-worker limit takes the first, the 2-worker limit their mean), so that N busy cores can make at most
``N x 60 / (env_steps_per_success x replayed_step_ms / 1000)`` successes a minute with no generation
overhead at all. ``share`` is a run's rate over its limit (wall time, so a loaded machine lowers it);
``share_cpu`` the same for successes per CPU minute (what the run's own cycles achieved, load aside).
``last_success_s`` is when the last success reached the metrics file, ``finish_s`` the time from then to
the command's exit (workers stopping, shard merge, the summary). ``steady_per_min`` and ``steady_share`` are
the rate and share between the first and the last success: the run without its fixed start and finish.

    python bench/scale.py [--successes 120] [--repeat 1] [--input PATH] [--isaac-parity]

``--repeat N`` runs the whole sequence N times (the first repetition's figures at the top, every one under
``repetitions``, the medians of the rates, limits and shares under ``median``): a share taken once moves by
about a tenth from one run to the next on a shared machine.

``--isaac-parity`` measures Isaac Lab Mimic's own execution, whose demos are the same on every version
since it was introduced: the way to compare the scaling of two versions of the code on equal work.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mimicforge.datasets import validate

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "franka_stack_annotated_10.hdf5"


def children(pid: int) -> list[int]:
    out = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                out += [int(c) for c in fh.read().split()]
    except OSError:
        pass
    return out


def peak_rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def is_worker(pid: int) -> bool:
    """A generation worker, not multiprocessing's resource tracker."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return b"resource_tracker" not in fh.read()
    except OSError:
        return False


def successes_logged(metrics: Path) -> int:
    try:
        return metrics.read_text().count('"success":true')
    except OSError:
        return 0


def steps_per_success(metrics: Path) -> float | None:
    from mimicforge.outputs import read_metrics

    records = list(read_metrics(metrics))
    wins = sum(1 for r in records if r["success"])
    return round(sum(r["steps"] for r in records) / wins, 1) if wins else None


def replayed_step_ms(dataset: Path) -> float:
    """CPU milliseconds per env step of replaying every demo's actions in the twin (this thread)."""
    from mimicforge.backends.mujoco.env import FrankaStackTwin
    from mimicforge.datasets import DatasetReader

    with DatasetReader(dataset) as r:
        demos = [r.demo(n, parts=("actions", "initial_state")) for n in r.demo_names]
    steps, cpu = 0, 0.0
    with FrankaStackTwin(seed=0) as env:
        env.reset_to(demos[0].initial_state)
        env.step(demos[0].actions[0])  # loads the compiled loop: not a step's cost
        for demo in demos:
            env.reset_to(demo.initial_state)
            t0 = time.thread_time()
            for action in demo.actions:
                env.step(action)
            cpu += time.thread_time() - t0
            steps += len(demo.actions)
    return 1000.0 * cpu / steps


def rate(src: Path, workers: int, successes: int, workdir: Path, parity: bool = False) -> dict:
    out = workdir / f"w{workers}.hdf5"
    cmd = [sys.executable, "-m", "mimicforge", "generate", "--input", str(src), "--output", str(out),
           "--num-trials", str(successes), "--workers", str(workers), "--seed", "1", "--json",
           *(["--isaac-parity"] if parity else [])]
    env = {**os.environ, "KEEP_FAILED": "0"}
    t0 = time.perf_counter()
    cpu0 = _children_cpu()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    first = last = None
    peaks: dict[int, float] = {}
    metrics = out.with_name(out.stem + ".metrics.jsonl")
    while proc.poll() is None:
        if last is None:
            logged = successes_logged(metrics)
            if first is None and logged:
                first = time.perf_counter() - t0
            if logged >= successes:
                last = time.perf_counter() - t0
        for pid in [proc.pid, *(c for c in children(proc.pid) if is_worker(c))]:
            mb = peak_rss_mb(pid)
            if mb is not None:
                peaks[pid] = max(peaks.get(pid, 0.0), mb)
        time.sleep(0.05)
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - t0
    cpu = _children_cpu() - cpu0
    if proc.returncode != 0:
        raise SystemExit(f"scale.py: {' '.join(cmd)} exited {proc.returncode}: {stderr.strip()[-500:]}")
    summary = json.loads(stdout)
    assert validate(out) == [], f"{out} is not valid"
    # children under 50 MB are interpreter stubs of the spawn start method, not workers
    worker_peaks = [round(v, 1) for pid, v in peaks.items() if pid != proc.pid and v >= 50]
    return {"workers": workers, "successes": summary["successes"], "attempts": summary["attempts"],
            "wall_s": round(wall, 2), "successes_per_min": round(summary["successes"] / wall * 60, 2),
            "cpu_s": round(cpu, 2), "successes_per_cpu_min": round(summary["successes"] / cpu * 60, 2),
            "first_success_s": round(first, 2) if first is not None else None,
            "last_success_s": round(last, 2) if last is not None else None,
            "finish_s": round(wall - last, 2) if last is not None else None,
            "mean_steps": summary.get("mean_steps"), "env_steps_per_success": steps_per_success(metrics),
            "output": out,
            "peak_rss_mb": {"command": round(peaks.get(proc.pid, 0.0), 1),
                            "workers": sorted(worker_peaks) if workers > 1 else [round(peaks.get(proc.pid, 0.0), 1)]}}


def measure(args: argparse.Namespace, workdir: Path) -> dict:
    """One repetition: 1 worker, a replay, 2 workers, a replay; each run's limit from the replays next to it."""
    one = rate(args.input, 1, args.successes, workdir, args.isaac_parity)
    replayed = one.pop("output")
    after_one = replayed_step_ms(replayed)
    two = rate(args.input, 2, args.successes, workdir, args.isaac_parity)
    two.pop("output")
    after_two = replayed_step_ms(replayed)
    for path in workdir.iterdir():  # the next repetition starts from an empty folder
        path.unlink() if path.is_file() else shutil.rmtree(path)
    # This machine's speed drifts by tens of percent over minutes: each run's limit takes the replays
    # measured next to it (the one right after 1 worker; the two around 2 workers).
    one["replayed_step_ms"] = round(after_one, 4)
    two["replayed_step_ms"] = round((after_one + after_two) / 2, 4)
    for case in (one, two):
        step_ms = case["replayed_step_ms"]
        per_core = 60.0 / (case["env_steps_per_success"] * step_ms / 1000.0)
        case["limit_per_min"] = round(case["workers"] * per_core, 2)
        case["share"] = round(case["successes_per_min"] / case["limit_per_min"], 3)
        case["share_cpu"] = round(case["successes_per_cpu_min"] / per_core, 3)
        first, last = case["first_success_s"], case["last_success_s"]
        if first is not None and last is not None and last > first and case["successes"] > 1:
            steady = (case["successes"] - 1) / (last - first) * 60.0  # the run without its start and finish
            case["steady_per_min"] = round(steady, 2)
            case["steady_share"] = round(steady / case["limit_per_min"], 3)
    return {"replayed_step_ms": [round(after_one, 4), round(after_two, 4)], "one_worker": one, "two_workers": two,
            "speedup": round(two["successes_per_min"] / one["successes_per_min"], 3),
            "efficiency": round(two["successes_per_min"] / (2 * one["successes_per_min"]), 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", type=Path, default=REAL)
    ap.add_argument("--successes", type=int, default=120)
    ap.add_argument("--repeat", type=int, default=1,
                    help="repetitions; with more than one, the medians of their shares are printed too")
    ap.add_argument("--isaac-parity", action="store_true", help="Isaac Lab Mimic's execution")
    args = ap.parse_args()
    if args.repeat < 1:
        raise SystemExit(f"scale.py: --repeat must be at least 1, not {args.repeat}")
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        reps = [measure(args, Path(tmp)) for _ in range(args.repeat)]
    result = {
        "benchmark": "scale",
        "cpus": os.cpu_count(),
        "execution": "isaac_parity" if args.isaac_parity else "default",
        "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        **reps[0],
    }
    if args.repeat > 1:
        result["repetitions"] = reps
        result["median"] = {
            f"{case}_{figure}": round(statistics.median(r[case][figure] for r in reps), 3)
            for case in ("one_worker", "two_workers")
            for figure in ("successes_per_min", "limit_per_min", "share", "share_cpu", "steady_share")
            if all(figure in r[case] for r in reps)}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
