"""SIGTERM / SIGINT during Isaac Lab generation: finish the attempt in progress, close the files, stop.

``docker stop`` sends SIGTERM, then SIGKILL after the grace period. ``AppLauncher`` installs a SIGTERM
handler that closes Kit at once, mid-attempt, with the recorder's files open. While generation runs we
replace it (and restore it afterwards): the first signal lowers the stop target that ``env_loop``
re-reads after every finished attempt, so the loop ends by itself after the current attempt; the driver
closes the env (and with it the HDF5 files; 2.x's env_loop also does, 3.0's leaves it to the caller),
collects what was finished and reports
``Interrupted`` (exit 143 / 130). A second signal stops at once through the watchdog's abort.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType

from mimicforge.backends.isaaclab.watchdog import WatchdogAbort
from mimicforge.errors import Interrupted

log = logging.getLogger(__name__)

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class GracefulStop:
    def __init__(self, on_first: Callable[[], None]) -> None:
        self.on_first = on_first
        self.signum: int | None = None

    def handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.signum is not None:
            raise WatchdogAbort(Interrupted(f"stopped at once by a second {name}; the demos finished so far are "
                                            "saved, continue with --resume", signum))
        self.signum = signum
        log.warning("received %s: finishing the current attempt, then stopping (send it again to stop now)", name)
        self.on_first()

    @contextlib.contextmanager
    def installed(self) -> Iterator[GracefulStop]:
        """Install the handlers for the duration (main thread only; elsewhere signals cannot be caught)."""
        if threading.current_thread() is not threading.main_thread():
            log.warning("generation runs outside the main thread: SIGTERM / SIGINT cannot be handled gracefully")
            yield self
            return
        previous = {s: signal.signal(s, self.handle) for s in SIGNALS}
        try:
            yield self
        finally:
            for s, h in previous.items():
                signal.signal(s, h)
