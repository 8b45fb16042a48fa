"""Entry of ``standalone/generate.py``: ``mimicforge generate`` on the Isaac Lab engine, inside Isaac Sim.

Same flags, environment variables and exit codes as ``mimicforge generate`` (the parser and the settings
resolution are the CLI's; ``--device`` / ``DEVICE`` picks the simulation device). Before Kit starts only
light modules are loaded: ``kit.launch`` checks the settings, the installed Isaac Lab API and the input (on
Isaac Lab 3.0 in a child process, so that numpy and h5py load here only once Kit is up, as 3.0 asks). The
order of the ending matters: errors are printed and the outputs closed *before* Kit shuts down, because
Kit's fast shutdown may end the process on its own. Where the installed Isaac Sim cannot keep a non-zero
status through that, the status is also written to ``$MIMICFORGE_STATUS_FILE`` (``launch.sh`` sets it and
exits with it), also when something exits on its own (``SystemExit``). With WORKERS > 1 or RAY this process
starts no Kit: it supervises one Kit process per worker or Ray task (``run.kit_workers``).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mimicforge.cli import (
    _generation_config,
    build_parser,
    configure_logging,
    log_attempt,
    report_run,
    run_guarded,
)
from mimicforge.config import resolve_input
from mimicforge.errors import ConfigError

log = logging.getLogger("mimicforge")
PROG = "standalone/generate.py"
STATUS_FILE_ENV = "MIMICFORGE_STATUS_FILE"


def main(argv: Sequence[str] | None = None) -> int:
    from mimicforge.backends.isaaclab import kit
    from mimicforge.run import dispatch

    argv = list(sys.argv[1:] if argv is None else argv)
    state: dict[str, kit.Simulation] = {}

    def run() -> int:
        if "-h" in argv or "--help" in argv:
            build_parser().parse_args(["generate", "--help"])
        args = build_parser().parse_args(["generate", *argv])
        configure_logging(args.verbose)
        cfg = _generation_config(args)
        defaulted = cfg.generation.input_file is None
        cfg = resolve_input(cfg)
        if dispatch.choose_engine(cfg) != "isaaclab":
            raise ConfigError(f"{PROG} runs the Isaac Lab engine (ENGINE={cfg.generation.engine} chooses the twin "
                              "here); for the twin run 'mimicforge generate'")
        if cfg.workers.workers == 1 and not cfg.workers.ray:
            state["sim"] = kit.launch(cfg)  # checks everything first (light), then starts Kit
        # else each worker (or Ray task) starts its own Kit; this process supervises them without one
        from mimicforge.run.progress import Progress

        progress = Progress(cfg.generation.num_trials, cfg.generation.stop_on, interval=args.progress_interval,
                            label="isaaclab")
        summary = None

        def on_attempt(record: Any, tally: Any) -> None:
            log_attempt(record)
            progress(record, tally)

        try:
            summary = dispatch.generate(cfg, sim=state.get("sim"), engine="isaaclab", on_attempt=on_attempt)
        finally:
            progress.close(summary)
            if summary is None and progress.attempts:  # stopped or failed after some attempts: what is on disk
                report_run(cfg, None, defaulted=defaulted, as_json=False, label="isaaclab")
        report_run(cfg, summary, defaulted=defaulted, as_json=args.json, label="isaaclab")
        return 0 if summary.reached else 1

    try:
        status = run_guarded(run, prog=PROG)
    except SystemExit as exc:  # --help, or something below exiting on its own: keep the status file true
        status = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    sys.stdout.flush()
    sys.stderr.flush()
    status_file = os.environ.get(STATUS_FILE_ENV)
    if status_file:
        Path(status_file).write_text(f"{status}\n", encoding="utf-8")
    if "sim" in state:
        kit.close(state["sim"], status)
    return status
