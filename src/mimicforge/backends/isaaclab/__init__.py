"""The Isaac Lab engine: Isaac Lab Mimic's own generator, driven safely from mimicforge.

Use it inside Isaac Sim's Python (the ``isaac-lab`` container)::

    from mimicforge.backends.isaaclab import launch, generate, close
    sim = launch(cfg)            # nest_asyncio where a loop runs (Jupyter), then Kit headless
    summary = generate(cfg, sim) # as often as needed, in one process
    close(sim)

Importing this package imports no Isaac module, nor nest_asyncio or torch: they load when used.
"""

from mimicforge.backends.isaaclab.driver import RunPlan, Simulation, close, generate, launch, plan_run
from mimicforge.backends.isaaclab.eventloop import prepare_event_loop

__all__ = ["RunPlan", "Simulation", "close", "generate", "launch", "plan_run", "prepare_event_loop"]
