"""FAKE Isaac Sim / Isaac Lab at the driver's boundary (``IsaacBoundary``), for the driver tests.

NVIDIA's real ``isaaclab_mimic`` runs under the driver in ``test_real_mimic.py`` / ``test_real_kernel.py`` (the
Kit-free ``harness``: the 2.3.2.post1 wheel on the twin). This fake stays for what the harness cannot show:
the other API generations (2.0's four-argument ``env_loop``, 3.0), a mixed install, scripted attempts
(an attempt that never ends, endless failures, a SIGTERM at an exact step, a second SIGTERM), the Blueprint's
camera terms and frame files (the twin env renders nothing for Isaac Lab's recorder), and the order of Kit's
shutdown after the outputs are closed.

Only Isaac Sim, Isaac Lab and ``isaaclab_mimic`` are replaced here; everything on mimicforge's side (API
tables, staging, crash-safe writer, watchdog, signal handling, frame sorting) is the real code. The fake
re-implements, from the documented behaviour of the real thing (``shared/docs/isaaclab-mimic-spec.md``
§1.1-1.5, §1.8, §3.7), exactly what the driver depends on:

- a generation module with ``setup_env_config`` / ``setup_async_generation`` / ``env_loop`` in either API
  generation (2.3: reset queue, five-argument ``env_loop``; 2.0: four arguments, the generator resets the
  env itself), and module-global attempt counters that the generator tasks increment and nobody resets;
- ``env_loop`` as a synchronous pump on the generators' event loop: ``run_until_complete(sleep(0))`` until
  every env has queued an action, then one step; after each finished attempt it re-reads
  ``datagen_config.generation_guarantee`` / ``generation_num_trials``; it closes the env when it ends, and
  spins for ever when a generator task is dead;
- the recorder: ``<dir>/<name>.hdf5`` and ``<name>_failed.hdf5`` opened with mode ``"w"`` (truncating)
  when the env is created, one demo appended and flushed per export, ``sim_args`` added to ``env_args``;
- the Blueprint camera term: ``{image_path}_{data_type}_trial_{S}_tile_{e}_step_{n}.png`` written on every
  observation compute (twice per step, and at reset), ``S`` = successes exported so far.

Each attempt follows a script (``Attempt``), so tests decide which succeed, fail, raise or never end. A
frame file's content says which attempt and local step it shows (``attempt=3 t=5``), and every exported
episode's ``actions[:, 0]`` holds its attempt number, so tests can trace what ended up where.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import h5py

from mimicforge.backends.isaaclab.api import Signature, signature_of
from tests.datasets.episodes import make_episode


@dataclass
class Attempt:
    steps: int = 4
    success: bool = True
    error: str | None = None  # the generator raises this after one step
    endless: bool = False  # the attempt never ends


class Script:
    def __init__(self, attempts: Sequence[Attempt], default: Attempt | None = None) -> None:
        self.attempts = list(attempts)
        self.default = default or Attempt()
        self.taken = 0

    def next(self) -> Attempt:
        a = self.attempts[self.taken] if self.taken < len(self.attempts) else self.default
        self.taken += 1
        return a


# ------------------------------------------------------------------------------------------- configs
@dataclass
class DataGenConfig:
    generation_guarantee: bool = True
    generation_keep_failed: bool = False
    generation_num_trials: int = 10
    seed: int = 1
    generation_select_src_per_subtask: bool = False


@dataclass
class DataGenConfig23(DataGenConfig):
    generation_select_src_per_arm: bool = False


@dataclass
class SubTaskConfig:
    selection_strategy: str = "nearest_neighbor_object"
    selection_strategy_kwargs: dict = field(default_factory=lambda: {"nn_k": 3})
    action_noise: float = 0.03
    num_interpolation_steps: int = 5


@dataclass
class ImageTerm:
    params: dict


def blueprint_observations() -> SimpleNamespace:
    policy = SimpleNamespace(eef_pos=SimpleNamespace(params={}))
    rgb = SimpleNamespace(**{
        f"{cam}_{short}": ImageTerm({"sensor_cfg": cam, "data_type": mod, "image_path": cam,
                                     "normalize": mod == "normals", "save_image_to_file": True})
        for cam in ("table_cam", "table_high_cam")
        for short, mod in (("normals", "normals"), ("segmentation", "semantic_segmentation"))
    })
    return SimpleNamespace(policy=policy, rgb_camera=rgb)


# ------------------------------------------------------------------------------------------- env
class FakeEnv:
    """An unwrapped Mimic env: recorder files, step counter, camera frames."""

    def __init__(self, env_name: str, cfg: Any, num_envs: int, on_step: Callable[[FakeEnv], None] | None) -> None:
        self.cfg = cfg
        self.unwrapped = self
        self.num_envs = num_envs
        self.device = "cpu"
        self.env_name = env_name
        self.on_step = on_step
        self.common_step_counter = 0
        self.exported_successes = 0
        self.stopped = False
        self.sim = SimpleNamespace(is_stopped=lambda: self.stopped)
        self.closed = 0
        self.resets = 0
        self.attempt_of: dict[int, int] = {}
        self.local_step: dict[int, int] = {}
        rec = cfg.recorders
        d = Path(rec.dataset_export_dir_path)
        d.mkdir(parents=True, exist_ok=True)
        self.files: dict[bool, h5py.File] = {}
        for success, suffix in ((True, ""), (False, "_failed")):
            f = h5py.File(d / f"{rec.dataset_filename}{suffix}.hdf5", "w")  # truncates, as Isaac Lab's recorder
            if getattr(cfg, "dataset_format_version", 0):
                f.attrs["format_version"] = cfg.dataset_format_version  # Isaac Lab 3.0's recorder: XYZW
            data = f.create_group("data")
            data.attrs["total"] = 0
            data.attrs["env_args"] = json.dumps({"env_name": env_name, "type": 2})
            self.files[success] = f

    # observation compute: the Blueprint camera term saves one file per requested image, per env tile
    def _frames(self) -> None:
        terms = getattr(getattr(self.cfg.observations, "rgb_camera", None), "__dict__", {})
        for term in terms.values():
            p = term.params
            if not p.get("save_image_to_file"):
                continue
            for tile in range(self.num_envs):
                path = Path(f"{p['image_path']}_{p['data_type']}_trial_{self.exported_successes}_tile_{tile}"
                            f"_step_{self.common_step_counter}.png")
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(f"attempt={self.attempt_of.get(tile, -1)} t={self.local_step.get(tile, 0)}")

    def reset(self, env_ids: Sequence[int] | None = None) -> None:
        self.resets += 1
        for e in (range(self.num_envs) if env_ids is None else env_ids):
            self.local_step[int(e)] = 0
        self._frames()

    def begin_attempt(self, env_id: int, attempt: int) -> None:
        self.attempt_of[env_id] = attempt
        self.local_step[env_id] = 0

    def step(self, actions: dict[int, Any]) -> None:
        if self.closed:
            raise AttributeError("'FakeEnv' has no attribute 'scene' (env closed)")
        self.common_step_counter += 1
        for e in actions:
            self.local_step[e] = self.local_step.get(e, 0) + 1
        self._frames()
        self._frames()  # Isaac computes observations twice per step when recorders are active
        if self.on_step is not None:
            self.on_step(self)

    def export(self, env_id: int, attempt: int, steps: int, success: bool) -> None:
        f = self.files[success]
        data = f["data"]
        args = json.loads(data.attrs["env_args"])
        args["sim_args"] = {"dt": 0.01, "decimation": 5, "render_interval": 2, "num_envs": self.num_envs}
        data.attrs["env_args"] = json.dumps(args)
        ep = make_episode(steps, attempt)
        ep["actions"][:, 0] = attempt
        g = data.create_group(f"demo_{len(data)}")

        def put(group: h5py.Group, tree: dict) -> None:
            for k, v in tree.items():
                if isinstance(v, dict):
                    put(group.create_group(k), v)
                else:
                    group.create_dataset(k, data=v, compression="gzip")

        put(g, ep)
        g.attrs["num_samples"] = steps
        g.attrs["success"] = success
        data.attrs["total"] = int(data.attrs["total"]) + steps
        f.flush()
        if success:
            self.exported_successes += 1

    def close(self) -> None:
        if not self.closed:
            for f in self.files.values():
                f.close()
        self.closed += 1


# ------------------------------------------------------------------------------------------- generation module
def make_generation_module(api: str, script: Script, suppress_fixed: bool = False) -> ModuleType:
    """``isaaclab_mimic.datagen.generation`` of API generation ``"3.0"`` (``data_gen_tasks``, leaves the env
    open), ``"2.3"`` (reset queue) or ``"2.0"`` (the blueprint image's snapshot). ``suppress_fixed``: env_loop
    swallows KeyboardInterrupt, as upstream's code would with its ``suppress(...) and ...`` bug fixed."""
    mod = ModuleType("isaaclab_mimic.datagen.generation")
    mod.num_success = mod.num_failures = mod.num_attempts = 0
    mod.input_files = []

    async def run_data_generator(env: FakeEnv, env_id: int, reset_q: asyncio.Queue | None,
                                 action_q: asyncio.Queue) -> None:
        while True:
            attempt = script.next()
            number = script.taken - 1
            try:
                env.begin_attempt(env_id, number)  # the reset frame already shows this attempt's initial state
                if reset_q is not None:
                    await reset_q.put(env_id)
                    await reset_q.join()
                else:
                    env.reset(env_ids=[env_id])
                k = 0
                while attempt.endless or k < attempt.steps:
                    if attempt.error and k == 1:
                        raise RuntimeError(attempt.error)
                    await action_q.put((env_id, f"action {number}.{k}"))
                    await action_q.join()
                    k += 1
                env.export(env_id, number, attempt.steps, attempt.success)
            except Exception:
                traceback.print_exc()  # as Isaac Lab 2.3 does, then the task dies
                raise
            if attempt.success:
                mod.num_success += 1
            else:
                mod.num_failures += 1
            mod.num_attempts += 1

    def config(env_name: str, output_dir: str, output_file_name: str, num_envs: int, device: str,
               generation_num_trials: int | None) -> tuple[Any, Any]:
        dg = DataGenConfig23() if api in ("2.3", "3.0") else DataGenConfig()
        dg.generation_keep_failed = True  # Franka cfgs keep failures
        if generation_num_trials is not None:
            dg.generation_num_trials = generation_num_trials
        cfg = SimpleNamespace(
            env_name=env_name, datagen_config=dg, num_envs=num_envs, device=device,
            recorders=SimpleNamespace(dataset_export_dir_path=output_dir, dataset_filename=output_file_name,
                                      dataset_export_mode=2),
            subtask_configs={"franka": [SubTaskConfig() for _ in range(4)]},
            events=SimpleNamespace(randomize_cube_positions=SimpleNamespace(params={
                "pose_range": {"x": (0.4, 0.6), "y": (-0.10, 0.10), "z": (0.0203, 0.0203), "yaw": (-1.0, 1, 0)},
                "min_separation": 0.1, "asset_cfgs": ["cube_1", "cube_2", "cube_3"]})),
            observations=blueprint_observations() if "Blueprint" in env_name else SimpleNamespace(
                policy=SimpleNamespace()),
            dataset_format_version=1 if api == "3.0" else 0,
        )
        return cfg, "success_term"

    def start(env: FakeEnv, num_envs: int, input_file: str, success_term: Any, with_reset_queue: bool) -> dict:
        assert Path(input_file).is_file()
        mod.input_files.append(input_file)
        loop = asyncio.get_event_loop()
        reset_q = asyncio.Queue() if with_reset_queue else None
        action_q: asyncio.Queue = asyncio.Queue()
        tasks = [loop.create_task(run_data_generator(env, i, reset_q, action_q)) for i in range(num_envs)]
        out = {"tasks": tasks, "event_loop": loop, "action_queue": action_q, "info_pool": "pool"}
        if with_reset_queue:
            out["reset_queue"] = reset_q
        return out

    def loop_impl(env: FakeEnv, reset_q: asyncio.Queue | None, action_q: asyncio.Queue,
                  loop: asyncio.AbstractEventLoop, data_gen_tasks: asyncio.Future | None = None) -> None:
        with contextlib.suppress(KeyboardInterrupt) if suppress_fixed else contextlib.nullcontext():
            pump(env, reset_q, action_q, loop, data_gen_tasks)
        if api != "3.0":
            env.close()  # 2.x closes the env; 3.0 leaves that to the caller

    def pump(env: FakeEnv, reset_q: asyncio.Queue | None, action_q: asyncio.Queue,
             loop: asyncio.AbstractEventLoop, data_gen_tasks: asyncio.Future | None) -> None:
        prev = 0
        while True:
            while action_q.qsize() != env.num_envs:
                loop.run_until_complete(asyncio.sleep(0))
                if data_gen_tasks is not None and data_gen_tasks.done():  # 3.0, checked while it waits
                    data_gen_tasks.result()  # re-raise a dead generator's exception
                    return
                while reset_q is not None and not reset_q.empty():
                    env.reset(env_ids=[reset_q.get_nowait()])
                    reset_q.task_done()
            actions = {}
            for _ in range(env.num_envs):
                env_id, action = loop.run_until_complete(action_q.get())
                actions[env_id] = action
            env.step(actions)
            for _ in range(env.num_envs):
                action_q.task_done()
            if prev != mod.num_attempts:
                prev = mod.num_attempts
                dg = env.cfg.datagen_config
                done = mod.num_success if dg.generation_guarantee else mod.num_attempts
                if done >= dg.generation_num_trials:
                    break
            if env.sim.is_stopped():
                break

    if api == "3.0":
        def setup_env_config(env_name, output_dir, output_file_name, num_envs, device,  # type: ignore[no-untyped-def]
                             generation_num_trials=None, recorder_cfg=None, dataset_compression=True):
            return config(env_name, output_dir, output_file_name, num_envs, device, generation_num_trials)

        def setup_async_generation(env, num_envs, input_file, success_term, pause_subtask=False,  # type: ignore[no-untyped-def]
                                   motion_planners=None):
            return start(env, num_envs, input_file, success_term, True)

        def env_loop(env, env_reset_queue, env_action_queue, shared_datagen_info_pool, asyncio_event_loop,  # type: ignore[no-untyped-def]
                     data_gen_tasks=None):
            loop_impl(env, env_reset_queue, env_action_queue, asyncio_event_loop, data_gen_tasks)
    elif api == "2.3":
        def setup_env_config(env_name, output_dir, output_file_name, num_envs, device,  # type: ignore[no-untyped-def]
                             generation_num_trials=None, recorder_cfg=None):
            return config(env_name, output_dir, output_file_name, num_envs, device, generation_num_trials)

        def setup_async_generation(env, num_envs, input_file, success_term, pause_subtask=False,  # type: ignore[no-untyped-def]
                                   motion_planners=None):
            return start(env, num_envs, input_file, success_term, True)

        def env_loop(env, env_reset_queue, env_action_queue, shared_datagen_info_pool, asyncio_event_loop):  # type: ignore[no-untyped-def]
            loop_impl(env, env_reset_queue, env_action_queue, asyncio_event_loop)
    else:
        def setup_env_config(env_name, output_dir, output_file_name, num_envs, device,  # type: ignore[no-untyped-def]
                             generation_num_trials=None):
            return config(env_name, output_dir, output_file_name, num_envs, device, generation_num_trials)

        def setup_async_generation(env, num_envs, input_file, success_term, pause_subtask=False):  # type: ignore[no-untyped-def]
            return start(env, num_envs, input_file, success_term, False)

        def env_loop(env, env_action_queue, shared_datagen_info_pool, asyncio_event_loop):  # type: ignore[no-untyped-def]
            loop_impl(env, None, env_action_queue, asyncio_event_loop)

    mod.setup_env_config = setup_env_config
    mod.setup_async_generation = setup_async_generation
    mod.env_loop = env_loop
    return mod


class _Generator23:
    async def generate(self, env_id, success_term, env_reset_queue=None, env_action_queue=None,  # type: ignore[no-untyped-def]
                       pause_subtask=False, export_demo=True, motion_planner=None):
        raise NotImplementedError


class _Generator20:
    async def generate(self, env_id, success_term, env_action_queue=None, select_src_per_subtask=False,  # type: ignore[no-untyped-def]
                       transform_first_robot_pose=False, interpolate_from_last_target_pose=True,
                       pause_subtask=False, export_demo=True):
        raise NotImplementedError


# ------------------------------------------------------------------------------------------- boundary
class FakeIsaac:
    """Implements ``IsaacBoundary``; records what the driver asked of it."""

    def __init__(self, api: str = "2.3", attempts: Sequence[Attempt] = (), *, default: Attempt | None = None,
                 generator_api: str | None = None, on_step: Callable[[FakeEnv], None] | None = None,
                 suppress_fixed: bool = False) -> None:
        self.api = api
        self.script = Script(attempts, default)
        self.generation = make_generation_module(api, self.script, suppress_fixed)
        self.generator_api = generator_api or api
        self.on_step = on_step
        self.env: FakeEnv | None = None
        self.log: list[tuple[str, Any]] = []

    def launch_app(self, *, headless: bool, enable_cameras: bool, device: str) -> Any:
        self.log.append(("launch_app", {"headless": headless, "enable_cameras": enable_cameras, "device": device}))
        return SimpleNamespace(name="fake SimulationApp")

    def close_app(self, app: Any, exit_code: int) -> None:
        self.log.append(("close_app", exit_code))

    def load_generation(self) -> ModuleType:
        self.log.append(("load_generation", None))
        return self.generation

    def generate_signature(self) -> Signature | None:
        cls = _Generator20 if self.generator_api == "2.0" else _Generator23
        return signature_of(cls.generate, skip_self=True)

    def source_of(self, module: str) -> str | None:
        """This fake's generation API written out as source text, for ``kit.launch``'s pre-Kit variant pick."""
        def text(name: str, func: Any, skip_self: bool = False) -> str:
            sig = signature_of(func, skip_self=skip_self)
            args = ", ".join(p.name if p.required else f"{p.name}=None" for p in sig)
            return f"def {name}({'self, ' if skip_self else ''}{args}):\n    pass\n"
        if module == "isaaclab_mimic.datagen.generation":
            return "".join(text(f, getattr(self.generation, f)) for f in ("setup_env_config",
                                                                          "setup_async_generation", "env_loop"))
        if module == "isaaclab_mimic.datagen.data_generator":
            cls = _Generator20 if self.generator_api == "2.0" else _Generator23
            body = text("generate", cls.generate, skip_self=True).replace("\n", "\n    ")
            return f"class DataGenerator:\n    {body}\n"
        return None

    def make_env(self, env_name: str, env_cfg: Any) -> FakeEnv:
        self.log.append(("make_env", env_name))
        self.env = FakeEnv(env_name, env_cfg, env_cfg.num_envs, self.on_step)
        return self.env

    def export_mode(self, name: str) -> Any:
        return f"DatasetExportMode.{name}"

    def seed_everything(self, seed: int) -> None:
        self.log.append(("seed_everything", seed))

    def called(self, name: str) -> bool:
        return any(n == name for n, _ in self.log)
