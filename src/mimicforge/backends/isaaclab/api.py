"""What the driver calls in ``isaaclab_mimic`` and Isaac Lab, written down as data.

Why a table instead of plain calls: Isaac Lab changed these functions between releases. ``env_loop`` took
four arguments in 2.0.x and takes a reset queue as well since (2.2 and 2.3 checked); ``setup_env_config``
gained ``recorder_cfg`` and ``setup_async_generation`` gained ``motion_planners`` in 2.3. The driver picks
the variant whose calls bind to the installed functions' signatures (``select_variant``), and the
contract test (``tests/backends/isaaclab/test_contract.py``) binds the same tables against the sources of
the real ``isaaclab`` wheels from PyPI. What the test checks is therefore exactly what the driver runs.

Nothing here imports Isaac Lab: signatures come in as ``Param`` tuples, built from live functions by
``signature_of`` at run time and from parsed sources by the contract test.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mimicforge.errors import BackendUnavailable


@dataclass(frozen=True)
class Param:
    """One parameter of a Python function, as far as calling it by keyword is concerned."""

    name: str
    required: bool  # no default value
    kind: str = "normal"  # "normal", "keyword_only", "positional_only", "var_positional", "var_keyword"


Signature = tuple[Param, ...]

_KINDS = {
    inspect.Parameter.POSITIONAL_ONLY: "positional_only",
    inspect.Parameter.POSITIONAL_OR_KEYWORD: "normal",
    inspect.Parameter.KEYWORD_ONLY: "keyword_only",
    inspect.Parameter.VAR_POSITIONAL: "var_positional",
    inspect.Parameter.VAR_KEYWORD: "var_keyword",
}


def signature_of(func: Callable[..., Any], *, skip_self: bool = False) -> Signature:
    """The parameters of a live function (``skip_self`` for a method looked up on its class)."""
    params = list(inspect.signature(func).parameters.values())
    if skip_self and params and params[0].name in ("self", "cls"):
        params = params[1:]
    return tuple(
        Param(p.name, p.default is inspect.Parameter.empty and p.kind not in
              (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD), _KINDS[p.kind])
        for p in params
    )


def names(signature: Signature) -> tuple[str, ...]:
    return tuple(p.name for p in signature)


def bind_problems(signature: Signature, keywords: Sequence[str]) -> list[str]:
    """Why calling a function of ``signature`` with exactly these keyword arguments would fail (empty: it binds)."""
    by_name = {p.name: p for p in signature}
    takes_any = any(p.kind == "var_keyword" for p in signature)
    problems = []
    for k in keywords:
        p = by_name.get(k)
        if p is None and not takes_any:
            problems.append(f"has no parameter {k!r}")
        elif p is not None and p.kind == "positional_only":
            problems.append(f"takes {k!r} only by position")
    for p in signature:
        if p.required and p.kind not in ("var_positional", "var_keyword") and p.name not in keywords:
            problems.append(f"requires {p.name!r}, which mimicforge does not pass")
    return problems


@dataclass(frozen=True)
class Call:
    """One call by keyword: ``function(param=<driver value>, ...)``."""

    function: str
    arguments: tuple[tuple[str, str], ...]  # (parameter name, name of the value the driver supplies)

    @property
    def keywords(self) -> tuple[str, ...]:
        return tuple(p for p, _ in self.arguments)

    def kwargs(self, values: Mapping[str, Any]) -> dict[str, Any]:
        return {param: values[value] for param, value in self.arguments}

    def describe(self) -> str:
        return f"{self.function}({', '.join(f'{p}={v}' for p, v in self.arguments)})"


@dataclass(frozen=True)
class ApiVariant:
    """One generation of the ``isaaclab_mimic.datagen.generation`` API."""

    name: str
    calls: tuple[Call, ...]
    components: tuple[str, ...]  # keys of setup_async_generation's result that the driver reads
    generator_resets_via_queue: bool  # DataGenerator.generate takes env_reset_queue

    def call(self, function: str) -> Call:
        for c in self.calls:
            if c.function == function:
                return c
        raise KeyError(function)


GENERATION_MODULE = "isaaclab_mimic.datagen.generation"
# The module-global counters run_data_generator increments (never reset by Isaac Lab itself).
COUNTERS = ("num_success", "num_failures", "num_attempts")
# (module, class, method) whose signature tells which env_loop the installed generator expects.
DATA_GENERATOR_GENERATE = ("isaaclab_mimic.datagen.data_generator", "DataGenerator", "generate")

_SETUP_ENV_CONFIG = Call("setup_env_config", (
    ("env_name", "env_name"), ("output_dir", "output_dir"), ("output_file_name", "output_file_name"),
    ("num_envs", "num_envs"), ("device", "device"), ("generation_num_trials", "num_trials"),
))
_SETUP_ASYNC = Call("setup_async_generation", (
    ("env", "env"), ("num_envs", "num_envs"), ("input_file", "input_file"), ("success_term", "success_term"),
    ("pause_subtask", "pause_subtask"),
))

VARIANTS: tuple[ApiVariant, ...] = (
    ApiVariant(
        name="reset queue (Isaac Lab 2.2, 2.3)",
        calls=(_SETUP_ENV_CONFIG, _SETUP_ASYNC, Call("env_loop", (
            ("env", "env"), ("env_reset_queue", "reset_queue"), ("env_action_queue", "action_queue"),
            ("shared_datagen_info_pool", "info_pool"), ("asyncio_event_loop", "event_loop"),
        ))),
        components=("tasks", "event_loop", "reset_queue", "action_queue", "info_pool"),
        generator_resets_via_queue=True,
    ),
    ApiVariant(
        name="4-argument env_loop (Isaac Lab 2.0.x)",
        calls=(_SETUP_ENV_CONFIG, _SETUP_ASYNC, Call("env_loop", (
            ("env", "env"), ("env_action_queue", "action_queue"),
            ("shared_datagen_info_pool", "info_pool"), ("asyncio_event_loop", "event_loop"),
        ))),
        components=("tasks", "event_loop", "action_queue", "info_pool"),
        generator_resets_via_queue=False,
    ),
)
FUNCTIONS = tuple(dict.fromkeys(c.function for v in VARIANTS for c in v.calls))

# Settings the driver writes into the env config before gym.make (class DataGenConfig / SubTaskConfig in
# isaaclab/envs/mimic_env_cfg.py). Optional ones are written only where the installed release has them.
DATAGEN_FIELDS = ("generation_guarantee", "generation_keep_failed", "seed", "generation_select_src_per_subtask")
DATAGEN_OPTIONAL_FIELDS = ("generation_select_src_per_arm",)
SUBTASK_FIELDS = ("selection_strategy", "selection_strategy_kwargs", "action_noise", "num_interpolation_steps")
# env_loop re-reads these from env.cfg.datagen_config after every finished attempt; the graceful stop
# (finish the current attempt on SIGTERM) lowers them while env_loop runs.
ENV_LOOP_READS = ("generation_guarantee", "generation_num_trials")
# Staging keeps successes and failures in separate files; the driver decides what reaches OUT.
# The stack task's cube reset event and the params the driver rewrites from the [randomization] settings.
CUBE_EVENT = ("isaaclab_tasks.manager_based.manipulation.stack.config.franka.stack_joint_pos_env_cfg", "EventCfg",
              "randomize_cube_positions")
CUBE_EVENT_PARAMS = ("pose_range", "min_separation")
CUBE_POSE_RANGE_KEYS = ("x", "y", "yaw")

EXPORT_MODE = ("isaaclab.managers.recorder_manager", "DatasetExportMode", "EXPORT_SUCCEEDED_FAILED_IN_SEPARATE_FILES")
RECORDER_CFG_FIELDS = ("dataset_export_mode",)
# AppLauncher is given the flags its own parser defines, so every other option keeps its default.
LAUNCHER = ("isaaclab.app", "AppLauncher", "add_app_launcher_args")


def launcher_argv(*, headless: bool, enable_cameras: bool, device: str) -> list[str]:
    argv = ["--device", device]
    if headless:
        argv.append("--headless")
    if enable_cameras:
        argv.append("--enable_cameras")
    return argv


LAUNCHER_FLAGS = ("--device", "--headless", "--enable_cameras")
# Modules imported for their side effects (gym registration of the Mimic and task envs).
REGISTRATION_MODULES = ("isaaclab_mimic.envs", "isaaclab_tasks")


def select_variant(signatures: Mapping[str, Signature], generate: Signature | None = None,
                   where: str = GENERATION_MODULE) -> ApiVariant:
    """The first variant all of whose calls bind to ``signatures`` (function name -> parameters).

    ``generate`` (``DataGenerator.generate``'s parameters, when known) guards against a mixed install:
    a 4-argument ``env_loop`` with a generator that resets through a queue deadlocks, and the reverse
    leaves reset requests unserved.
    """
    missing = [f for f in FUNCTIONS if f not in signatures]
    if missing:
        raise BackendUnavailable(f"{where} lacks {', '.join(missing)}; install Isaac Lab 2.0 or later "
                                 "(isaaclab_mimic with the asyncio generation API)")
    report = []
    for variant in VARIANTS:
        problems = [f"{c.function} {p}" for c in variant.calls
                    for p in bind_problems(signatures[c.function], c.keywords)]
        if problems:
            report.append(f"{variant.name}: {'; '.join(problems)}")
            continue
        if generate is not None:
            queue = "env_reset_queue" in names(generate)
            if queue != variant.generator_resets_via_queue:
                raise BackendUnavailable(
                    f"mixed isaaclab_mimic install: env_loop is the {variant.name} kind but DataGenerator.generate "
                    f"{'takes' if queue else 'does not take'} env_reset_queue, so generation would deadlock; "
                    "reinstall Isaac Lab so both come from one release"
                )
        return variant
    raise BackendUnavailable(f"the installed {where} matches no supported API ({' | '.join(report)}); "
                             "mimicforge supports Isaac Lab 2.0 to 2.3")
