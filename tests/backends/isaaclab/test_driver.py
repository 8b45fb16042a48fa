"""The Isaac Lab driver end to end against a FAKE Isaac Sim / Isaac Lab boundary (``fake_isaac.FakeIsaac``).

Only the simulator side is faked (documented in ``fake_isaac``); staging, the crash-safe writer, metrics,
watchdog, signal handling and frame sorting run for real, on real files.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal

import h5py
import numpy as np
import pytest

from mimicforge.backends.isaaclab import driver
from mimicforge.datasets import DatasetWriter, validate
from mimicforge.errors import BackendUnavailable, GenerationStalled, Interrupted, OutputExistsError
from mimicforge.outputs import MetricsRecord, OutputPaths, read_metrics
from tests.backends.isaaclab.conftest import run
from tests.backends.isaaclab.fake_isaac import Attempt, FakeIsaac
from tests.datasets.episodes import make_episode

pytestmark = pytest.mark.timeout(60)


def demo_attempts(path) -> list[int]:
    """The fake's attempt number of every demo (it writes it into actions[:, 0])."""
    with h5py.File(path, "r") as f:
        names = sorted(f["data"], key=lambda n: int(n.split("_")[1]))
        return [int(f["data"][n]["actions"][0, 0]) for n in names]


@pytest.mark.parametrize("api", ["3.0", "2.3", "2.0"])
def test_generates_to_the_goal_on_every_api_generation(make_cfg, api):
    cfg = make_cfg(num_trials=2, keep_failed=True)
    isaac = FakeIsaac(api, [Attempt(success=False), Attempt(steps=5), Attempt(steps=6)])
    summary = run(cfg, isaac)
    paths = OutputPaths.beside(cfg.generation.output_file)
    assert (summary.successes, summary.attempts, summary.reached) == (2, 3, True)
    assert demo_attempts(paths.dataset) == [1, 2]
    assert demo_attempts(paths.failed) == [0]
    assert validate(paths.dataset) == [] and validate(paths.failed) == []
    with h5py.File(paths.dataset, "r") as f:
        assert [int(f["data"][n].attrs["num_samples"]) for n in ("demo_0", "demo_1")] == [5, 6]
        assert int(f["data"].attrs["total"]) == 11
        args = json.loads(f["data"].attrs["env_args"])
        assert args["env_name"] == "Isaac-Stack-Cube-Franka-IK-Rel-Mimic-v0" and args["sim_args"]["decimation"] == 5
        assert "mimicforge_config" in f["data"].attrs
    assert not driver.Staging.beside(paths).root.exists()  # staging removed after a clean run
    assert isaac.env is not None and isaac.env.closed >= 1


def test_dataset_compression_off_reaches_the_isaac_engine_s_outputs(make_cfg):
    compression = {}
    for on in (True, False):
        cfg = make_cfg(num_trials=1, keep_failed=True, dataset_compression=on,
                       output_file=str(make_cfg().generation.output_file.with_name(f"gen_{on}.hdf5")))
        run(cfg, FakeIsaac("2.3", [Attempt(success=False), Attempt(steps=5)]))
        paths = OutputPaths.beside(cfg.generation.output_file)
        found = set()
        for path in (paths.dataset, paths.failed):
            with h5py.File(path, "r") as f:
                f.visititems(lambda k, o: found.add(o.compression) if isinstance(o, h5py.Dataset) else None)
            assert validate(path) == []
        compression[on] = found
    assert compression == {True: {"gzip"}, False: {None}}


def test_stop_on_attempts_and_failures_not_kept(make_cfg):
    cfg = make_cfg(num_trials=3, stop_on="attempts")
    isaac = FakeIsaac("2.3", [Attempt(success=False), Attempt(), Attempt(success=False), Attempt()])
    summary = run(cfg, isaac)
    paths = OutputPaths.beside(cfg.generation.output_file)
    assert (summary.attempts, summary.successes) == (3, 1)
    assert not paths.failed.exists()
    assert [r["success"] for r in read_metrics(paths.metrics)] == [False, True, False]
    assert isaac.env.cfg.datagen_config.generation_guarantee is False


def test_settings_reach_the_env_config(make_cfg):
    cfg = make_cfg(seed=7, select_source="per_subtask", nn_k=5, action_noise=0.01, num_interpolation_steps=3)
    isaac = FakeIsaac("2.3")
    run(cfg, isaac)
    env_cfg = isaac.env.cfg
    dg = env_cfg.datagen_config
    seed = driver.run_seed(7, 0, 0)  # SeedSequence(SEED, spawn_key=(worker 0, first attempt 0))
    assert (dg.seed, dg.generation_select_src_per_subtask, dg.generation_select_src_per_arm) == (seed, True, True)
    assert env_cfg.recorders.dataset_export_mode == "DatasetExportMode.EXPORT_SUCCEEDED_FAILED_IN_SEPARATE_FILES"
    sub = env_cfg.subtask_configs["franka"][0]
    assert (sub.selection_strategy_kwargs["nn_k"], sub.action_noise, sub.num_interpolation_steps) == (5, 0.01, 3)
    assert ("seed_everything", seed) in isaac.log
    launch = dict(isaac.log)["launch_app"]
    assert launch == {"headless": True, "enable_cameras": False, "device": "cpu"}


def test_randomization_settings_reach_the_cube_reset_event(make_cfg):
    cfg = make_cfg()
    cfg = dataclasses.replace(cfg, randomization=dataclasses.replace(
        cfg.randomization, cube_x=(0.45, 0.55), cube_yaw=(-0.5, 0.5), min_separation=0.12))
    isaac = FakeIsaac("2.3")
    run(cfg, isaac)
    params = isaac.env.cfg.events.randomize_cube_positions.params
    assert params["pose_range"] == {"x": (0.45, 0.55), "y": (-0.10, 0.10), "z": (0.0203, 0.0203), "yaw": (-0.5, 0.5)}
    assert params["min_separation"] == 0.12


def test_counters_left_by_a_previous_run_are_reset(make_cfg):
    isaac = FakeIsaac("2.3")
    gen = isaac.generation
    gen.num_success, gen.num_failures, gen.num_attempts = 50, 3, 53  # as a finished run in the same kernel leaves them
    summary = run(make_cfg(num_trials=3), isaac)
    # Without the reset env_loop would stop after the first attempt (53 >= 3).
    assert summary.successes == 3 and gen.num_success == 3


def test_mixed_install_is_refused_before_the_env_is_made(make_cfg):
    isaac = FakeIsaac("2.0", generator_api="2.3")
    with pytest.raises(BackendUnavailable, match="deadlock"):
        run(make_cfg(), isaac)
    assert not isaac.called("make_env")


def test_existing_output_is_never_truncated(make_cfg, real_dataset):
    cfg = make_cfg(num_trials=2)
    paths = OutputPaths.beside(cfg.generation.output_file)
    paths.dataset.parent.mkdir(parents=True)
    with DatasetWriter(paths.dataset, env_name="Isaac-Stack-Cube-Franka-IK-Rel-Mimic-v0") as w:
        w.write_demo(make_episode(9, 123), success=True)
    before = paths.dataset.read_bytes()

    isaac = FakeIsaac("2.3")
    with pytest.raises(OutputExistsError):
        run(cfg, isaac)
    assert not isaac.called("make_env") and paths.dataset.read_bytes() == before

    resumed = dataclasses.replace(cfg, on_existing="resume")
    summary = run(resumed, FakeIsaac("2.3"))
    assert (summary.successes, summary.new_successes) == (2, 1)  # NUM_TRIALS counts the demo already there
    with h5py.File(paths.dataset, "r") as f:
        assert list(f["data"]) == ["demo_0", "demo_1"]
        assert np.array_equal(f["data/demo_0/actions"][()], make_episode(9, 123)["actions"])

    overwritten = dataclasses.replace(cfg, on_existing="overwrite")
    run(overwritten, FakeIsaac("2.3"))
    assert demo_attempts(paths.dataset) == [0, 1]


@pytest.mark.parametrize("api", ["2.3", "3.0"])
def test_dead_generator_task_becomes_generation_stalled(make_cfg, capsys, caplog, api):
    cfg = make_cfg(num_trials=5, keep_failed=True)
    isaac = FakeIsaac(api, [Attempt(), Attempt(error="got empty subtasks!")])
    with caplog.at_level("INFO"), pytest.raises(GenerationStalled,
                                                match="data generator for env 0 died with RuntimeError: got empty"):
        run(cfg, isaac)
    # 3.0's env_loop watches the tasks itself (data_gen_tasks) and re-raises; on 2.x the watchdog aborts it
    assert ("re-raised the dead generator's RuntimeError" in caplog.text) == (api == "3.0")
    paths = OutputPaths.beside(cfg.generation.output_file)
    assert demo_attempts(paths.dataset) == [0]  # the attempt that finished is saved
    assert isaac.env.closed >= 1  # the driver closed what env_loop could not
    assert "got empty subtasks!" in capsys.readouterr().err  # Isaac's own traceback stays visible


@pytest.mark.parametrize("api", ["3.0", "2.3"])
def test_dead_task_is_reported_when_upstream_fixes_its_suppress_bug(make_cfg, api):
    """env_loop that really swallows KeyboardInterrupt (upstream's ``suppress(...) and ...`` fixed) returns
    quietly after the watchdog's abort; the driver still reports the dead task, not "env_loop ended"."""
    isaac = FakeIsaac(api, [Attempt(), Attempt(error="got empty subtasks!")], suppress_fixed=True)
    with pytest.raises(GenerationStalled, match="data generator for env 0 died with RuntimeError: got empty"):
        run(make_cfg(num_trials=5), isaac)
    assert isaac.env.closed >= 1


def test_dead_task_on_the_legacy_api_too(make_cfg):
    isaac = FakeIsaac("2.0", [Attempt(error="boom")])
    with pytest.raises(GenerationStalled, match="died with RuntimeError: boom"):
        run(make_cfg(), isaac)


def test_consecutive_failures_stop_an_endless_retry(make_cfg):
    cfg = make_cfg(num_trials=2, max_consecutive_failures=4)
    isaac = FakeIsaac("2.3", default=Attempt(success=False))
    with pytest.raises(GenerationStalled, match="4 attempts in a row failed"):
        run(cfg, isaac)
    assert len(list(read_metrics(OutputPaths.beside(cfg.generation.output_file).metrics))) == 4


def test_an_attempt_that_never_ends_hits_the_stall_timeout(make_cfg):
    isaac = FakeIsaac("2.3", [Attempt(), Attempt(endless=True)])
    with pytest.raises(GenerationStalled, match="no generation attempt finished in 0 s"):
        run(make_cfg(num_trials=3), isaac, stall_timeout=0.3)


def test_sigterm_finishes_the_current_attempt_then_stops(make_cfg):
    cfg = make_cfg(num_trials=10, keep_failed=True)

    def term_once(env):
        if env.common_step_counter == 6:  # attempt 1 (of 4 steps each) is under way
            os.kill(os.getpid(), signal.SIGTERM)

    previous = signal.getsignal(signal.SIGTERM)
    isaac = FakeIsaac("2.3", [Attempt(), Attempt(success=False), Attempt()], on_step=term_once)
    with pytest.raises(Interrupted) as info:
        run(cfg, isaac)
    assert info.value.signum == signal.SIGTERM and info.value.exit_code == 143
    paths = OutputPaths.beside(cfg.generation.output_file)
    assert demo_attempts(paths.dataset) == [0]
    assert demo_attempts(paths.failed) == [1]  # the attempt in progress was finished and saved
    assert isaac.script.taken <= 3  # nothing after it was completed
    assert validate(paths.dataset) == []
    assert signal.getsignal(signal.SIGTERM) is previous  # the handler before the run is back


def test_second_sigterm_stops_at_once(make_cfg):
    def term_twice(env):
        if env.common_step_counter in (2, 3):
            os.kill(os.getpid(), signal.SIGTERM)

    isaac = FakeIsaac("2.3", default=Attempt(steps=50), on_step=term_twice)
    with pytest.raises(Interrupted, match="second SIGTERM"):
        run(make_cfg(num_trials=10), isaac)
    assert isaac.env.closed >= 1
    assert h5py.is_hdf5(OutputPaths.beside(make_cfg().generation.output_file).dataset)


def test_metrics_have_the_embedded_engines_schema(make_cfg):
    cfg = make_cfg(num_trials=2, keep_failed=True)
    run(cfg, FakeIsaac("2.3", [Attempt(steps=3), Attempt(success=False, steps=4), Attempt(steps=5)]))
    lines = OutputPaths.beside(cfg.generation.output_file).metrics.read_text().splitlines()
    schema = {f.name for f in dataclasses.fields(MetricsRecord)} - {"extra"}
    records = [json.loads(line) for line in lines]
    seeding = ("run_seed", "seed_key")  # the Isaac Lab engine's extra: how its Kit process was seeded
    assert all(set(r) == schema | set(seeding) for r in records)
    assert all(r["seed_key"] == [0, 0] and r["run_seed"] == driver.run_seed(1, 0, 0) for r in records)
    assert [(r["attempt"], r["success"], r["steps"], r["demo"]) for r in records] == [
        (0, True, 3, "demo_0"), (1, False, 4, "demo_0"), (2, True, 5, "demo_1")]
    for r in records:
        assert r["engine"] == "isaaclab" and r["worker"] == 0 and r["source_demos"] == [None] * 4
        assert isinstance(r["seconds"], float) and r["seconds"] >= 0 and r["failed_subtask"] is None
    # the same record, built by the class both engines use, serializes to the same line
    fields = {k: v for k, v in records[0].items() if k not in seeding}
    assert MetricsRecord(**fields, extra={k: records[0][k] for k in seeding}).to_json() == lines[0]


def test_resumed_run_continues_the_attempt_numbers(make_cfg):
    cfg = make_cfg(num_trials=1)
    run(cfg, FakeIsaac("2.3", [Attempt(success=False), Attempt()]))
    more = dataclasses.replace(cfg, on_existing="resume", generation=dataclasses.replace(cfg.generation, num_trials=2))
    run(more, FakeIsaac("2.3"))
    records = list(read_metrics(OutputPaths.beside(cfg.generation.output_file).metrics))
    assert [r["attempt"] for r in records] == [0, 1, 2]


def test_goal_already_reached_does_not_start_anything(make_cfg):
    cfg = make_cfg(num_trials=1)
    run(cfg, FakeIsaac("2.3"))
    again = FakeIsaac("2.3")
    summary = run(dataclasses.replace(cfg, on_existing="resume"), again)
    assert summary.reached and summary.new_attempts == 0 and not again.called("make_env")
