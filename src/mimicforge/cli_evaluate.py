"""``mimicforge evaluate``: robomimic checkpoints rolled out in the twin. Thin: parse, call
``mimicforge.evaluate``, print a table (or JSON) and the best checkpoint. Bad input is one line and exit 2
(``cli.run_guarded``)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from mimicforge.errors import ConfigError


def _positive(name: str, value: int, low: int = 1) -> int:
    if value < low:
        raise ConfigError(f"{name} {value}: expected an integer >= {low}")
    return value


def cmd_evaluate(args: argparse.Namespace) -> int:
    from mimicforge.evaluate import DEFAULT_SEED, evaluate, table

    episodes = _positive("--episodes", args.episodes)
    horizon = _positive("--horizon", args.horizon)
    video = _positive("--video", args.video, 0)
    bar: Any = None
    show = sys.stderr.isatty() and not args.no_progress

    stacked = 0

    def on_start(path: Path, index: int) -> None:
        nonlocal bar, stacked
        stacked = 0
        if bar is not None:
            bar.close()
        if show:
            from tqdm import tqdm

            bar = tqdm(total=episodes, desc=f"{path.name}", unit="ep", file=sys.stderr, leave=False)
            bar.set_postfix(stacked=0)

    def on_episode(ep: Any) -> None:
        nonlocal stacked
        stacked += int(ep.success)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(stacked=stacked)

    seed = DEFAULT_SEED if args.seed is None else args.seed
    try:
        result = evaluate(args.checkpoints, episodes=episodes, seed=seed, horizon=horizon, video=video,
                          video_dir=args.video_dir, on_start=on_start, on_episode=on_episode)
    finally:
        if bar is not None:
            bar.close()
    if args.json:
        print(json.dumps(result, indent=None, separators=(", ", ": ")))
        return 0
    for line in table(result["checkpoints"], result["best"]):
        print(line)
    print(f"{episodes} episodes per checkpoint from reset seeds {seed}-{seed + episodes - 1}, horizon {horizon}")
    if len(result["checkpoints"]) > 1:
        print(f"best: {result['best']}")
    for row in result["checkpoints"]:
        for v in row["videos"]:
            print(f"video: {v}")
    return 0


def add_evaluate_parser(sub: Any, add_command: Any) -> None:
    p = add_command(sub, "evaluate", cmd_evaluate,
                    "Roll robomimic checkpoints out in the twin: success with 95 %% intervals, subtask progress.")
    p.add_argument("checkpoints", nargs="+", metavar="CHECKPOINT",
                   help="robomimic .pth files, glob patterns, or training run folders (every .pth below)")
    p.add_argument("--episodes", type=int, default=50, help="rollouts per checkpoint (default 50)")
    p.add_argument("--seed", type=int, default=None,
                   help="episode i starts from the twin's reset(seed + i), the same for every checkpoint "
                        "(default 10000)")
    p.add_argument("--horizon", type=int, default=400, help="steps before an episode counts as failed (default 400)")
    p.add_argument("--video", type=int, default=0, metavar="K", help="write the first K rollouts of each as MP4")
    p.add_argument("--video-dir", default="output/evaluate", help="where the videos go (default output/evaluate)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print one JSON object")
