"""The ``mimicforge`` command. Thin: parse, call the library, print, map errors to exit codes.

Exit codes: 0 success; 1 a check failed or generation ran but missed its goal; 2 bad input or settings
(one line on stderr, no traceback; MIMICFORGE_DEBUG=1 shows it); 130 / 143 stopped by SIGINT / SIGTERM;
70 an internal error (a bug: please report it with the MIMICFORGE_DEBUG=1 traceback).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from mimicforge import __version__
from mimicforge.errors import ConfigError, MimicforgeError

log = logging.getLogger("mimicforge")
EX_SOFTWARE = 70


class _Parser(argparse.ArgumentParser):
    """argparse that raises a one-line ConfigError instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise ConfigError(f"{self.prog}: {message} (see '{self.prog} --help')")


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=None, separators=(", ", ": ")))


# ------------------------------------------------------------------------------------------ commands
def cmd_inspect(args: argparse.Namespace) -> int:
    from mimicforge.datasets import format_summary, summarize

    summary = summarize(args.path)
    if args.json:
        _print_json(summary)
    else:
        print(format_summary(summary))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from mimicforge.datasets import summarize, validate

    problems = validate(args.path)
    if args.json:
        _print_json({"path": str(args.path), "valid": not problems, "problems": problems})
    elif problems:
        print(f"{args.path}: INVALID, {len(problems)} problem{'s' * (len(problems) != 1)}:")
        for p in problems:
            print(f"  - {p}")
    else:
        s = summarize(args.path)
        print(f"{args.path}: valid ({s['num_demos']} demos, {s['total_samples']} samples, env {s['env_name']})")
    return 1 if problems else 0


def cmd_merge(args: argparse.Namespace) -> int:
    from mimicforge.datasets import merge_datasets

    result = merge_datasets(args.out, args.inputs, overwrite=args.overwrite)
    if args.json:
        _print_json({"output": str(result.path), "num_demos": result.num_demos, "total_samples": result.total,
                     "sources": [{"path": p, "num_demos": n} for p, n in result.sources]})
    else:
        print(f"merged {result.num_demos} demos ({result.total} samples) from {len(result.sources)} files "
              f"into {result.path}")
    return 0


def cmd_record(args: argparse.Namespace) -> int:
    from mimicforge.backends.mujoco.record import record_demos

    def report(attempt: Any) -> None:
        log.debug("attempt %d: %s in %d steps (%.2f s)%s", attempt.index, "kept" if attempt.success else "dropped",
                  attempt.steps, attempt.seconds, f": {attempt.reason}" if attempt.reason else "")

    result = record_demos(args.out, args.num_demos, seed=args.seed, overwrite=args.overwrite, on_attempt=report)
    if args.json:
        _print_json(result.to_json())
    else:
        rate = 100.0 * result.successes / max(result.attempts, 1)
        print(f"recorded {result.successes} demos in {result.attempts} attempts ({rate:.1f} %) into {result.output}")
    return 0 if result.successes >= args.num_demos else 1


def cmd_replay(args: argparse.Namespace) -> int:
    from mimicforge.backends.mujoco.replay import format_report, replay_dataset

    report = replay_dataset(args.path)
    if args.json:
        _print_json(report.to_json())
    else:
        print(format_report(report))
    return 0


# ------------------------------------------------------------------------------------------ parser
Command = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mimicforge", description="MimicGen data generation for Isaac Lab Mimic datasets.")
    parser.add_argument("--version", action="version", version=f"mimicforge {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    def add(name: str, func: Command, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=func)
        return p

    p = add("inspect", cmd_inspect, "Summarize a dataset: demos, lengths, subtask boundaries.")
    p.add_argument("path", help="an Isaac Lab Mimic HDF5 file")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = add("validate", cmd_validate, "Check a dataset against Isaac Lab Mimic's layout; exit 1 if invalid.")
    p.add_argument("path", help="an Isaac Lab Mimic HDF5 file")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = add("merge", cmd_merge, "Merge datasets into one, demos renumbered demo_0..demo_{n-1}.")
    p.add_argument("out", help="the merged file to write")
    p.add_argument("inputs", nargs="+", metavar="IN", help="files to merge, in order")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = add("record", cmd_record, "Record annotated source demos with the MuJoCo twin's scripted expert.")
    p.add_argument("--num-demos", type=int, required=True, metavar="N", help="successful demos to record")
    p.add_argument("--out", required=True, metavar="PATH", help="the .hdf5 file to write")
    p.add_argument("--seed", type=int, default=0, help="run seed; the same seed gives the same file (default 0)")
    p.add_argument("--overwrite", action="store_true", help="replace PATH if it exists")
    p.add_argument("--json", action="store_true",
                   help='print {"attempts": int, "successes": int, "output": str}')

    p = add("replay", cmd_replay, "Replay each demo's actions open loop in the MuJoCo twin and compare.")
    p.add_argument("path", help="an Isaac Lab Mimic HDF5 file with annotated demos")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def main(argv: Sequence[str] | None = None) -> int:
    debug = os.environ.get("MIMICFORGE_DEBUG", "") not in ("", "0")
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        logging.basicConfig(
            level=logging.DEBUG if (args.verbose or debug) else logging.INFO,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            datefmt="%H:%M:%S",
        )
        return int(args.func(args) or 0)
    except MimicforgeError as exc:
        if debug:
            traceback.print_exc()
        print(f"mimicforge: error: {_one_line(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("mimicforge: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug: say so in one line, keep the traceback for MIMICFORGE_DEBUG
        if debug:
            traceback.print_exc()
        print(
            f"mimicforge: internal error: {type(exc).__name__}: {_one_line(str(exc))} "
            "(rerun with MIMICFORGE_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return EX_SOFTWARE
