"""Make Isaac Lab's synchronous asyncio pump work inside a running event loop (Jupyter).

Isaac Lab Mimic schedules its data generators on ``asyncio.get_event_loop()`` and ``env_loop`` then drives
them with ``loop.run_until_complete(...)`` from ordinary synchronous code. In a plain ``python`` process no
loop is running and that works. In a Jupyter kernel the cell itself runs inside the kernel's loop, so
stock asyncio refuses with "This event loop is already running", and the workarounds that avoid the error
hang instead (the generators only advance when the loop gets control back).

``nest_asyncio`` makes ``run_until_complete`` re-entrant: nested calls pump the running loop until the
awaited future is done. It must be applied before ``AppLauncher`` starts Kit (whose loop is of the same
class) and before any task or queue exists, hence ``prepare_event_loop`` first thing in ``launch``.
"""

from __future__ import annotations

import asyncio
import logging
import warnings

from mimicforge.errors import BackendUnavailable

log = logging.getLogger(__name__)


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The loop running in this thread right now (a Jupyter kernel's), or None."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def prepare_event_loop() -> bool:
    """Get the thread's event loop ready for Isaac Lab's generation pump; True if nest_asyncio was applied.

    With a loop already running, patch it with nest_asyncio. Without one, leave asyncio alone (no patch
    needed, and none wanted in a plain process) but make sure ``asyncio.get_event_loop()`` returns an open
    loop, which newer Pythons no longer create implicitly. Safe to call any number of times.
    """
    loop = running_loop()
    if loop is not None:
        try:
            import nest_asyncio
        except ImportError:
            raise BackendUnavailable(
                "an asyncio event loop is already running here (a Jupyter kernel?), and Isaac Lab's generator "
                "needs nest_asyncio to run inside it: pip install nest_asyncio"
            ) from None
        nest_asyncio.apply(loop)
        log.debug("nest_asyncio applied to the running %s", type(loop).__name__)
        return True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            current = asyncio.get_event_loop()
        except RuntimeError:
            current = None
    if current is None or current.is_closed():
        asyncio.set_event_loop(asyncio.new_event_loop())
    return False
