"""Isaac Lab workers without Kit: device placement, the settings each Kit worker gets, the seeds, and the whole
run configuration reaching the plan child of Isaac Lab 3.0 (resume, overwrite, the notebook's default)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mimicforge.backends.isaaclab import driver, kit, workers
from mimicforge.config import RunConfig, from_toml_text, load_config, to_toml
from mimicforge.datasets import DatasetWriter
from mimicforge.errors import ConfigError, MimicforgeError
from mimicforge.outputs import OutputPaths, dataset_images
from mimicforge.run import kit_workers

pytestmark = pytest.mark.timeout(120)
ENV_NAME = "Isaac-Stack-Cube-Franka-IK-Rel-Mimic-v0"


# ------------------------------------------------------------------------------------------ devices
def test_visible_gpus_follow_cuda_visible_devices_then_the_driver(tmp_path):
    assert workers.visible_gpus({"CUDA_VISIBLE_DEVICES": "2,3"}, tmp_path) == 2
    assert workers.visible_gpus({"CUDA_VISIBLE_DEVICES": ""}, tmp_path) == 0
    assert workers.visible_gpus({"CUDA_VISIBLE_DEVICES": "-1"}, tmp_path) == 0
    for bus in ("0000:07:00.0", "0000:0a:00.0", "0000:0b:00.0"):
        (tmp_path / bus).mkdir()
    assert workers.visible_gpus({}, tmp_path) == 3
    assert workers.visible_gpus({}, tmp_path / "absent") == 0


@pytest.mark.parametrize(("env", "gpus", "expected"), [
    ({}, 4, ["cuda:0", "cuda:1", "cuda:2"]),  # default: every GPU seen, one worker each
    ({}, 2, ["cuda:0", "cuda:1", "cuda:0"]),  # more workers than GPUs: they cycle
    ({}, 0, ["cuda:0", "cuda:0", "cuda:0"]),  # no GPU found: DEVICE for all
    ({"DEVICE": "cpu"}, 4, ["cpu", "cpu", "cpu"]),  # DEVICE=cpu: never a GPU
    ({"DEVICE": "cuda:1"}, 0, ["cuda:1", "cuda:1", "cuda:1"]),
    ({"DEVICES": "cuda:0"}, 4, ["cuda:0", "cuda:0", "cuda:0"]),  # one GPU shared on purpose
    ({"DEVICES": "cuda:1,cuda:3"}, 4, ["cuda:1", "cuda:3", "cuda:1"]),
])
def test_worker_devices(env, gpus, expected):
    assert workers.worker_devices(load_config(env=env), 3, gpus=gpus) == expected


def test_a_ray_task_runs_kit_on_the_gpu_ray_assigned_with_every_gpu_visible():
    env = {"CUDA_VISIBLE_DEVICES": "3", "PATH": "/bin"}
    assert workers.ray_device("cuda:0", [3], env) == ("cuda:3", {"PATH": "/bin"})
    assert workers.ray_device("cuda:0", [], env) == ("cuda:0", env)  # no GPU in the task: DEVICE
    assert workers.ray_device("cpu", [3], env) == ("cpu", env)


def test_bad_devices_are_refused_with_the_value_quoted():
    with pytest.raises(ConfigError, match=r"DEVICES='cuda:0,gpu1': expected a comma-separated list of cpu, cuda or "
                                          r"cuda:N .*e.g. DEVICES=cuda:0,cuda:1"):
        load_config(env={"DEVICES": "cuda:0,gpu1"})


def test_each_kit_worker_gets_its_shard_continued_as_one_process(real_dataset, tmp_path):
    cfg = load_config(env={}, flags={"input_file": str(real_dataset), "output_file": str(tmp_path / "gen.hdf5"),
                                     "output_dir": str(tmp_path / "out"), "num_trials": 7, "workers": 3,
                                     "on_existing": "overwrite", "engine": "isaaclab"})
    shard = kit_workers.shard_settings(cfg, 2, None)
    assert shard.generation.output_file == tmp_path / "gen.shards" / "worker_2.hdf5"
    # frames staged in the dataset's own image folder: <output_dir>/gen/.shards/worker_2 (the shard's own folder)
    assert shard.cameras.output_dir == tmp_path / "out" / "gen" / ".shards"
    assert dataset_images(shard.cameras.output_dir, shard.generation.output_file) == (
        tmp_path / "out" / "gen" / ".shards" / "worker_2")
    assert (shard.workers.workers, shard.workers.ray, shard.on_existing) == (1, False, "resume")
    assert shard.generation.num_trials == 7  # until stopped: the supervisor stops it at the run's goal
    assert kit_workers.shard_settings(cfg, 2, 3).generation.num_trials == 3  # a quota (attempts, or a Ray task)
    # what crosses the pipe to the Kit process is the whole configuration, run section included
    assert from_toml_text(to_toml(shard, with_run=True), "shard") == shard


# ------------------------------------------------------------------------------------------ seeds
def test_run_seed_depends_on_worker_and_first_attempt():
    seeds = {(w, a): driver.run_seed(1, w, a) for w in range(3) for a in range(3)}
    assert len(set(seeds.values())) == 9 and all(0 <= s < 2**63 for s in seeds.values())
    assert driver.run_seed(1, 0, 0) == driver.run_seed(1, 0, 0) != driver.run_seed(2, 0, 0)


# ------------------------------------------------------------------------------------------ the plan child
def cfg_for(real_dataset: Path, out: Path, **flags) -> RunConfig:
    return load_config(env={}, flags={"input_file": str(real_dataset), "output_file": str(out),
                                      "engine": "isaaclab", **flags})


def existing_output(out: Path) -> None:
    DatasetWriter(out, env_name=ENV_NAME, mode="create").close()


def test_to_toml_keeps_the_run_section_only_when_asked(real_dataset, tmp_path):
    cfg = cfg_for(real_dataset, tmp_path / "g.hdf5", on_existing="overwrite", num_trials=3)
    assert "[run]" not in to_toml(cfg)  # the record saved beside OUT: never re-applies an overwrite
    assert from_toml_text(to_toml(cfg, with_run=True), "child") == cfg


@pytest.mark.parametrize("on_existing", ["resume", "overwrite"])
def test_child_plan_resumes_and_overwrites_an_existing_output(real_dataset, tmp_path, on_existing):
    """Isaac Lab 3.0 plans in a child process; ON_EXISTING (--resume / --overwrite) must reach it."""
    out = tmp_path / "g.hdf5"
    existing_output(out)
    cfg = cfg_for(real_dataset, out, on_existing=on_existing)
    assert kit.plan_env_name(cfg, in_child=True) == ENV_NAME
    with pytest.raises(MimicforgeError, match="pass --resume"):  # and without it the child still refuses
        kit.plan_env_name(cfg_for(real_dataset, out), in_child=True)


def test_child_plan_takes_the_notebooks_default_resume(real_dataset, tmp_path, monkeypatch):
    """The notebook's settings cell: ``load_config(flags=OVERRIDES)`` with ``on_existing="resume"``."""
    import ast
    import json

    nb = json.loads((Path(__file__).resolve().parents[3] / "notebook" / "generate_dataset.ipynb").read_text())
    cell = next("".join(c["source"]) for c in nb["cells"] if "OVERRIDES = {" in "".join(c["source"]))
    start = cell.index("OVERRIDES = {") + len("OVERRIDES = ")
    overrides = ast.literal_eval(cell[start:cell.index("}", start) + 1])  # the notebook's own defaults, not a copy
    assert overrides["on_existing"] == "resume"
    out = tmp_path / "g.hdf5"
    existing_output(out)
    for key, env in (("input_file", "INPUT_FILE"), ("output_file", "OUTPUT_FILE")):
        monkeypatch.setenv(env, str(real_dataset if key == "input_file" else out))
    monkeypatch.setenv("ENGINE", "isaaclab")
    cfg = load_config(flags=overrides)
    assert kit.plan_env_name(cfg, in_child=True) == ENV_NAME
    assert OutputPaths.beside(out).dataset.exists()  # resumed, not replaced


# ------------------------------------------------------------------------------------------ stopping
def test_a_stop_signal_never_moves_the_end_of_the_run_later():
    """SIGTERM just after the last attempt (env_loop steps once more before its check) must not buy one more."""
    from types import SimpleNamespace

    def env(guarantee, target):
        return SimpleNamespace(cfg=SimpleNamespace(datagen_config=SimpleNamespace(
            generation_guarantee=guarantee, generation_num_trials=target)))

    generation = SimpleNamespace(num_success=1, num_failures=1, num_attempts=2)
    done = env(False, 2)  # STOP_ON=attempts, both attempts done
    driver.finish_after_current_attempt(done, generation)
    assert (done.cfg.datagen_config.generation_guarantee, done.cfg.datagen_config.generation_num_trials) == (False, 2)
    running = env(True, 10)  # STOP_ON=successes, far from the goal: the attempt in progress is the last
    driver.finish_after_current_attempt(running, generation)
    assert (running.cfg.datagen_config.generation_guarantee, running.cfg.datagen_config.generation_num_trials) == (
        False, 3)


def test_config_check_takes_the_isaac_lab_worker_settings(cli):
    """``launch.sh`` and ``mimicforge container run`` check every variable with ``mimicforge config --check``."""
    ok = cli("config", "--check", env={"ENGINE": "isaaclab", "WORKERS": "2", "DEVICES": "cuda:0,cuda:1"})
    assert ok.returncode == 0, ok.stderr
    bad = cli("config", "--check", env={"ENGINE": "isaaclab", "WORKERS": "2", "DEVICES": "gpu0"})
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert bad.stderr.startswith("mimicforge: error: DEVICES='gpu0': expected a comma-separated list")


@pytest.mark.parametrize(("on_existing", "demos"), [("resume", 3), ("overwrite", 2)])
def test_isaac_lab_3_launch_resumes_and_overwrites_through_its_child_plan(make_cfg, on_existing, demos):
    """The whole path on a FAKE Isaac Lab 3.0 boundary: ``kit.launch`` plans in the child, then the run goes on."""
    import dataclasses

    from mimicforge.datasets import DatasetReader
    from tests.backends.isaaclab.conftest import run
    from tests.backends.isaaclab.fake_isaac import Attempt, FakeIsaac

    cfg = make_cfg(num_trials=1)
    run(cfg, FakeIsaac("3.0", [Attempt()]))
    again = FakeIsaac("3.0", [Attempt(), Attempt()])
    assert kit.installed_variant(again.source_of).kit_before_numpy  # 3.0: the plan runs in a child process
    more = dataclasses.replace(cfg, on_existing=on_existing, generation=dataclasses.replace(cfg.generation,
                                                                                            num_trials=demos))
    sim = kit.launch(more, isaac=again, source_of=again.source_of)
    driver.generate(more, sim, device="cpu")
    with DatasetReader(cfg.generation.output_file) as reader:
        assert len(reader.demo_names) == demos
