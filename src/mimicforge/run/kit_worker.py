"""One Kit worker: ``python -m mimicforge.run.kit_worker --worker W --first-attempt A --device D --link FD
--parent PID < settings.toml`` (started by ``backends.isaaclab.workers.KitProcess``; not a user command).

Reads the shard's whole configuration (``to_toml(..., with_run=True)``) on stdin, starts Kit on ``--device``
(``kit.launch``: on Isaac Lab 3.0 the plan runs in a child, so numpy loads here only once Kit is up), runs
Isaac Lab Mimic's generator on the shard (``driver.generate``: demos carry worker W, attempts count on from
A or the shard's own record) and reports on the pipe ``--link`` exactly as a twin worker does (``run.worker``):
``ready`` once Kit is up, one ``attempt`` per finished attempt, ``error`` with the traceback, ``done``.
SIGTERM (the supervisor's stop) finishes the attempt in progress; so does the supervisor's death, noticed
within a second.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Sequence
from multiprocessing.connection import Connection

from mimicforge.config import from_toml_text
from mimicforge.errors import Interrupted, MimicforgeError
from mimicforge.run.links import send


def _watch_parent(parent: int) -> None:
    """SIGTERM ourselves (a graceful stop) once the supervisor is gone: no Kit generates on for nobody."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os.kill(os.getpid(), signal.SIGTERM)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=f"python -m {__spec__.name if __spec__ else 'shard'}")
    for name in ("--worker", "--first-attempt", "--link", "--parent"):
        p.add_argument(name, type=int, required=True)
    p.add_argument("--device", required=True)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=f"worker {args.worker}: %(levelname)s %(name)s: %(message)s")
    link = Connection(args.link, readable=False)
    w = args.worker

    def report(message: tuple) -> None:
        with contextlib.suppress(OSError):  # the supervisor may be gone
            send(link, message)

    threading.Thread(target=_watch_parent, args=(args.parent,), daemon=True).start()
    from mimicforge.backends.isaaclab import kit

    sim = None
    status = 0
    try:
        cfg = from_toml_text(sys.stdin.read(), "the shard's settings")
        sim = kit.launch(cfg, device=args.device)
        report(("ready", w, args.first_attempt))
        from mimicforge.backends.isaaclab import driver

        driver.generate(cfg, sim, device=args.device, worker=w, first_attempt=args.first_attempt,
                        on_attempt=lambda record, _: report(("attempt", w, dataclasses.asdict(record))))
    except Interrupted as exc:  # the supervisor's stop (or a signal to the whole group): a normal end
        status = exc.exit_code
    except BaseException as exc:  # report everything, then exit non-zero
        report(("error", w, f"{type(exc).__name__}: {' '.join(str(exc).split())}", traceback.format_exc()))
        status = exc.exit_code if isinstance(exc, MimicforgeError) else 1
        status = status or 1
    else:
        report(("done", w, None))
    sys.stdout.flush()
    sys.stderr.flush()
    link.close()
    if sim is not None:
        kit.close(sim, status)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
