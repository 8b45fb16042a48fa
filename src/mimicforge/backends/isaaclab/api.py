"""What the driver calls in ``isaaclab_mimic`` and Isaac Lab, written down as data.

Why a table instead of plain calls: Isaac Lab changed these functions between releases. The PyPI wheels
2.0.0-2.0.2 have no ``isaaclab_mimic.datagen.generation`` module at all; 2.1 to 2.3 have the 5-argument
``env_loop`` with a reset queue (``setup_env_config`` gained ``recorder_cfg`` and ``setup_async_generation``
gained ``motion_planners`` in 2.3); 3.0 adds ``data_gen_tasks`` to ``env_loop`` (it re-raises a dead
generator's exception) and no longer closes the env. NVIDIA's blueprint image ships a 2.0.2 snapshot with a
4-argument ``env_loop``. The driver picks the variant whose calls bind to the installed functions'
signatures (``select_variant``), and the contract test (``tests/backends/isaaclab/test_contract.py``) binds
the same tables against the sources of every ``isaaclab`` wheel on PyPI. What the test checks is therefore
exactly what the driver runs.

The launcher changed too: 3.0 removed ``--headless`` (headless is the default) and ``--enable_cameras``
(cameras go to ``AppLauncher`` as a keyword). ``launcher_args`` builds the argv from the options the
installed parser defines, so each release gets only flags it accepts.

Nothing here imports Isaac Lab: signatures come in as ``Param`` tuples, built from live functions by
``signature_of`` at run time and from parsed sources by ``signature_of_source`` (before Kit starts, and in
the contract test).
"""

from __future__ import annotations

import argparse
import ast
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
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


def signature_of_source(node: ast.FunctionDef | ast.AsyncFunctionDef, *, skip_self: bool = False) -> Signature:
    """The parameters of a function read from its source (``ast``), without importing its module."""
    a = node.args
    positional = a.posonlyargs + a.args
    first_default = len(positional) - len(a.defaults)
    params = [Param(p.arg, i < first_default,
                    "positional_only" if i < len(a.posonlyargs) else "normal") for i, p in enumerate(positional)]
    if a.vararg:
        params.append(Param(a.vararg.arg, False, "var_positional"))
    params += [Param(p.arg, d is None, "keyword_only") for p, d in zip(a.kwonlyargs, a.kw_defaults)]
    if a.kwarg:
        params.append(Param(a.kwarg.arg, False, "var_keyword"))
    if skip_self and params and params[0].name in ("self", "cls"):
        params = params[1:]
    return tuple(params)


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
    # Isaac Lab 3.0: NumPy/OpenBLAS imported before Kit starts can crash Kit's start-up fork, so the driver
    # reads the input (numpy, h5py) only once Kit is up.
    kit_before_numpy: bool = False

    def call(self, function: str) -> Call:
        for c in self.calls:
            if c.function == function:
                return c
        raise KeyError(function)


SUPPORTED = "Isaac Lab 2.1 to 3.0 and the blueprint image's 2.0.2 snapshot"
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

_ENV_LOOP_5 = (("env", "env"), ("env_reset_queue", "reset_queue"), ("env_action_queue", "action_queue"),
               ("shared_datagen_info_pool", "info_pool"), ("asyncio_event_loop", "event_loop"))
VARIANTS: tuple[ApiVariant, ...] = (
    ApiVariant(
        name="data_gen_tasks (Isaac Lab 3.0)",
        calls=(_SETUP_ENV_CONFIG, _SETUP_ASYNC, Call("env_loop", (*_ENV_LOOP_5, ("data_gen_tasks", "gathered")))),
        components=("tasks", "event_loop", "reset_queue", "action_queue", "info_pool"),
        generator_resets_via_queue=True,
        kit_before_numpy=True,
    ),
    ApiVariant(
        name="reset queue (Isaac Lab 2.1 to 2.3)",
        calls=(_SETUP_ENV_CONFIG, _SETUP_ASYNC, Call("env_loop", _ENV_LOOP_5)),
        components=("tasks", "event_loop", "reset_queue", "action_queue", "info_pool"),
        generator_resets_via_queue=True,
    ),
    ApiVariant(
        name="4-argument env_loop (the blueprint image's Isaac Lab 2.0.2 snapshot)",
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
# Isaac Lab 3.0 moved the stack task to isaaclab_tasks.contrib.stack, its reset event to StackEventCfg.
CUBE_EVENT_3 = ("isaaclab_tasks.contrib.stack.stack_env_cfg", "StackEventCfg", "randomize_cube_positions")
CUBE_EVENT_PARAMS = ("pose_range", "min_separation")
CUBE_POSE_RANGE_KEYS = ("x", "y", "yaw")

# ManagerBasedEnvCfg field: renders after a reset before sensors are read (>= 1 when images are saved);
# releases before 2.3.2 only have the flag RERENDER_FLAG_FIELD (True: render once after a reset).
RERENDERS_FIELD = "num_rerenders_on_reset"
RERENDER_FLAG_FIELD = "rerender_on_reset"
EXPORT_MODE = ("isaaclab.managers.recorder_manager", "DatasetExportMode", "EXPORT_SUCCEEDED_FAILED_IN_SEPARATE_FILES")
RECORDER_CFG_FIELDS = ("dataset_export_mode",)
# AppLauncher is given the flags its own parser defines, so every other option keeps its default.
LAUNCHER = ("isaaclab.app", "AppLauncher", "add_app_launcher_args")


@dataclass(frozen=True)
class LauncherArgs:
    """What ``AppLauncher`` is given: ``AppLauncher(namespace, **kwargs)``."""

    argv: list[str]
    kwargs: dict[str, Any]
    options: frozenset[str]  # every option string the installed parser defines
    namespace: argparse.Namespace = field(compare=False)


class _StrictParser(argparse.ArgumentParser):
    """Raises instead of printing usage and exiting: a refused launcher argument is our bug, not the user's."""

    def error(self, message: str) -> Any:  # argparse's hook; never returns
        raise BackendUnavailable(f"the installed Isaac Lab's launcher refused mimicforge's arguments ({message}); "
                                 f"mimicforge supports {SUPPORTED}")


def launcher_args(launcher: Any, *, enable_cameras: bool, device: str) -> LauncherArgs:
    """Fill a parser with the launcher's own options and parse the argv built from those it accepts.

    Headless: ``--headless`` where the release has it (up to 2.3); 3.0 is headless unless a visualizer is asked
    for. Cameras: ``--enable_cameras`` where it exists, else the ``enable_cameras`` keyword (3.0).
    """
    parser = _StrictParser(add_help=False)
    getattr(launcher, LAUNCHER[2])(parser)
    options = frozenset(parser._option_string_actions)
    if "--device" not in options:
        raise BackendUnavailable(f"the installed Isaac Lab's launcher has no --device option; mimicforge supports "
                                 f"{SUPPORTED}")
    argv = ["--device", device]
    if "--headless" in options:
        argv.append("--headless")
    kwargs: dict[str, Any] = {}
    if enable_cameras:
        if "--enable_cameras" in options:
            argv.append("--enable_cameras")
        else:
            kwargs["enable_cameras"] = True
    return LauncherArgs(argv, kwargs, options, parser.parse_args(argv))


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
        raise BackendUnavailable(f"{where} lacks {', '.join(missing)}; install Isaac Lab 2.1 or later "
                                 f"(isaaclab_mimic with the asyncio generation API; mimicforge supports {SUPPORTED})")
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
                             f"mimicforge supports {SUPPORTED}")


def read_generation_api(source_of: Callable[[str], str | None]) -> tuple[dict[str, Signature], Signature | None]:
    """The signatures ``select_variant`` needs, read from source text (``source_of(module)``; None: no module).

    Used before Kit starts (``installed_source``: nothing of Isaac Lab is imported) and by the contract test
    on every wheel's sources, so both pick the variant exactly as the driver does after Kit is up.
    """
    signatures: dict[str, Signature] = {}
    text = source_of(GENERATION_MODULE)
    if text is not None:
        for node in ast.parse(text).body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in FUNCTIONS:
                signatures[node.name] = signature_of_source(node)
    module, cls, method = DATA_GENERATOR_GENERATE
    text = source_of(module)
    generate = None
    for node in ast.parse(text).body if text is not None else ():
        if isinstance(node, ast.ClassDef) and node.name == cls:
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name == method:
                    generate = signature_of_source(item, skip_self=True)
    return signatures, generate


def installed_source(module: str) -> str | None:
    """The source text of an installed module, found without importing it or its packages (None: not there).

    The top-level package is located with ``find_spec`` (which runs no code for a top-level name), the
    rest of the dotted path is a file under it.
    """
    import importlib.util
    from pathlib import Path

    top, *rest = module.split(".")
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        base = Path(location, *rest)
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate.read_text(encoding="utf-8")
    return None


def installed_release() -> str | None:
    """The installed ``isaaclab`` distribution's version (None when there is none), read from its metadata."""
    from importlib import metadata

    try:
        return metadata.version("isaaclab")
    except metadata.PackageNotFoundError:
        return None
