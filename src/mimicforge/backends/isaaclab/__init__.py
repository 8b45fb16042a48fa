"""The Isaac Lab engine: Isaac Lab Mimic's own generator, driven safely from mimicforge.

Use it inside Isaac Sim's Python (the ``isaac-lab`` container)::

    from mimicforge.backends.isaaclab import launch, generate, close
    sim = launch(cfg)            # nest_asyncio where a loop runs (Jupyter), then Kit headless
    summary = generate(cfg, sim) # as often as needed, in one process
    close(sim)

Importing this package imports no Isaac module, nor nest_asyncio, torch, numpy or h5py: they load when used
(``launch`` and ``close`` come from the light ``kit`` module; the rest from ``driver`` on first use).
"""

from __future__ import annotations

from typing import Any

from mimicforge.backends.isaaclab.kit import Simulation, close, launch

_FROM_DRIVER = ("RunPlan", "generate", "plan_run")


def __getattr__(name: str) -> Any:
    if name in _FROM_DRIVER:
        from mimicforge.backends.isaaclab import driver

        return getattr(driver, name)
    if name == "prepare_event_loop":
        from mimicforge.backends.isaaclab.eventloop import prepare_event_loop

        return prepare_event_loop
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["RunPlan", "Simulation", "close", "generate", "launch", "plan_run", "prepare_event_loop"]
