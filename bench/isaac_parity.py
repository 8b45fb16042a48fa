"""Isaac Lab Mimic's own generator vs ``mimicforge generate --isaac-parity``, both on the MuJoCo twin. Prints JSON.

From NVIDIA's 10 annotated demos, the same settings on both sides (seed, N attempts with ``--stop-on
attempts``, failed attempts kept), for both source-selection behaviours:

- **isaaclab**: ``standalone/generate.py`` (mimicforge's Isaac Lab driver) with NVIDIA's ``isaaclab_mimic``
  from the ``isaaclab`` wheel (``--isaaclab 2.3.2.post1``, the default, or ``3.0.0``, which runs under
  ``.venv-isaaclab3``'s Python 3.12: ``bash scripts/setup-isaaclab3.sh``) on the twin through the Kit-free
  harness of ``tests/backends/isaaclab``: Isaac Lab's ``DataGenerator``, selection strategies, waypoints and
  recorder do the work;
- **mimicforge**: ``mimicforge generate --isaac-parity`` (our numpy MimicGen, Isaac Lab's execution), with the
  success rule of the same Isaac Lab generation (``--success-rule``).

Per case: success rate (with its 95 % Wilson interval), the subtask each failed attempt got stuck in (the
first of grasp_1, stack_1, grasp_2, success that the recorded states never reach, in order; the same
function for both sides), mean demo length, and the success rate under each Isaac Lab generation's success
rule (``by_rule``: 2.3's stacked cubes, 3.0's stacked cubes at rest), judged from the recorded post-step
states exactly as the generator's check runs after every step; per behaviour: the difference of the success
rates with a two-proportion 95 % confidence interval, and whether ours lies in Isaac Lab's interval.

    python bench/isaac_parity.py [--isaaclab 2.3.2.post1|3.0.0] [--attempts 200] [--seed 1] [--input PATH]
                                 [--select per_subtask|per_trial|both]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import h5py
import numpy as np

REPO = Path(__file__).resolve().parents[1]
REAL = REPO.parent / "shared" / "data" / "franka_stack_annotated_10.hdf5"
SIGNAL_ORDER = ("grasp_1", "stack_1", "grasp_2")
Z95 = 1.959964
RULE_OF = {"2.3.2.post1": "2.3", "3.0.0": "3.0"}  # each wheel's success rule (mimicforge.tasks.SUCCESS_RULES)


def wilson(k: int, n: int) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    p = k / n
    d = 1 + Z95**2 / n
    c = (p + Z95**2 / (2 * n)) / d
    h = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / d
    return round(c - h, 4), round(c + h, 4)


def diff_ci(k1: int, n1: int, k2: int, n2: int) -> tuple[float, float, float]:
    """p1 - p2 with its Wald 95 % interval."""
    p1, p2 = k1 / n1, k2 / n2
    se = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    d = p1 - p2
    return round(d, 4), round(d - Z95 * se, 4), round(d + Z95 * se, 4)


def stuck_subtask(demo: h5py.Group) -> int:
    """Index of the first subtask (grasp_1, stack_1, grasp_2, final) whose signal the episode never reaches
    in order, judged from the recorded post-step states with the task's own checks."""
    from mimicforge.backends.mujoco.signals import cubes_stacked, subtask_signals
    from mimicforge.tasks import FRANKA_STACK

    th = FRANKA_STACK.thresholds
    states = demo["states"]
    cubes = {n: np.asarray(states["rigid_object"][n]["root_pose"])[:, :3] for n in ("cube_1", "cube_2", "cube_3")}
    fingers = np.asarray(states["articulation"]["robot"]["joint_position"])[:, 7:9]
    eef = np.asarray(demo["obs"]["eef_pos"])  # pre-step: row t + 1 is the end effector after step t
    stage = 0
    for t in range(len(fingers) - 1):
        at = {n: c[t] for n, c in cubes.items()}
        if stage < len(SIGNAL_ORDER):
            if subtask_signals(at, eef[t + 1], fingers[t], th)[SIGNAL_ORDER[stage]]:
                stage += 1
        elif cubes_stacked(at, fingers[t], th):
            return stage + 1  # reached, though the attempt did not count it: report it past the end
    return stage


def stacked_by_rule(demo: h5py.Group) -> dict[str, bool]:
    """Whether any recorded post-step state meets each Isaac Lab generation's success rule."""
    from mimicforge.backends.mujoco.signals import cubes_stacked
    from mimicforge.tasks import FRANKA_STACK, SUCCESS_RULES, thresholds_for

    states = demo["states"]
    rigid = states["rigid_object"]
    cubes = {n: np.asarray(rigid[n]["root_pose"])[:, :3] for n in ("cube_1", "cube_2", "cube_3")}
    speeds = {n: np.linalg.norm(np.asarray(rigid[n]["root_velocity"])[:, :3], axis=1) for n in cubes}
    fingers = np.asarray(states["articulation"]["robot"]["joint_position"])[:, 7:9]
    out = {}
    for rule in SUCCESS_RULES:
        th = thresholds_for(rule, FRANKA_STACK.thresholds)
        out[rule] = any(cubes_stacked({n: c[t] for n, c in cubes.items()}, fingers[t], th,
                                      {n: float(v[t]) for n, v in speeds.items()}) for t in range(len(fingers)))
    return out


def summarize(outs: list[Path], wall: float | None, rule: str) -> dict:
    """One case from one run's files, or several runs' pooled (each attempt an independent trial); ``rule``:
    the success rule the generator itself applied."""
    from mimicforge.outputs import OutputPaths, read_metrics
    from mimicforge.tasks import SUCCESS_RULES

    records = [r for out in outs for r in read_metrics(OutputPaths.beside(out).metrics)]
    successes = sum(bool(r["success"]) for r in records)
    stuck: Counter[str] = Counter()
    by_rule: Counter[str] = Counter()
    judged = agree = 0
    for out in outs:
        for path, success in ((out, True), (out.with_name(out.stem + "_failed.hdf5"), False)):
            if not path.is_file():
                continue
            with h5py.File(path, "r") as f:
                for name in f["data"]:
                    rules = stacked_by_rule(f["data"][name])
                    by_rule.update(r for r, ok in rules.items() if ok)
                    judged += 1
                    agree += rules[rule] == success
                    if not success:
                        stuck[str(stuck_subtask(f["data"][name]))] += 1
    n = len(records)
    return {
        "attempts": n, "successes": successes, "success_rate": round(successes / n, 4) if n else None,
        "success_rate_95ci": list(wilson(successes, n)), "success_rule": rule,
        # every kept attempt judged again from its states under each rule; "agrees": how many of those
        # judgements under the generator's own rule equal its label (a check of this re-judging)
        "by_rule": {r: {"successes": by_rule[r], "of": judged, "success_rate": round(by_rule[r] / judged, 4)
                        if judged else None, "95ci": list(wilson(by_rule[r], judged))} for r in SUCCESS_RULES},
        "by_rule_agrees_with_generator": f"{agree}/{judged}",
        "failed_at_subtask": dict(sorted(stuck.items())),
        "mean_steps": round(sum(r["steps"] for r in records) / n, 1) if n else None,
        "mean_steps_successful": round(float(np.mean([r["steps"] for r in records if r["success"]])), 1)
        if successes else None,
        "wall_s": round(wall, 1) if wall is not None else None,
        **({"runs": len(outs)} if len(outs) > 1 else {}),
    }


def harness_env(version: str, base: dict[str, str]) -> tuple[str | None, dict[str, str]]:
    """The interpreter for ``version``'s Kit-free Isaac Lab harness (None where its environment is not built) and the
    environment of a child process on it (its ``child_env``), asked of an interpreter started in the checkout, where
    the ``tests`` package is importable."""
    code = ("import json, sys; from tests.backends.isaaclab.harness import child_env, python_for; "
            f"print(json.dumps([python_for({version!r}), child_env({version!r}, base=json.load(sys.stdin))]))")
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, input=json.dumps(base), capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"the Isaac Lab harness is not available: {r.stderr.strip()[-500:]}")
    python, env = json.loads(r.stdout)
    return python, env


def run(engine: str, select: str, attempts: int, seed: int, src: Path, workdir: Path, reuse: bool,
        pool: list[Path], version: str) -> dict:
    rule = RULE_OF[version]
    out = workdir / f"{engine}_{select}.hdf5"
    if reuse and out.with_name(out.stem + ".metrics.jsonl").is_file():
        extra = [p / out.name for p in pool if (p / f"{engine}_{select}.metrics.jsonl").is_file()]
        return {**summarize([out, *extra], None, rule), "reused": True}
    common = ["--input", str(src), "--output", str(out), "--num-trials", str(attempts), "--stop-on", "attempts",
              "--seed", str(seed), "--select-source", select, "--keep-failed",
              "--max-consecutive-failures", str(attempts + 1)]
    env = {k: v for k, v in os.environ.items() if k not in ("NUM_TRIALS", "ENGINE", "SUCCESS_RULE")}
    if engine == "isaaclab":
        python, env = harness_env(version, env)
        if python is None:
            raise SystemExit(f"isaaclab {version} runs on Python 3.12: build its environment first with "
                             "bash scripts/setup-isaaclab3.sh")
        cmd = [python, str(REPO / "standalone" / "generate.py"), *common, "--device", "cpu",
               "--engine", "isaaclab", "--stall-timeout", "600"]
    else:
        cmd = [sys.executable, "-m", "mimicforge", "generate", *common, "--engine", "mujoco", "--isaac-parity",
               "--success-rule", rule]
        env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), str(REPO), env.get("PYTHONPATH", "")])
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode not in (0, 143):  # 143: stopped by SIGTERM after a finished attempt; its attempts count
        raise SystemExit(f"{engine}/{select} exited {r.returncode}: {r.stderr.strip()[-2000:]}")
    return {**summarize([out], wall, rule), **({"stopped_early": True} if r.returncode == 143 else {})}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--isaaclab", choices=tuple(RULE_OF), default="2.3.2.post1",
                    help="the isaaclab wheel whose isaaclab_mimic runs (3.0.0: Python 3.12, "
                         "scripts/setup-isaaclab3.sh)")
    ap.add_argument("--input", type=Path, default=REAL)
    ap.add_argument("--attempts", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", type=Path, default=None, help="keep the generated files in this folder")
    ap.add_argument("--reuse", action="store_true",
                    help="with --keep: summarize the runs already in that folder instead of running them again")
    ap.add_argument("--pool", type=Path, action="append", default=[],
                    help="with --reuse: also pool the runs kept in this folder (e.g. the same case at another seed)")
    ap.add_argument("--engines", default="isaaclab,mimicforge", help="comma-separated subset of isaaclab,mimicforge")
    ap.add_argument("--select", choices=("per_subtask", "per_trial", "both"), default="both",
                    help="source-selection behaviour(s) to compare (default both)")
    args = ap.parse_args()
    result: dict = {"benchmark": "isaac_parity", "input": str(args.input), "attempts_per_case": args.attempts,
                    "seed": args.seed, "isaaclab": f"{args.isaaclab} wheel (isaaclab_mimic) on the twin",
                    "success_rule": RULE_OF[args.isaaclab]}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        for select in ("per_subtask", "per_trial") if args.select == "both" else (args.select,):
            case = {}
            for engine in args.engines.split(","):
                case[engine] = run(engine, select, args.attempts, args.seed, args.input, workdir, args.reuse,
                                   args.pool, args.isaaclab)
                print(f"{select}/{engine}: {case[engine]['success_rate']}", file=sys.stderr, flush=True)
            result[select] = case
            if len(case) < 2:
                continue
            a, b = case["mimicforge"], case["isaaclab"]
            d, lo, hi = diff_ci(a["successes"], a["attempts"], b["successes"], b["attempts"])
            lo_i, hi_i = b["success_rate_95ci"]
            case["difference"] = {"mimicforge_minus_isaaclab": d, "95ci": [lo, hi], "zero_in_ci": lo <= 0 <= hi,
                                  "mimicforge_in_isaaclab_95ci": lo_i <= a["success_rate"] <= hi_i}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
