"""``mimicforge export ...``: generated demos in other ecosystems' dataset formats. Thin: parse, call
``mimicforge.export``, print. Errors map to exit codes in ``cli.run_guarded`` (2 for bad input)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any


class ExportProgress:
    """A bar on a terminal, otherwise a plain line every ``interval`` seconds (and at the end), on stderr."""

    def __init__(self, demos: int, frames: int, *, interval: float = 10.0, stream: Any = None) -> None:
        self.demos, self.frames, self.interval = demos, frames, interval
        self.stream = stream or sys.stderr
        self.done = self.frames_done = 0
        self.t0 = time.monotonic()
        self._last = 0.0
        self._bar: Any = None
        if self.stream.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=demos, desc="export", unit="demo", file=self.stream, dynamic_ncols=True)

    def __call__(self, episode: Any) -> None:
        self.done += 1
        self.frames_done += episode.frames
        if self._bar is not None:
            self._bar.update(1)
            return
        now = time.monotonic()
        if now - self._last >= self.interval or self.done == self.demos:
            from mimicforge.run.progress import format_duration

            self._last = now
            elapsed = now - self.t0
            eta = elapsed / self.frames_done * (self.frames - self.frames_done)
            print(f"export: {self.done}/{self.demos} demos, {self.frames_done}/{self.frames} frames, "
                  f"{self.frames_done / elapsed:.0f} frames/s, ETA {format_duration(eta)}", file=self.stream,
                  flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def quiet_libraries(verbose: bool) -> None:
    """LeRobot logs each codec choice and decoder fallback on the root logger, and ``datasets`` draws a bar per
    episode: keep the command's own progress readable (``-v`` shows them)."""
    if verbose:
        return
    import logging

    class _Upstream(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            return record.levelno >= logging.ERROR or f"{os.sep}lerobot{os.sep}" not in record.pathname

    for handler in logging.getLogger().handlers:
        handler.addFilter(_Upstream())
    try:
        from datasets.utils.logging import disable_progress_bar
    except ImportError:
        return
    disable_progress_bar()


def cmd_lerobot(args: argparse.Namespace) -> int:
    from mimicforge.export.lerobot import check_output, export_lerobot, lerobot_dataset_class
    from mimicforge.export.mapping import check_repo_id, plan_export

    repo_id = check_repo_id(args.repo_id or f"local/{Path(args.dataset).stem}")
    plan = plan_export(args.dataset, task=args.task, demos=args.demos, images=args.images, cameras=args.cameras,
                       state_keys=args.state_keys, fps=args.fps, output_dir=args.output_dir,
                       include_failed=args.include_failed)
    check_output(args.out, args.overwrite)
    lerobot_dataset_class()  # the install hint before anything else is said
    quiet_libraries(getattr(args, "verbose", False))
    if not args.json:
        cams = f", cameras {', '.join(plan.cameras)} from {plan.images}" if plan.cameras else ", no images"
        n = len(plan.demos)
        print(f"export: {n} demo{'s' * (n != 1)} ({plan.total_frames} frames) of {plan.source} at {plan.fps} fps "
              f"(from {plan.fps_from}){cams}"
              + (f"; {len(plan.skipped)} unsuccessful demos left out" if plan.skipped else ""),
              file=sys.stderr, flush=True)
    progress = ExportProgress(len(plan.demos), plan.total_frames, interval=args.progress_interval)

    try:
        result = export_lerobot(plan, args.out, repo_id=repo_id, overwrite=args.overwrite, vcodec=args.vcodec,
                                on_episode=progress)
    finally:
        progress.close()
    if args.json:
        print(json.dumps({**result.to_json(), "fps": plan.fps, "cameras": list(plan.cameras),
                          "skipped_unsuccessful": len(plan.skipped)}))
    else:
        episodes = f"{result.episodes} episode{'s' * (result.episodes != 1)}"
        print(f"wrote {episodes} ({result.frames} frames) to {result.out} in {result.seconds:.1f} s; "
              f"load it with LeRobotDataset({result.repo_id!r}, root={str(result.out)!r})")
    return 0


def add_export_parser(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """Register ``export`` and its formats on the top-level subparsers ``sub``."""
    from mimicforge.cli import add_command, add_group
    from mimicforge.export.lerobot import VIDEO_CODECS
    from mimicforge.export.mapping import DEFAULT_STATE_KEYS, IMAGE_SOURCES

    formats = add_group(sub, "export", "Write generated demos in other ecosystems' dataset formats.",
                        "export_format", "FORMAT", parser_class)

    p = add_command(formats, "lerobot", cmd_lerobot,
                    "A LeRobot v3.0 dataset, written with LeRobot's own API (extra 'lerobot': lerobot 0.4.4).")
    p.add_argument("dataset", help="an Isaac Lab Mimic HDF5 file (twin or Isaac Lab, either format_version)")
    p.add_argument("--out", required=True, metavar="DIR", help="the dataset folder to write (must not exist)")
    p.add_argument("--repo-id", help="OWNER/NAME recorded in the dataset (default local/<dataset name>)")
    p.add_argument("--task", help="the task text of every episode (default: the task registry's)")
    p.add_argument("--demos", help="demo numbers, names or ranges, e.g. 0,3,10-19 (default: all)")
    p.add_argument("--include-failed", action="store_true", help="also export demos not marked successful")
    p.add_argument("--images", choices=IMAGE_SOURCES, default="auto",
                   help="rgb frames from the demos' image observations (obs), the run's image folders (folders), or "
                        "none; auto: obs when the demos carry them, else folders when found (default auto)")
    p.add_argument("--cameras", help="comma-separated cameras to export (default: every rgb camera found)")
    p.add_argument("--output-dir", default="output", metavar="IMAGES",
                   help="with folders: where the run wrote its image folders (default output)")
    p.add_argument("--state-keys", help=f"obs terms making observation.state (default {','.join(DEFAULT_STATE_KEYS)})")
    p.add_argument("--fps", type=int, help="frames per second (default: the file's sim_args, else the task's, 20)")
    p.add_argument("--vcodec", choices=VIDEO_CODECS, default="libsvtav1", help="video codec (default LeRobot's, AV1)")
    p.add_argument("--overwrite", action="store_true", help="replace DIR if it exists (once the new one is finished)")
    p.add_argument("--progress-interval", type=float, default=10.0, help=argparse.SUPPRESS)
    p.add_argument("--json", action="store_true", help="print one JSON object")
