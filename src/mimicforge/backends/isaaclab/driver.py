"""Run Isaac Lab Mimic's own generator under mimicforge's settings, outputs and safety rails.

The flow is Isaac Lab's (``setup_env_config`` -> ``gym.make`` -> ``setup_async_generation`` ->
``env_loop``); the driver only prepares, launches, watches and collects:

1. ``plan_run`` checks everything that needs no simulator (settings, input file, output policy, resume
   point) so that mistakes fail in a second, before Kit starts;
2. ``launch`` (``kit``: light, no numpy) picks the API variant from the installed sources, plans the run
   (in a child process on Isaac Lab 3.0), decides cameras from the task, applies nest_asyncio where a
   loop already runs (Jupyter), then starts Kit headless;
3. ``generate`` picks the API variant that binds to the installed release (``api``), points the
   recorder at a staging folder (``staging``), resets the module counters, runs ``env_loop`` under the
   ``watchdog`` and the graceful ``signals`` handler, and collects every finished attempt into OUT.

All Isaac calls go through an ``IsaacBoundary`` (``boundary.RealIsaac`` by default).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from mimicforge.backends.isaaclab import api
from mimicforge.backends.isaaclab.cameras import CAMERA_TASKS, needs_cameras
from mimicforge.backends.isaaclab.eventloop import prepare_event_loop
from mimicforge.backends.isaaclab.images import FrameSorter, redirect_camera_terms
from mimicforge.backends.isaaclab.kit import Simulation, close, launch
from mimicforge.backends.isaaclab.signals import GracefulStop
from mimicforge.backends.isaaclab.staging import STAGING_NAME, Collector, Staging
from mimicforge.backends.isaaclab.watchdog import Counters, Watchdog, WatchdogAbort
from mimicforge.config import GenerationConfig, RandomizationConfig, RunConfig, resolve_input, to_toml
from mimicforge.datasets import DatasetReader
from mimicforge.errors import BackendUnavailable, ConfigError, GenerationStalled, Interrupted
from mimicforge.goal import GoalTracker
from mimicforge.outputs import MetricsRecord, OutputPaths, Resumed, Summary, dataset_images, output_mode, scan_existing
from mimicforge.tasks import TASKS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunPlan:
    """Everything decided before the simulator starts."""

    cfg: RunConfig
    input_file: Path
    paths: OutputPaths
    mode: str  # DatasetWriter mode: create | append | overwrite
    env_name: str
    resumed: Resumed
    remaining: int  # trials still to run (Isaac's generation_num_trials for this run)
    num_subtasks: int
    worker: int = 0  # the shard this process generates (0: the whole run)
    next_attempt: int = 0  # index of this process's first attempt (resumes continue the count)

    @property
    def seed(self) -> int:
        """The seed of this process's whole run: one Kit process generates attempt after attempt from one
        seeding, so ``SeedSequence(SEED, spawn_key=(worker, next_attempt))`` seeds it, and a resumed or
        restarted process never repeats the cube layouts and source choices of the one before."""
        return run_seed(self.cfg.generation.seed, self.worker, self.next_attempt)


def run_seed(seed: int, worker: int, next_attempt: int) -> int:
    """A 63-bit seed (SEED's range) from ``SeedSequence(seed, spawn_key=(worker, next_attempt))``."""
    state = np.random.SeedSequence(seed, spawn_key=(worker, next_attempt)).generate_state(2, np.uint32)
    return (int(state[0]) << 31 | int(state[1]) >> 1) & (2**63 - 1)


def plan_run(cfg: RunConfig, *, worker: int = 0, first_attempt: int = 0) -> RunPlan:
    """Validate a run without Isaac Sim: input readable, output policy, cameras, what is left to do.

    ``worker`` / ``first_attempt``: the shard a supervised Kit process generates (its demos carry that worker
    number; attempt indices continue from the shard's record or ``first_attempt``, whichever is later)."""
    cfg = resolve_input(cfg)
    g = cfg.generation
    assert g.input_file is not None
    paths = OutputPaths.beside(g.output_file)
    if cfg.cameras.cameras and g.num_envs > 1:
        raise ConfigError(f"cameras need NUM_ENVS=1 on the Isaac Lab engine (got NUM_ENVS={g.num_envs}): Isaac Lab's "
                          "recorder does not say which env an exported demo came from, so frames cannot be matched")
    with DatasetReader(g.input_file) as reader:
        env_name = g.task or reader.env_name
    if not env_name:
        raise ConfigError(f"{g.input_file} does not name its env in data/env_args; set TASK (or --task)")
    paths.dataset.parent.mkdir(parents=True, exist_ok=True)
    mode = output_mode(cfg, paths)
    resumed = scan_existing(paths) if mode == "append" else Resumed(0, {})
    next_attempt = max(first_attempt, resumed.next_for(worker))
    done = resumed.successes if g.stop_on == "successes" else next_attempt
    task = TASKS.get(env_name)
    num_subtasks = len(task.subtasks[task.eef_names[0]]) if task is not None else 0
    return RunPlan(cfg, Path(g.input_file), paths, mode, env_name, resumed, max(g.num_trials - done, 0), num_subtasks,
                   worker, next_attempt)


__all__ = ["RunPlan", "Simulation", "close", "generate", "launch", "plan_run"]


# ----------------------------------------------------------------------------------------- env config
def configure_env_cfg(env_cfg: Any, g: GenerationConfig, export_mode: Any, *, images: bool = False,
                      seed: int | None = None) -> None:
    """Write mimicforge's settings into the parsed env config: exactly the fields listed in ``api`` (the
    contract test checks those lists against every Isaac Lab release). ``seed``: the process's run seed
    (``RunPlan.seed``; default SEED)."""
    dg = env_cfg.datagen_config
    per_subtask = g.select_source == "per_subtask"
    datagen = {
        "generation_guarantee": g.stop_on == "successes",
        "generation_keep_failed": True,  # staging keeps every attempt; KEEP_FAILED decides what reaches OUT
        "seed": g.seed if seed is None else seed,
        "generation_select_src_per_subtask": per_subtask,
    }
    for name in api.DATAGEN_FIELDS:
        setattr(dg, name, datagen[name])
    if per_subtask and hasattr(dg, api.DATAGEN_OPTIONAL_FIELDS[0]):
        # Isaac Lab 2.3 selects once per trial unless per-arm selection is on, even with per_subtask set.
        setattr(dg, api.DATAGEN_OPTIONAL_FIELDS[0], True)
    for name in api.RECORDER_CFG_FIELDS:
        setattr(env_cfg.recorders, name, export_mode)
    nn = {"nn_k": g.nn_k} if g.nn_k is not None else None
    subtask = {"selection_strategy": g.selection_strategy, "selection_strategy_kwargs": nn,
               "action_noise": g.action_noise, "num_interpolation_steps": g.num_interpolation_steps}
    for subtasks in env_cfg.subtask_configs.values():
        for sub in subtasks:
            for name in api.SUBTASK_FIELDS:
                value = subtask[name]
                if value is None:
                    continue
                if name == "selection_strategy_kwargs":
                    value = {**dict(sub.selection_strategy_kwargs or {}), **value}
                setattr(sub, name, value)
    if images:
        # With 0 rerenders the frame saved after a reset still shows the previous attempt (stale step_0).
        if hasattr(env_cfg, api.RERENDER_FLAG_FIELD) and not hasattr(env_cfg, api.RERENDERS_FIELD):
            setattr(env_cfg, api.RERENDER_FLAG_FIELD, True)  # before Isaac Lab 2.3.2
        else:
            setattr(env_cfg, api.RERENDERS_FIELD, max(1, int(getattr(env_cfg, api.RERENDERS_FIELD, 0) or 0)))


def configure_randomization(env_cfg: Any, r: RandomizationConfig) -> None:
    """Write the [randomization] settings into the task's cube reset event (Isaac Lab's own defaults are
    the settings' defaults, so an untouched run changes nothing)."""
    term = getattr(getattr(env_cfg, "events", None), api.CUBE_EVENT[2], None)
    if term is None:
        if r != RandomizationConfig():
            raise ConfigError(f"this task has no {api.CUBE_EVENT[2]} event, so CUBE_X / CUBE_Y / CUBE_YAW / "
                              "MIN_SEPARATION cannot apply; leave them at their defaults")
        return
    pose_key, separation_key = api.CUBE_EVENT_PARAMS
    pose_range = dict(term.params[pose_key])
    pose_range.update(zip(api.CUBE_POSE_RANGE_KEYS, (r.cube_x, r.cube_y, r.cube_yaw)))
    term.params[pose_key] = pose_range
    term.params[separation_key] = r.min_separation


def reset_counters(generation: ModuleType) -> None:
    """Isaac Lab keeps the attempt counters in module globals that it never resets: a second run in the
    same process (a notebook) would otherwise start from the first run's counts and stop at once."""
    for name in api.COUNTERS:
        setattr(generation, name, 0)


def read_counters(generation: ModuleType) -> Counters:
    return Counters(*(int(getattr(generation, name)) for name in api.COUNTERS))


def finish_after_current_attempt(env: Any, generation: ModuleType) -> None:
    """Make env_loop stop after the attempt in progress: it re-reads both fields after every attempt. Never a
    later stop than the one set: a signal just after the last attempt (env_loop steps once more before its
    check) must not start another attempt."""
    dg = env.cfg.datagen_config
    target = read_counters(generation).attempts + 1
    if not dg.generation_guarantee:
        target = min(target, int(dg.generation_num_trials))
    dg.generation_guarantee = False
    dg.generation_num_trials = target


def _cancel(gathered: asyncio.Future[Any], loop: asyncio.AbstractEventLoop) -> None:
    """Cancel the generator tasks and let them unwind (Isaac Lab's own script does the same)."""
    gathered.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        loop.run_until_complete(gathered)


# ----------------------------------------------------------------------------------------- the run
def generate(
    cfg: RunConfig,
    sim: Simulation,
    *,
    device: str | None = None,
    stall_timeout: float | None = None,
    on_attempt: Callable[[MetricsRecord, Summary], None] | None = None,
    watch_interval: float = 0.0,
    worker: int = 0,
    first_attempt: int = 0,
) -> Summary:
    """Generate until the goal with Isaac Lab Mimic; returns the summary or raises GenerationStalled /
    Interrupted (the outputs hold every attempt that finished, in every case). ``stall_timeout``
    overrides the STALL_TIMEOUT setting (tests); ``worker`` / ``first_attempt``: see ``plan_run``."""
    plan = plan_run(cfg, worker=worker, first_attempt=first_attempt)
    g = plan.cfg.generation
    isaac = sim.isaac
    device = device or sim.device
    if needs_cameras(plan.env_name, plan.cfg.cameras.cameras) and not sim.enable_cameras:
        raise ConfigError(f"task {plan.env_name} needs cameras but Kit was started without them; Kit cannot "
                          "restart in a process: restart it (the notebook's kernel) and launch with this task")
    tracker = GoalTracker(str(plan.paths.dataset), target=g.num_trials, stop_on=g.stop_on,
                          successes=plan.resumed.successes, attempts=plan.next_attempt,
                          max_consecutive_failures=g.max_consecutive_failures,
                          stall_timeout=stall_timeout if stall_timeout is not None else g.stall_timeout)
    if plan.remaining == 0:
        log.info("%s already holds its goal (%d %s); nothing to do", plan.paths.dataset, g.num_trials, g.stop_on)
        return tracker.finish()
    prepare_event_loop()
    generation = isaac.load_generation()
    signatures = {f: api.signature_of(getattr(generation, f)) for f in api.FUNCTIONS if hasattr(generation, f)}
    variant = api.select_variant(signatures, isaac.generate_signature())
    log.info("Isaac Lab generation API: %s", variant.name)

    staging = Staging.beside(plan.paths)
    staging.reset()
    values: dict[str, Any] = {
        "env_name": plan.env_name, "output_dir": str(staging.root), "output_file_name": STAGING_NAME,
        "num_envs": g.num_envs, "device": device, "num_trials": plan.remaining,
        "input_file": str(plan.input_file), "pause_subtask": False,
    }
    env_cfg, success_term = generation.setup_env_config(**variant.call("setup_env_config").kwargs(values))
    seed = plan.seed
    log.info("worker %d from attempt %d: seed %d (SeedSequence(%d, spawn_key=(%d, %d)))", plan.worker,
             plan.next_attempt, seed, g.seed, plan.worker, plan.next_attempt)
    configure_env_cfg(env_cfg, g, isaac.export_mode(api.EXPORT_MODE[2]),
                      images=plan.env_name in CAMERA_TASKS or bool(plan.cfg.cameras.cameras), seed=seed)
    configure_randomization(env_cfg, plan.cfg.randomization)
    cams = plan.cfg.cameras
    frames = None
    if cams.cameras:
        streams = redirect_camera_terms(env_cfg, staging.images, cams.cameras, cams.modalities, plan.env_name)
        frames = FrameSorter(staging.images, dataset_images(cams.output_dir, plan.paths.dataset), streams)

    def report(record: MetricsRecord) -> None:
        tracker.record(record.success)
        if on_attempt is not None:
            on_attempt(record, tracker.summary)

    env = isaac.make_env(plan.env_name, env_cfg)
    collector: Collector | None = None
    error: BaseException | None = None
    stop = GracefulStop(lambda: finish_after_current_attempt(env, generation))
    try:
        collector = Collector(staging, plan.paths, env_name=plan.env_name, mode=plan.mode, keep_failed=g.keep_failed,
                              config_text=to_toml(plan.cfg), next_attempt=plan.next_attempt,
                              num_subtasks=plan.num_subtasks, frames=frames, on_attempt=report,
                              worker=plan.worker, seed={"run_seed": seed, "seed_key": [plan.worker, plan.next_attempt]},
                              compression=g.dataset_compression)
        isaac.seed_everything(seed)
        env.reset()
        reset_counters(generation)
        components = generation.setup_async_generation(**variant.call("setup_async_generation").kwargs({**values,
                                                       "env": env, "success_term": success_term}))
        missing = [k for k in variant.components if k not in components]
        if missing:
            raise BackendUnavailable(f"setup_async_generation returned no {', '.join(missing)} "
                                     f"(API {variant.name}); mixed Isaac Lab install?")
        loop, tasks = components["event_loop"], list(components["tasks"])
        values.update(env=env, reset_queue=components.get("reset_queue"), action_queue=components["action_queue"],
                      info_pool=components["info_pool"], event_loop=loop)
        gathered = asyncio.gather(*tasks)
        values["gathered"] = gathered  # Isaac Lab 3.0's env_loop re-raises a dead generator's error from it
        live = collector
        watchdog = Watchdog(loop, tasks, lambda: read_counters(generation), on_progress=lambda _: live.collect(),
                            tracker=tracker, interval=watch_interval,
                            reraised="data_gen_tasks" in variant.call("env_loop").keywords)
        try:
            with stop.installed():
                watchdog.arm()
                try:
                    generation.env_loop(**variant.call("env_loop").kwargs(values))
                except WatchdogAbort as abort:
                    error = abort.cause
                except BaseException as exc:  # 3.0: env_loop re-raises a dead generator's exception
                    if watchdog.error is None or isinstance(exc, KeyboardInterrupt):
                        raise
                    log.info("Isaac Lab's env_loop re-raised the dead generator's %s (data_gen_tasks)",
                             type(exc).__name__)
                finally:
                    watchdog.disarm()
                # env_loop escapes a WatchdogAbort only because upstream's ``suppress(KeyboardInterrupt) and
                # inference_mode()`` drops the suppress; where that is fixed it returns quietly instead.
                error = error or watchdog.error
        finally:
            _cancel(gathered, loop)
    finally:
        env.close()  # ours on every release (3.0's env_loop leaves it open; 2.x's closes it too, idempotent)
        if collector is None:
            staging.remove()
        else:
            try:
                collector.collect()  # what the recorder exported since the last tick
                if frames is not None:
                    frames.drop_all()
            finally:
                collector.close()
            # Reached only when every staged attempt is in OUT; otherwise staging stays for inspection.
            staging.remove()
    summary = tracker.finish(collector.successes if collector is not None else None)
    if error is not None:
        raise error
    if stop.signum is not None:
        raise Interrupted(f"stopped by a signal after {summary.successes} successes in {summary.attempts} attempts; "
                          f"{plan.paths.dataset} is complete and valid, continue with --resume", stop.signum)
    if not summary.reached:
        raise GenerationStalled(f"Isaac Lab's env_loop ended (simulation stopped?) at {summary.successes} successes "
                                f"in {summary.attempts} attempts, short of {g.num_trials} {g.stop_on}")
    return summary
