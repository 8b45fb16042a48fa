"""NVIDIA's own ``isaaclab_mimic`` from the ``isaaclab`` **3.0.0** wheel under mimicforge's Isaac Lab driver (its
3.0 variant: ``env_loop(..., data_gen_tasks=...)``, the env closed by the driver, the plan read before "Kit",
format-1 datasets), on the MuJoCo twin through the Kit-free harness (``harness``; stand-ins in
``harness.standins.STANDINS_3``). 3.0.0 is served for Python 3.12 only: every run is a subprocess of
``.venv-isaaclab3/bin/python`` (``bash scripts/setup-isaaclab3.sh``); the tests skip, with that reason,
where the environment is not built (CI builds it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from mimicforge.datasets import DatasetReader, validate
from mimicforge.outputs import OutputPaths, read_metrics
from tests.backends.isaaclab import harness
from tests.backends.isaaclab.test_real_mimic import check_dead_generator_run, sigterm_after_first_attempt

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
REPO = Path(__file__).resolve().parents[3]
VERSION = "3.0.0"
ENV_NAME = "Isaac-Stack-Cube-Franka-IK-Rel-Mimic-v0"


@pytest.fixture(scope="module")
def python3() -> str:
    python = harness.python_for(VERSION)
    if python is None:
        if os.environ.get("CI") and shutil.which("python3.12"):
            pytest.fail("CI builds .venv-isaaclab3 (scripts/setup-isaaclab3.sh) where Python 3.12 exists; "
                        "it is missing")
        pytest.skip("isaaclab 3.0.0 needs Python 3.12: run bash scripts/setup-isaaclab3.sh")
    try:
        harness.wheel_path(VERSION)
    except RuntimeError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"the isaaclab {VERSION} wheel is not reachable: {exc}")
    return python


def child_env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in ("NUM_TRIALS", "ENGINE", "MIMICFORGE_DEBUG",
                                                             "SUCCESS_RULE", "VIRTUAL_ENV")}
    return {**harness.child_env(VERSION, base=base), **extra}


def standalone(python: str, tmp_path: Path, real_dataset: Path, *flags: str, env: dict[str, str] | None = None,
               timeout: float = 700) -> subprocess.CompletedProcess[str]:
    cmd = [python, str(REPO / "standalone" / "generate.py"), "--input", str(real_dataset),
           "--output", str(tmp_path / "gen.hdf5"), "--device", "cpu", "--engine", "isaaclab", "--seed", "1", *flags]
    return subprocess.run(cmd, env=env or child_env(), cwd=tmp_path, capture_output=True, text=True, timeout=timeout)


def in_harness(python: str, code: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``code`` in a child of the 3.12 interpreter with the 3.0 harness installed (its last line: JSON)."""
    return subprocess.run([python, "-c", textwrap.dedent(code)], env=child_env(), capture_output=True, text=True,
                          timeout=timeout)


def test_harness_runs_only_record_checked_3_0_files(python3, tmp_path):
    r = in_harness(python3, """
        import inspect, json, warp
        from tests.backends.isaaclab.harness import installed
        import isaaclab_mimic.datagen.generation as generation
        from isaaclab_mimic.datagen.data_generator import DataGenerator
        from isaaclab_mimic.datagen import selection_strategy, waypoint
        from isaaclab.managers.recorder_manager import RecorderManager
        from isaaclab.utils.datasets import HDF5DatasetFileHandler
        from isaaclab_mimic.envs.franka_stack_ik_rel_mimic_env_cfg import FrankaCubeStackIKRelMimicEnvCfg
        from isaaclab_tasks.contrib.stack import mdp
        cfg = FrankaCubeStackIKRelMimicEnvCfg()
        files = [m.__file__ for m in (generation, selection_strategy, waypoint, mdp)] + [
            inspect.getfile(c) for c in (DataGenerator, RecorderManager, HDF5DatasetFileHandler)]
        print(json.dumps({**installed().report(), "files": files, "warp": warp.__file__,
                          "env_loop": list(inspect.signature(generation.env_loop).parameters),
                          "success": cfg.terminations.success.func.__name__,
                          "max_lin_vel": inspect.signature(mdp.cubes_stacked).parameters["max_lin_vel"].default,
                          "per_subtask": cfg.datagen_config.generation_select_src_per_subtask}))
    """)
    assert r.returncode == 0, r.stderr[-3000:]
    report = json.loads(r.stdout.splitlines()[-1])
    root = str(harness.wheel_path(VERSION).with_suffix(""))
    assert report["wheel"] == "isaaclab-3.0.0-py3-none-any.whl" and report["upstream_files_verified"] > 100
    assert all(f.startswith(root + "/isaaclab") for f in report["files"]), report["files"]
    assert any(f.endswith("/__init__.pyi") for f in report["verified_files"])  # lazy_export's stubs, checked too
    assert report["env_loop"][-1] == "data_gen_tasks"
    assert (report["success"], report["max_lin_vel"]) == ("cubes_stacked", 0.05)  # 3.0: cubes at rest
    used = {s["module"]: s["imported_by"] for s in report["standins"]}
    assert used["isaaclab.envs.manager_based_rl_env"] is not None  # forced by the real Mimic env's import
    assert report["kit_modules"] == {}  # 3.0's generation path imports no Kit / USD module (2.3's: omni, carb)
    assert "site-packages/warp/" in report["warp"]  # the real (CPU) warp its recorder and asset data use
    assert "isaaclab_tasks" in report["lazy_packages"]

    # one changed byte in the wheel's generation.py, and the harness refuses to run it
    wheel = harness.wheel_path(VERSION)
    target = "isaaclab_mimic/datagen/generation.py"
    tampered = harness.tampered_copy(wheel, target, b"num_success = 0", b"num_success = 1", tmp_path)
    code = ("from pathlib import Path; import tests.backends.isaaclab.harness as h\n"
            f"h.wheel_path = lambda version='3.0.0': Path({str(tampered)!r})\n"
            "h.install('3.0.0'); import isaaclab_mimic.datagen.generation")
    env = {k: v for k, v in child_env().items() if k != harness.ENV_VAR}
    r = subprocess.run([python3, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode != 0 and "RecordMismatch" in r.stderr and "generation.py has sha256=" in r.stderr


def test_standalone_writes_a_format_1_xyzw_dataset_that_3_0_reads_back(python3, tmp_path, real_dataset):
    trace = tmp_path / "twin_trace.npz"
    r = standalone(python3, tmp_path, real_dataset, "--select-source", "per_trial", "--json", "--keep-failed",
                   env=child_env(NUM_TRIALS="2", MIMICFORGE_HARNESS_TRACE=str(trace)))
    assert r.returncode == 0, r.stderr[-3000:]
    assert "generation API data_gen_tasks (Isaac Lab 3.0)" in r.stderr
    assert "Loaded 10 to datagen info pool" in r.stdout and "Reached 2 successes/attempts. Exiting." in r.stdout
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["successes"] == 2 and summary["reached"]
    out = tmp_path / "gen.hdf5"
    assert validate(out) == []
    v = subprocess.run([sys.executable, "-m", "mimicforge", "validate", str(out)], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(REPO / "src")}, timeout=120)
    assert v.returncode == 0 and "valid training data (2 demos" in v.stdout, v.stdout + v.stderr
    with h5py.File(out, "r") as f:
        assert int(f.attrs["format_version"]) == 1  # Isaac Lab 3.0's marker for x, y, z, w
        assert json.loads(f["data"].attrs["env_args"])["env_name"] == ENV_NAME
    records = list(read_metrics(OutputPaths.beside(out).metrics))
    assert len(records) == summary["attempts"] and sum(x["success"] for x in records) == 2

    # Isaac Lab 3.0's own handler reads the file back: its quaternions are the twin's, in x, y, z, w.
    r = in_harness(python3, f"""
        import json
        from isaaclab.utils.datasets import HDF5DatasetFileHandler
        h = HDF5DatasetFileHandler(); h.open({str(out)!r}, "r")
        eps = {{}}
        for name in h.get_episode_names():
            ep = h.load_episode(name, "cpu")
            eps[name] = {{c: ep.data["states"]["rigid_object"][c]["root_pose"].tolist() for c in
                         ("cube_1", "cube_2", "cube_3")}}
        print(json.dumps({{"format_version": h._format_version if hasattr(h, "_format_version") else None,
                           "episodes": eps}}))
    """)
    assert r.returncode == 0, r.stderr[-3000:]
    back = json.loads(r.stdout.splitlines()[-1])["episodes"]
    assert sorted(back) == ["demo_0", "demo_1"]
    twin = np.load(trace)  # the twin's own poses (w, x, y, z) of every scene read, in order
    with DatasetReader(out) as reader:  # mimicforge reads format 1 back into its w, x, y, z
        for name, cubes in back.items():
            ours = reader.demo(name).states["rigid_object"]
            for cube, rows in cubes.items():
                rows = np.asarray(rows, dtype=np.float32)
                seen = twin[cube][:, 0]  # env 0
                start = [i for i in range(len(seen) - len(rows) + 1)
                         if np.array_equal(seen[i, :3], rows[0, :3]) and np.array_equal(seen[i + 1, :3], rows[1, :3])]
                assert len(start) == 1, (name, cube, start)
                recorded = seen[start[0]:start[0] + len(rows)]
                np.testing.assert_array_equal(rows[:, :3], recorded[:, :3])
                np.testing.assert_array_equal(rows[:, 3:], recorded[:, [4, 5, 6, 3]])  # x, y, z, w = the twin's
                np.testing.assert_array_equal(ours[cube]["root_pose"], recorded)  # and back to w, x, y, z
                assert not np.allclose(rows[:, 3:], recorded[:, 3:])  # (the orders do differ)


def test_generator_dying_inside_3_0_is_re_raised_by_env_loop_and_ends_with_exit_1(python3, tmp_path, real_dataset):
    env = child_env(MIMICFORGE_HARNESS_FAULT_AFTER_RESETS="2", NUM_TRIALS="5")
    t0 = time.monotonic()
    r = standalone(python3, tmp_path, real_dataset, "--stall-timeout", "120", env=env, timeout=400)
    took = time.monotonic() - t0
    assert took < 120  # the dead task ended the run; it did not wait for the stall timeout
    # 3.0's env_loop itself noticed the dead task (data_gen_tasks) and raised its exception
    assert "Isaac Lab's env_loop re-raised the dead generator's RuntimeError (data_gen_tasks)" in r.stderr
    check_dead_generator_run(r, tmp_path / "gen.hdf5")


def test_sigterm_finishes_the_3_0_attempt_and_exits_143(python3, tmp_path, real_dataset):
    cmd = [python3, str(REPO / "standalone" / "generate.py"), "--input", str(real_dataset),
           "--output", str(tmp_path / "gen.hdf5"), "--device", "cpu", "--engine", "isaaclab", "--num-trials", "50",
           "--stop-on", "attempts", "--keep-failed"]
    for f in sigterm_after_first_attempt(cmd, child_env(), tmp_path / "gen.hdf5", wait=600):
        with h5py.File(f, "r") as h:
            assert int(h.attrs["format_version"]) == 1  # 3.0's x, y, z, w marker, kept by the collector


def test_notebook_generates_with_isaaclab_mimic_3_0_in_a_real_kernel(python3, tmp_path, real_dataset):
    """The shipped notebook, ENGINE=isaaclab, executed by nbclient in a real ipykernel of the 3.12 environment."""
    (tmp_path / "datasets").mkdir()
    env = child_env(INPUT_FILE=str(real_dataset), OUTPUT_FILE="datasets/notebook.hdf5", NUM_TRIALS="2",
                    SELECT_SOURCE="per_trial", ENGINE="isaaclab")
    env.pop(harness.ENV_VAR)  # the runner itself stays plain; the kernel gets the harness
    code = f"""
        import json, os, sys, nbformat, nbclient
        os.environ[{harness.ENV_VAR!r}] = {VERSION!r}
        nb = nbformat.read({str(REPO / "notebook" / "generate_dataset.ipynb")!r}, as_version=4)
        client = nbclient.NotebookClient(nb, timeout=800, kernel_name="python3",
                                         resources={{"metadata": {{"path": {str(tmp_path)!r}}}}})
        client.execute()
        outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
        print(json.dumps({{"errors": [o.get("ename") for o in outputs if o.output_type == "error"],
                           "text": "".join(o.get("text", "") for o in outputs if o.output_type == "stream")}}))
    """
    r = subprocess.run([python3, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True, timeout=850)
    assert r.returncode == 0, r.stderr[-3000:]
    result = json.loads(r.stdout.splitlines()[-1])
    assert result["errors"] == []
    text = result["text"]
    assert "engine: isaaclab" in text
    assert "Loaded 10 to datagen info pool" in text and "Reached 2 successes/attempts. Exiting." in text
    assert "datasets/notebook.hdf5: 2 successes in" in text
    out = tmp_path / "datasets" / "notebook.hdf5"
    assert validate(out) == []
    with h5py.File(out, "r") as f:
        assert int(f.attrs["format_version"]) == 1
    with DatasetReader(out) as reader:
        assert len(reader.demo_names) == 2
