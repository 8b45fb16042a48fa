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
    from mimicforge.datasets.validate import check

    report = check(args.path)
    if args.json:
        _print_json(report.to_json())
    elif report.problems:
        n = len(report.problems)
        print(f"{args.path}: INVALID {report.kind}, {n} kind{'s' * (n != 1)} of problem:")
        for line in report.lines():
            print(f"  - {line}")
    else:
        from mimicforge.datasets import summarize

        s = summarize(args.path)
        print(f"{args.path}: valid {report.kind} ({s['num_demos']} demos, {s['total_samples']} samples, "
              f"env {s['env_name']})")
    return 1 if report.problems else 0


def cmd_merge(args: argparse.Namespace) -> int:
    from mimicforge.datasets import merge_datasets

    result = merge_datasets(args.out, args.inputs, overwrite=args.overwrite, common_keys=args.common_keys,
                            drop_annotations=args.drop_annotations)
    if args.json:
        _print_json({"output": str(result.path), "num_demos": result.num_demos, "total_samples": result.total,
                     "sources": [{"path": p, "num_demos": n} for p, n in result.sources],
                     "left_out": list(result.left_out)})
    else:
        print(f"merged {result.num_demos} demos ({result.total} samples) from {len(result.sources)} files "
              f"into {result.path}" + (f", leaving out {', '.join(result.left_out)}" if result.left_out else ""))
    return 0


def _generation_config(args: argparse.Namespace) -> Any:
    """The run's settings; precedence: ``PRECEDENCE``."""
    from mimicforge.config import SETTINGS, from_toml_text, load_config
    from mimicforge.outputs import OutputPaths
    from mimicforge.settings import flag_values

    if args.resume and args.overwrite:
        raise ConfigError("--resume and --overwrite exclude each other; pick one")
    flags = flag_values(args, SETTINGS)
    flags.update({
        "ray": True if args.ray is not None else None, "ray_address": args.ray or None,
        "on_existing": "resume" if args.resume else "overwrite" if args.overwrite else None,
    })
    cfg = load_config(config_file=args.config, flags=flags)
    saved = OutputPaths.beside(cfg.generation.output_file).config
    if cfg.on_existing == "resume" and saved.is_file():
        base = from_toml_text(saved.read_text(encoding="utf-8"), str(saved))
        cfg = load_config(config_file=args.config, flags=flags, base=base)
    return cfg


def cmd_generate(args: argparse.Namespace) -> int:
    from mimicforge.config import resolve_input
    from mimicforge.run import dispatch
    from mimicforge.run.progress import Progress

    cfg = _generation_config(args)
    defaulted = cfg.generation.input_file is None
    cfg = resolve_input(cfg)
    g = cfg.generation
    engine = dispatch.choose_engine(cfg)
    progress = Progress(g.num_trials, g.stop_on, interval=args.progress_interval)
    summary = None

    def on_attempt(record: Any, tally: Any) -> None:
        log_attempt(record)
        progress(record, tally)

    try:
        summary = dispatch.generate(cfg, on_attempt=on_attempt, engine=engine)
    finally:
        progress.close(summary)
        if summary is None and progress.attempts:  # stopped or failed after some attempts: what is on disk
            report_run(cfg, None, defaulted=defaulted, as_json=False)
    report_run(cfg, summary, defaulted=defaulted, as_json=args.json)
    return 0 if summary.reached else 1  # a run that ended short of its goal is a failed generation


def report_run(cfg: Any, summary: Any, *, defaulted: bool, as_json: bool, label: str = "generate") -> None:
    """The end of a run: the input used and every file and folder written (text on stderr), or the JSON summary
    with them (stdout)."""
    from mimicforge.run.written import format_written, summary_fields, written

    items = written(cfg)
    if as_json and summary is not None:
        _print_json({**summary.to_dict(), **summary_fields(items, cfg.generation.input_file, defaulted)})
    else:
        print(format_written(items, cfg.generation.input_file, defaulted, label=label), file=sys.stderr)


def log_attempt(record: Any) -> None:
    """``-v``: one debug line per attempt (source demos per subtask, failed subtask, timing)."""
    if not log.isEnabledFor(logging.DEBUG):
        return
    outcome = "success" if record.success else f"failed in subtask {record.failed_subtask}"
    sources = ", ".join(s or "?" for s in record.source_demos) or "?"
    log.debug("attempt %d (worker %d): %s after %d steps in %.2f s; sources %s%s", record.attempt, record.worker,
              outcome, record.steps, record.seconds, sources, f" -> {record.demo}" if record.demo else "")


def cmd_config(args: argparse.Namespace) -> int:
    """Resolve the settings from --config, the environment and defaults; --check only validates them.

    ``launch.sh`` runs ``mimicforge config --check`` before starting anything slow, so a bad variable
    in a compose file fails in a second with the same one-line message the generator would give.
    """
    from mimicforge.config import load_config, to_toml
    from mimicforge.outputs import OutputPaths

    cfg = load_config(config_file=args.config)
    OutputPaths.beside(cfg.generation.output_file)
    if args.check:
        from mimicforge.run.dispatch import choose_engine

        choose_engine(cfg)  # settings the engine (ENGINE, resolved as everywhere) cannot honour
        return 0
    print(to_toml(cfg), end="")
    return 0


def cmd_record(args: argparse.Namespace) -> int:
    from mimicforge.backends.mujoco.record import record_demos
    from mimicforge.run.progress import Progress

    progress = Progress(args.num_demos, "successes", label="record", interval=args.progress_interval)
    tally = _Tally()

    def report(attempt: Any) -> None:
        log.debug("attempt %d: %s in %d steps (%.2f s)%s", attempt.index, "kept" if attempt.success else "dropped",
                  attempt.steps, attempt.seconds, f": {attempt.reason}" if attempt.reason else "")
        tally.add(attempt.success)
        progress(attempt, tally)

    try:
        result = record_demos(args.out, args.num_demos, seed=args.seed, overwrite=args.overwrite,
                              on_attempt=report)
    finally:
        progress.close()
    if args.json:
        _print_json(result.to_json())
    else:
        rate = 100.0 * result.successes / max(result.attempts, 1)
        print(f"recorded {result.successes} demos in {result.attempts} attempts ({rate:.1f} %) into {result.output}")
    return 0 if result.successes >= args.num_demos else 1


def cmd_replay(args: argparse.Namespace) -> int:
    from mimicforge.backends.mujoco.replay import format_report, replay_dataset
    from mimicforge.datasets import DatasetReader
    from mimicforge.run.progress import Progress

    with DatasetReader(args.path) as reader:
        total = len(reader.demo_names)
    progress = Progress(total, "attempts", label="replay", interval=args.progress_interval)
    tally = _Tally()

    def on_demo(result: Any) -> None:
        tally.add(result.success)
        progress(result, tally)

    try:
        report = replay_dataset(args.path, on_demo=on_demo)
    finally:
        progress.close()
    if args.json:
        _print_json(report.to_json())
    else:
        print(format_report(report))
    return 0


class _Tally:
    """Counts for ``Progress`` outside generation (record: successful demos; replay: demos that stacked)."""

    def __init__(self) -> None:
        self.successes = self.attempts = 0

    def add(self, success: bool) -> None:
        self.attempts += 1
        self.successes += int(success)


def cmd_preview(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mimicforge.config import load_config
    from mimicforge.media.video import preview_frames, write_video

    cfg = load_config(env={}, flags={"cameras": args.cameras, "width": args.width, "height": args.height,
                                     "output_dir": args.output_dir})
    number = args.demo.removeprefix("demo_")
    if not number.isdigit():
        raise ConfigError(f"--demo {args.demo!r}: expected a demo name or number, e.g. --demo demo_0 or --demo 0")
    demo = f"demo_{int(number)}"
    dataset = Path(args.path)
    out = Path(args.out) if args.out else Path(cfg.cameras.output_dir) / f"preview_{dataset.stem}_{demo}.mp4"
    frames = write_video(preview_frames(dataset, demo, cfg.cameras), out, fps=args.fps)
    if args.json:
        _print_json({"output": str(out), "frames": frames, "demo": demo})
    else:
        print(f"wrote {out} ({frames} frames of {demo})")
    return 0


def cmd_container(args: argparse.Namespace) -> int:
    from mimicforge.container.command import main as container_main

    return container_main(args)


# ------------------------------------------------------------------------------------------ parser
Command = Callable[[argparse.Namespace], int]


def add_command(sub: Any, name: str, func: Command, help_text: str) -> argparse.ArgumentParser:
    """A (sub)command on ``sub`` running ``func``; ``-v`` works after it too (SUPPRESS keeps one given before)."""
    p = sub.add_parser(name, help=help_text, description=help_text)
    p.set_defaults(func=func)
    p.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log debug messages")
    return p


def add_group(sub: Any, name: str, help_text: str, dest: str, metavar: str, parser_class: type) -> Any:
    """A command ``name`` on ``sub`` whose own subcommands (required) go on the returned subparsers."""
    top = sub.add_parser(name, help=help_text, description=help_text)
    group = top.add_subparsers(dest=dest, metavar=metavar, parser_class=parser_class)
    group.required = True
    return group


PRECEDENCE = "flags > environment > --config file > saved run settings (on --resume) > defaults"
MIMICGEN_KEYS = ("select_source", "selection_strategy", "nn_k", "action_noise", "num_interpolation_steps")


def _help_group(s: Any) -> str:
    """The ``generate --help`` section of a setting."""
    if s.section != "generation":
        return {"cameras": "cameras", "workers": "parallel"}.get(s.section, s.section)
    if s.key in MIMICGEN_KEYS:
        return "MimicGen"
    return {("isaaclab",): "Isaac Lab only", ("mujoco",): "twin execution"}.get(s.engines or (), "generation")


def _generate_arguments(p: argparse.ArgumentParser) -> None:
    """``generate``'s flags, in sections; every setting flag comes from its declaration in ``config``."""
    from mimicforge.config import SETTINGS
    from mimicforge.settings import add_flags

    p.description = f"{p.description} Precedence: {PRECEDENCE}."
    titles = {"generation": "generation", "MimicGen": "MimicGen (source selection, noise, interpolation)",
              "twin execution": "twin execution (MuJoCo engine only)", "cameras": "cameras",
              "parallel": "parallel (MuJoCo engine only)", "randomization": "randomization",
              "Isaac Lab only": "Isaac Lab only"}
    groups = {key: p.add_argument_group(title) for key, title in titles.items()}
    run = groups["generation"]
    run.add_argument("--config", help="TOML file with [generation], [cameras], [workers], [randomization] settings")
    for key, group in groups.items():
        add_flags(group, [s for s in SETTINGS if _help_group(s) == key])
    run.add_argument("--resume", action="store_true", help="continue the run that wrote --output")
    run.add_argument("--overwrite", action="store_true", help="replace --output and its companions")
    run.add_argument("--json", action="store_true", help="print a JSON summary at the end")
    run.add_argument("--progress-interval", type=float, default=10.0, help=argparse.SUPPRESS)
    groups["parallel"].add_argument(
        "--ray", nargs="?", const="", metavar="ADDRESS",
        help="run shards as Ray tasks; without ADDRESS a local Ray is started (RAY=1, RAY_ADDRESS)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mimicforge", description="MimicGen data generation for Isaac Lab Mimic datasets.")
    parser.add_argument("--version", action="version", version=f"mimicforge {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    def add(name: str, func: Command, help_text: str) -> argparse.ArgumentParser:
        return add_command(sub, name, func, help_text)

    p = add("inspect", cmd_inspect, "Summarize a dataset: demos, lengths, subtask boundaries.")
    p.add_argument("path", help="an Isaac Lab Mimic HDF5 file")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = add("validate", cmd_validate, "Check that a dataset holds what its next consumer needs (an annotated source: "
        "what generate reads; training data: the same keys, dtypes and shapes in every demo, no NaN); exit 1 if not.")
    p.add_argument("path", help="an Isaac Lab Mimic HDF5 file")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = add("merge", cmd_merge, "Merge datasets into one, demos renumbered demo_0..demo_{n-1}.")
    p.add_argument("out", help="the merged file to write")
    p.add_argument("inputs", nargs="+", metavar="IN", help="files to merge, in order")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.add_argument("--common-keys", action="store_true",
                   help="inputs whose obs keys differ: keep only the obs keys with the same dtype and shape in all")
    p.add_argument("--drop-annotations", action="store_true",
                   help="annotated with unannotated inputs: drop obs/datagen_info, writing training data")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = add("config", cmd_config, "Show the settings resolved from the environment and --config (precedence: "
            f"{PRECEDENCE}); --check validates them.")
    p.add_argument("--config", help="TOML file with [generation], [cameras], [workers] settings")
    p.add_argument("--check", action="store_true", help="only validate: exit 2 with one line on a bad value")

    p = add("preview", cmd_preview, "Render a demo to MP4 or GIF (from its image folders or recorded states).")
    p.add_argument("path", help="a dataset written by mimicforge or Isaac Lab")
    p.add_argument("--demo", default="demo_0", help="demo name or number (default demo_0)")
    p.add_argument("--out", help="video file, .mp4 or .gif (default output/preview_<name>_<demo>.mp4)")
    p.add_argument("--cameras", help="cameras side by side (default table_cam,table_high_cam)")
    p.add_argument("--width", help="frame width per camera when rendering (default 320)")
    p.add_argument("--height", help="frame height when rendering (default 176)")
    p.add_argument("--output-dir", help="OUTPUT_DIR of the run: its frames are in it under the dataset's stem "
                   "(default output)")
    p.add_argument("--fps", type=float, default=20.0, help="frames per second (default 20, the env's rate)")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = add("generate", cmd_generate, "Generate demos from an annotated source dataset (MimicGen).")
    _generate_arguments(p)

    p = add("record", cmd_record, "Record annotated source demos with the MuJoCo twin's scripted expert.")
    p.add_argument("--num-demos", type=int, required=True, metavar="N", help="successful demos to record")
    p.add_argument("--out", required=True, metavar="PATH", help="the .hdf5 file to write")
    p.add_argument("--seed", type=int, default=0, help="run seed; the same seed gives the same file (default 0)")
    p.add_argument("--overwrite", action="store_true", help="replace PATH if it exists")
    p.add_argument("--json", action="store_true",
                   help='print {"attempts": int, "successes": int, "output": str}')
    p.add_argument("--progress-interval", type=float, default=10.0, help=argparse.SUPPRESS)

    p = add("replay", cmd_replay, "Replay each demo's actions open loop in the MuJoCo twin and compare.")
    p.add_argument("path", help="an Isaac Lab Mimic HDF5 file with annotated demos")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--progress-interval", type=float, default=10.0, help=argparse.SUPPRESS)

    from mimicforge.cli_cosmos import add_cosmos_parser

    add_cosmos_parser(sub, _Parser)

    from mimicforge.cli_export import add_export_parser

    add_export_parser(sub, _Parser)

    from mimicforge.cli_evaluate import add_evaluate_parser

    add_evaluate_parser(sub, add_command)

    from mimicforge.container.command import add_arguments as container_arguments

    p = add("container", cmd_container, "Check, build and run the Docker images through the Docker SDK.")
    container_arguments(p)
    return parser


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def main(argv: Sequence[str] | None = None) -> int:
    def run() -> int:
        args = build_parser().parse_args(argv)
        configure_logging(args.verbose)
        return int(args.func(args) or 0)

    return run_guarded(run)


def configure_logging(verbose: bool = False) -> None:
    """Our messages at INFO (``-v``: DEBUG); other libraries' (h5py, OpenGL, PIL, matplotlib, ...) at WARNING
    only, whatever ``-v`` says (``MIMICFORGE_DEBUG=1`` shows theirs too)."""
    debug = os.environ.get("MIMICFORGE_DEBUG", "") not in ("", "0")
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    log.setLevel(logging.DEBUG if (verbose or debug) else logging.INFO)


def run_guarded(func: Callable[[], int], prog: str = "mimicforge") -> int:
    """Run a command and map what escapes it to one stderr line and an exit code (see module docstring).

    Shared by ``mimicforge`` and the Isaac Lab container entry (``standalone/generate.py``), so both
    report errors the same way.
    """
    debug = os.environ.get("MIMICFORGE_DEBUG", "") not in ("", "0")
    try:
        return func()
    except MimicforgeError as exc:
        if debug:
            traceback.print_exc()
        print(f"{prog}: error: {_one_line(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug: say so in one line, keep the traceback for MIMICFORGE_DEBUG
        if debug:
            traceback.print_exc()
        print(
            f"{prog}: internal error: {type(exc).__name__}: {_one_line(str(exc))} "
            "(rerun with MIMICFORGE_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return EX_SOFTWARE
