"""``mimicforge cosmos ...``: shaded segmentation, Cosmos Transfer inputs, the blueprint server client, and the way
back into a dataset. Thin: parse, call ``mimicforge.media``, print. Errors map to exit codes in ``cli.run_guarded``
(2 bad input, unreachable server or timeout; 1 a Cosmos job that failed on the server)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=None, separators=(", ", ": ")))


def _csv(value: str | None) -> list[str] | None:
    return [s.strip() for s in value.split(",") if s.strip()] if value else None


def cmd_shade(args: argparse.Namespace) -> int:
    from mimicforge.media.cosmos import shade_dataset

    written = shade_dataset(args.dataset, output_dir=args.output_dir, out=args.out, demos=args.demos,
                            cameras=_csv(args.cameras), video=args.video, fps=args.fps, overwrite=args.overwrite)
    if args.json:
        _print_json({"written": written})
    else:
        for w in written:
            extra = f", video {w['video']}" if w.get("video") else ""
            print(f"{w['camera']} {w['demo']}: {w['frames']} frames in {w['folder']}{extra}")
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    from mimicforge.media.cosmos import prepare
    from mimicforge.media.prompts import load_prompts

    prompts = load_prompts(args.prompts)  # validated before anything is written

    def progress(entry: dict[str, Any]) -> None:
        if not args.json:
            print(f"{entry['camera']} {entry['demo']}: frames {entry['frames'][0]}..{entry['frames'][1]} -> "
                  f"{', '.join(entry['videos'])}", file=sys.stderr, flush=True)

    result = prepare(args.dataset, args.out, prompts=prompts, style=args.style, demos=args.demos,
                     cameras=_csv(args.cameras), output_dir=args.output_dir, frames=args.frames,
                     params={"seed": args.seed, "sigma_max": args.sigma_max, "control_weight": args.control_weight,
                             "canny_strength": args.canny_strength},
                     overwrite=args.overwrite, base=args.base, on_video=progress)
    if args.json:
        _print_json(result.to_json())
    else:
        print(f"wrote {len(result.videos)} {args.style} input{'s' * (len(result.videos) != 1)} to {result.out}"
              + (f"; skipped {len(result.skipped)} shorter than {args.frames} frames" if result.skipped else ""))
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    from mimicforge.media.cosmos_client import ClientSettings, submit_dir

    settings = ClientSettings(timeout=args.timeout, poll_interval=args.poll_interval, max_wait=args.max_wait,
                              retries=args.retries, backoff=args.backoff, max_result_mb=args.max_result_mb)

    def progress(event: dict[str, Any]) -> None:
        if args.json:
            return
        kind = event["event"]
        if kind == "status":
            print(f"{event['request']}: {event['status']} ({event['seconds']:.0f} s)", file=sys.stderr, flush=True)
        elif kind == "submitted":
            print(f"{event['request']}: submitted as job {event['job_id']}", file=sys.stderr, flush=True)
        elif kind == "resumed":
            print(f"{event['request']}: resuming saved job {event['job_id']}", file=sys.stderr, flush=True)
        elif kind == "saved":
            print(f"{event['request']}: saved {event['result']} ({event['bytes']} bytes)", file=sys.stderr,
                  flush=True)
        else:
            print(f"{event['request']}: {event['result']} exists, skipped", file=sys.stderr, flush=True)

    records = submit_dir(args.dir, args.server, settings=settings, overwrite=args.overwrite, on_event=progress)
    if args.json:
        _print_json({"results": records})
    else:
        print(f"{sum(r['status'] == 'completed' for r in records)} result(s) saved in {args.dir}")
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from mimicforge.errors import ConfigError
    from mimicforge.media.ingest import from_prepared, from_videos, ingest

    if bool(args.from_dir) == bool(args.videos):
        raise ConfigError("cosmos ingest needs exactly one of --from DIR (a submitted prepare folder) or "
                          "--videos DIR (augmented demo_<k>_*.mp4 files)")
    videos = from_prepared(args.from_dir) if args.from_dir else from_videos(args.videos, _csv(args.cameras))
    summary = ingest(args.dataset, videos, args.out, size=args.size, keep_originals=args.keep_originals,
                     overwrite=args.overwrite)
    if args.json:
        _print_json(summary)
    else:
        cams = sorted({c for a in summary["augmented"] for c in a["videos"]})
        print(f"wrote {summary['num_demos']} demos ({len(summary['augmented'])} augmented, cameras "
              f"{', '.join(cams)}) to {summary['output']}")
    return 0


def add_cosmos_parser(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """Register ``cosmos`` and its subcommands on the top-level subparsers ``sub``."""
    from mimicforge.cli import add_command, add_group

    cs = add_group(sub, "cosmos", "Shaded segmentation and Cosmos Transfer inputs, submission and ingestion.",
                   "cosmos_command", "STEP", parser_class)

    def add(name: str, func: Any, help_text: str) -> argparse.ArgumentParser:
        return add_command(cs, name, func, help_text)

    def frames_source(p: argparse.ArgumentParser) -> None:
        p.add_argument("dataset", help="the generated dataset (image observations in obs/ are used when present)")
        p.add_argument("--output-dir", default="output", metavar="IMAGES",
                       help="OUTPUT_DIR of the run: its frames are in IMAGES/<dataset stem>/ (default output)")
        p.add_argument("--demos", help="demo numbers or names, comma-separated (default: all)")
        p.add_argument("--cameras", help="comma-separated cameras (default: every camera with segmentation)")

    p = add("shade", cmd_shade, "Write shaded-segmentation frames (PNG) and, with --video, mp4s.")
    frames_source(p)
    p.add_argument("--out", help="root for <cam>_shaded_segmentation/demo_<k>/ (default: the dataset's image folder)")
    p.add_argument("--video", action="store_true", help="also write <cam>_shaded_segmentation/demo_<k>.mp4")
    p.add_argument("--fps", type=float, default=24.0, help="video frame rate (default 24, the blueprint's)")
    p.add_argument("--overwrite", action="store_true", help="replace existing shaded folders")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = add("prepare", cmd_prepare, "Write Cosmos Transfer inputs (videos, specs, prompts) for a dataset.")
    frames_source(p)
    p.add_argument("--out", required=True, metavar="DIR", help="folder to write (must be new or empty)")
    p.add_argument("--style", choices=("blueprint", "isaaclab"), default="blueprint",
                   help="blueprint: shaded segmentation, 24 fps, last --frames frames, edge control, server requests; "
                        "isaaclab: rgb/depth/shaded mp4s at 30 fps 1280x704 and a four-control spec")
    p.add_argument("--prompts", metavar="FILE", help="prompt TOML in the blueprint's format (default: mimicforge's "
                                                     "stack example)")
    p.add_argument("--frames", type=int, default=120,
                   help="blueprint: the last N frames of each demo, shorter demos skipped (default 120; 0 = whole)")
    p.add_argument("--seed", help="Cosmos seed, also seeds the prompt draws (default 42)")
    p.add_argument("--sigma-max", help="blueprint sigma_max, 35..80 (default 40)")
    p.add_argument("--control-weight", help="blueprint edge control weight, 0.1..0.9 (default 0.6)")
    p.add_argument("--canny-strength", help="very_low (default), low, medium, high, very_high")
    p.add_argument("--base", metavar="PATH",
                   help="isaaclab: where the folder will lie on the GPU node, prefixed to the specs' video paths "
                        "(default: paths relative to the folder)")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = add("submit", cmd_submit, "Send a blueprint-style prepare folder to the blueprint's Cosmos server.")
    p.add_argument("dir", help="a folder written by cosmos prepare --style blueprint")
    p.add_argument("--server", required=True, metavar="URL", help="the server running app.py, e.g. http://host:5000")
    p.add_argument("--timeout", type=float, default=90.0, help="seconds per HTTP request (default 90)")
    p.add_argument("--poll-interval", type=float, default=10.0, help="seconds between status checks (default 10)")
    p.add_argument("--max-wait", type=float, default=3600.0, help="seconds one job may take (default 3600)")
    p.add_argument("--retries", type=int, default=3, help="retries per request on network errors/5xx (default 3)")
    p.add_argument("--backoff", type=float, default=2.0, help="seconds before the first retry, doubling (default 2)")
    p.add_argument("--max-result-mb", type=float, default=4096.0,
                   help="refuse a result larger than this many MiB (default 4096)")
    p.add_argument("--overwrite", action="store_true",
                   help="resubmit requests that already have a result or a saved job")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = add("ingest", cmd_ingest, "Write a dataset whose demos carry augmented videos as image observations.")
    p.add_argument("dataset", help="the dataset the videos were made from")
    p.add_argument("--from", dest="from_dir", metavar="DIR", help="a prepare folder with submit's *.result.mp4")
    p.add_argument("--videos", metavar="DIR",
                   help="a folder of augmented demo_<k>_<camera>[_<variant>].mp4 (Isaac Lab's naming)")
    p.add_argument("--cameras", "--camera", dest="cameras", metavar="CAMS",
                   help="with --videos: the cameras the videos may show, comma-separated (default: the prepare "
                        "manifest's cameras in that folder, else table_cam)")
    p.add_argument("--out", required=True, help="the .hdf5 file to write")
    p.add_argument("--size", help="WIDTHxHEIGHT for demos without that image key yet (default 200x200)")
    p.add_argument("--keep-originals", action="store_true", help="put the source demos first, unchanged")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.add_argument("--json", action="store_true", help="print one JSON object")
