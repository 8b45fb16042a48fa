"""A generation session: source, engine, generator and crash-safe outputs, one attempt at a time.

Everything an attempt produces is on disk when ``attempt()`` returns: a success is committed to
``name.hdf5`` (and its images renamed into place), a kept failure to ``name_failed.hdf5``, and one line
appended to ``name.metrics.jsonl``. Attempt ``i`` of worker ``w`` is seeded by
``SeedSequence(seed, spawn_key=(w, i))``, so a resumed run repeats exactly what an uninterrupted run
would have done.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable

import numpy as np

from mimicforge.backends.base import EpisodeRecorder, MimicEnv
from mimicforge.config import GenerationConfig, RunConfig, to_toml
from mimicforge.datasets import DatasetReader, load_source_dataset
from mimicforge.errors import ConfigError
from mimicforge.mimic.execution import ISAAC_PARITY, Refinements
from mimicforge.mimic.generator import MimicGenerator, MimicSettings
from mimicforge.outputs import (  # noqa: F401 (Resumed, demo_keys, scan_existing, write_text_atomic re-exported)
    MetricsRecord,
    OutputPaths,
    Resumed,
    RunOutputs,
    dataset_images,
    demo_keys,
    scan_existing,
    write_text_atomic,
)
from mimicforge.run.images import FrameSink, image_observations
from mimicforge.tasks import TaskSpec, task_for_env

log = logging.getLogger(__name__)

EnvFactory = Callable[[TaskSpec, RunConfig], MimicEnv]
Prepared = tuple[TaskSpec, str, MimicEnv, MimicGenerator]  # what ``prepare_engine`` returns


def attempt_seed(seed: int, worker: int, attempt: int) -> np.random.SeedSequence:
    return np.random.SeedSequence(seed, spawn_key=(worker, attempt))


def prepare_engine(cfg: RunConfig, env_factory: EnvFactory) -> Prepared:
    """Task, env name, a built engine and the generator on it: everything a run checks before its first
    attempt (source demos and their boundaries, task, engine, settings)."""
    g = cfg.generation
    if g.input_file is None:
        raise ConfigError("no input dataset given")
    with DatasetReader(g.input_file) as reader:
        env_name = g.task or reader.env_name
    task = task_for_env(env_name)
    source = load_source_dataset(g.input_file, task.term_signals(task.eef_names[0]))
    env = env_factory(task, cfg)
    try:
        settings = MimicSettings(select_source=g.select_source, selection_strategy=g.selection_strategy,
                                 nn_k=g.nn_k, action_noise=g.action_noise,
                                 num_interpolation_steps=g.num_interpolation_steps, refinements=refinements(g))
        generator = MimicGenerator(env, source, task, settings)
    except BaseException:
        env.close()
        raise
    return task, env_name, env, generator


def refinements(g: GenerationConfig) -> Refinements:
    """The generator's execution refinements from the settings (none at all in Isaac Lab parity mode)."""
    if g.isaac_parity:
        return ISAAC_PARITY
    return Refinements(settle_steps=g.settle_steps, noise_free_steps=g.noise_free_steps,
                       held_object_correction=g.held_object_correction, transit_clearance=g.transit_clearance,
                       lead_gain=g.lead_gain, transit_climb=min(g.transit_climb, g.transit_clearance))


def input_format(cfg: RunConfig) -> int:
    """The input's dataset format version: outputs are written in it (Isaac Lab 3.0 files stay XYZW)."""
    assert cfg.generation.input_file is not None
    with DatasetReader(cfg.generation.input_file) as reader:
        return reader.format_version


def check_run(cfg: RunConfig, env_factory: EnvFactory) -> None:
    """Fail fast, in this process, on anything every worker would fail on at start."""
    prepare_engine(cfg, env_factory)[2].close()


class Session:
    """Open outputs and engine for one run (or one worker's shard of it)."""

    def __init__(self, cfg: RunConfig, paths: OutputPaths, env_factory: EnvFactory, *,
                 worker: int = 0, engine_name: str = "mujoco", mode: str = "append",
                 first_attempt: int = 0, prepared: Prepared | None = None) -> None:
        g = cfg.generation
        self.cfg = cfg
        self.paths = paths
        self.worker = worker
        self.engine_name = engine_name
        # ``prepared``: ``prepare_engine``'s result for these settings, made earlier in this process
        self.task, env_name, self.env, self.generator = prepared or prepare_engine(cfg, env_factory)
        self._resources = contextlib.ExitStack()  # closes the env, writers and metrics log in reverse order
        self._resources.callback(self.env.close)
        try:
            resumed = scan_existing(paths).next_for(worker) if mode == "append" else 0
            self.next_attempt = max(first_attempt, resumed)
            sim_args = getattr(self.env, "sim_args", None)  # Isaac Lab 2.3 records these in env_args
            if callable(sim_args):
                sim_args = sim_args()
            cams = cfg.cameras
            if cams.image_obs and not hasattr(self.env, "render_visuomotor"):
                raise ConfigError(f"the {engine_name} engine cannot store image observations here; unset IMAGE_OBS "
                                  "(--image-obs), or generate with Isaac Lab's Visuomotor task")
            self.sink: FrameSink | None = None
            if cams.cameras:
                self.sink = FrameSink(dataset_images(cams.output_dir, paths.dataset), cams.cameras, cams.modalities)
            self.outputs = RunOutputs(paths, env_name=env_name, mode=mode, keep_failed=g.keep_failed,
                                      config_text=to_toml(cfg),
                                      env_args={"sim_args": dict(sim_args)} if sim_args else None,
                                      images=self.sink.folders if self.sink is not None else None,
                                      format_version=input_format(cfg), compression=g.dataset_compression)
            self._resources.callback(self.outputs.close)
            self.writer, self.failed_writer = self.outputs.writer, self.outputs.failed_writer
            self.metrics = self.outputs.metrics
            self.recorder = EpisodeRecorder(self.env)
        except BaseException:
            self.close()
            raise

    @property
    def successes(self) -> int:
        return self.writer.num_demos

    def attempt(self, stop_requested: Callable[[], bool] | None = None) -> MetricsRecord:
        """Run, record and persist one attempt. Raises TrialAborted (nothing kept) if asked to stop."""
        index = self.next_attempt
        seed = attempt_seed(self.cfg.generation.seed, self.worker, index)
        t0 = time.perf_counter()
        result = self.generator.run_trial(seed, self.recorder, stop_requested)
        assert result.episode is not None
        episode, sink = result.episode, self.sink
        if result.success and self.cfg.cameras.image_obs:
            episode["obs"].update(image_observations(self.env, episode, self.cfg.cameras.image_obs))
        record = MetricsRecord(
            attempt=index, success=result.success, steps=result.steps, seconds=0.0,
            source_demos=list(result.source_demos), failed_subtask=result.failed_subtask,
            engine=self.engine_name, worker=self.worker, source_steps=result.source_steps,
        )
        stage = None if sink is None else (lambda k: sink.write_episode(self.env, k, episode))
        self.outputs.commit_attempt(episode, record, stage_images=stage, started=t0)
        self.next_attempt = index + 1
        return record

    def close(self) -> None:
        self._resources.close()
