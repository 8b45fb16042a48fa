"""Names and shapes of Isaac Lab Mimic's HDF5 layout (``HDF5DatasetFileHandler``, robomimic-compatible).

A dataset file holds one group ``data`` with attributes ``env_args`` (JSON) and ``total`` (sum of
``num_samples``), and one group ``demo_<k>`` per episode with attributes ``num_samples`` and ``success``.
"""

from __future__ import annotations

import json
import re
from typing import Any

DATA = "data"
DEMO_PREFIX = "demo_"
ATTR_ENV_ARGS = "env_args"
ATTR_TOTAL = "total"
ATTR_NUM_SAMPLES = "num_samples"
ATTR_SUCCESS = "success"
# Resolved run settings (TOML text) that produced the file; mimicforge's own addition, ignored by Isaac Lab.
ATTR_CONFIG = "mimicforge_config"
# Demo attributes mimicforge adds: the generation attempt (run-wide index) and its worker.
ATTR_ATTEMPT = "mimicforge_attempt"
ATTR_WORKER = "mimicforge_worker"
ATTR_METRICS = "mimicforge_metrics"  # the attempt's metrics record (JSON), so a kill before its metrics line loses nothing
ATTR_SOURCE_STEPS = "mimicforge_source_steps"  # total length of the source segments a generated demo was built from
# What belongs to one generation attempt, so a copy of the demo (an augmented one) must not carry it again.
PER_ATTEMPT_ATTRS = (ATTR_ATTEMPT, ATTR_WORKER, ATTR_METRICS)

ACTIONS = "actions"
OBS = "obs"
INITIAL_STATE = "initial_state"
STATES = "states"
DATAGEN_INFO = "obs/datagen_info"
DATAGEN_KEYS = ("eef_pose", "object_pose", "target_eef_pose", "subtask_term_signals")

# robomimic's env type for gym environments, which Isaac Lab writes into env_args.
ENV_TYPE_GYM = 2

_DEMO_RE = re.compile(r"^demo_(\d+)$")


def demo_name(index: int) -> str:
    return f"{DEMO_PREFIX}{index}"


def demo_index(name: str) -> int | None:
    """The integer k of ``demo_k``, or None for any other name."""
    m = _DEMO_RE.match(name)
    return int(m.group(1)) if m else None


def env_args_json(env_name: str, extra: dict[str, Any] | None = None) -> str:
    args: dict[str, Any] = {"env_name": env_name, "type": ENV_TYPE_GYM}
    if extra:
        args.update(extra)
    return json.dumps(args)


ANNOTATE_HINT = (
    "annotate it with Isaac Lab's annotate_demos.py "
    "(./isaaclab.sh -p scripts/imitation_learning/isaaclab_mimic/annotate_demos.py --auto "
    "--task <task> --input_file <in> --output_file <out>), or record annotated demos on the twin "
    "with 'mimicforge record'"
)
