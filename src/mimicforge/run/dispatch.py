"""One engine resolver and one dispatch for every entry: ``mimicforge generate``, the Isaac Lab standalone
entry (``standalone/generate.py``) and the notebook.

``ENGINE=auto`` means the same everywhere (here, ``launch.sh`` and the docs): Isaac Lab where
``isaaclab_mimic`` is importable, else the MuJoCo twin. A setting the chosen engine cannot honour is an error
that names it (or one warning line where it is harmless), before anything starts. Light to import (no numpy,
h5py or simulator): the Isaac Lab entry resolves the engine before Kit starts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from mimicforge.backends import make_env_factory, resolve_engine
from mimicforge.config import RunConfig, check_engine, resolve_input
from mimicforge.errors import ConfigError
from mimicforge.goal import Summary

if TYPE_CHECKING:
    from mimicforge.outputs import MetricsRecord

log = logging.getLogger(__name__)

OnAttempt = Callable[["MetricsRecord", Summary], None]


def choose_engine(cfg: RunConfig) -> str:
    """The engine ``cfg`` runs on (``auto`` resolved), after checking that it can honour every setting."""
    engine = resolve_engine(cfg.generation.engine)
    for line in check_engine(cfg, engine):
        log.warning("%s", line)
    return engine


def generate(cfg: RunConfig, *, on_attempt: OnAttempt | None = None, sim: Any = None, stop: Any = None,
             engine: str | None = None) -> Summary:
    """Generate on the engine the settings choose: the Isaac Lab driver (needs ``sim``, a started Isaac Sim
    from ``backends.isaaclab.kit.launch``, on the DEVICE setting) or, for WORKERS > 1 or Ray, supervised Kit
    processes (no ``sim``: each starts its own); on the twin one process, supervised workers or Ray."""
    cfg = resolve_input(cfg)
    engine = engine or choose_engine(cfg)  # given: the caller has chosen (and checked) it already
    cfg = replace(cfg, generation=replace(cfg.generation, engine=engine))  # the saved settings name what runs
    if engine == "isaaclab":
        if sim is None and (cfg.workers.ray or cfg.workers.workers > 1):
            from mimicforge.run import kit_workers

            if cfg.workers.ray:
                return kit_workers.run_kit_on_ray(cfg, on_attempt=on_attempt)
            return kit_workers.run_kit_workers(cfg, on_attempt=on_attempt, stop=stop)
        if sim is None:
            raise ConfigError(
                "the Isaac Lab engine runs inside Isaac Sim: use standalone/generate.py (MODE=standalone launch.sh "
                "does), or launch it in a notebook with kit.launch(cfg); ENGINE=mujoco runs the twin here"
            )
        from mimicforge.backends.isaaclab import driver
        from mimicforge.datasets import lock
        from mimicforge.outputs import OutputPaths

        out = OutputPaths.beside(cfg.generation.output_file).dataset
        out.parent.mkdir(parents=True, exist_ok=True)
        with lock.held(out):  # one run per output, from its start through its finish
            return driver.generate(cfg, sim, on_attempt=on_attempt)
    if cfg.workers.ray:
        from mimicforge.run.ray import run_on_ray

        return run_on_ray(cfg, engine=engine, on_attempt=on_attempt)
    if cfg.workers.workers > 1:
        from mimicforge.run.supervisor import run_supervised

        return run_supervised(cfg, engine=engine, on_attempt=on_attempt, stop=stop)
    from mimicforge.run.generate import run_generation

    return run_generation(cfg, env_factory=make_env_factory(engine), on_attempt=on_attempt, stop=stop)
