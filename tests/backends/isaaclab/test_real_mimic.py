"""NVIDIA's own ``isaaclab_mimic`` (from the ``isaaclab`` 2.3.2.post1 wheel) under mimicforge's Isaac Lab
driver, on the MuJoCo twin, through the Kit-free harness (``harness``): the real ``setup_env_config`` /
``setup_async_generation`` / ``env_loop``, ``DataGenerator``, recorder and ``HDF5DatasetFileHandler``.
Isaac Sim itself is the only thing replaced (see ``harness.standins``). Every run is a real subprocess of
``standalone/generate.py`` (the container's entry), so the harness never enters the test process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mimicforge.datasets import DatasetReader, validate
from mimicforge.outputs import OutputPaths, read_metrics
from tests.backends.isaaclab import harness

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
REPO = Path(__file__).resolve().parents[3]
ENTRY = [sys.executable, str(REPO / "standalone" / "generate.py")]


def child_env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in ("NUM_TRIALS", "ENGINE", "MIMICFORGE_DEBUG")}
    return {**harness.child_env(base=base), **extra}


def standalone(tmp_path: Path, real_dataset: Path, *flags: str, env: dict[str, str] | None = None,
               timeout: float = 500) -> subprocess.CompletedProcess[str]:
    cmd = [*ENTRY, "--input", str(real_dataset), "--output", str(tmp_path / "gen.hdf5"), "--device", "cpu",
           "--engine", "isaaclab", "--seed", "1", *flags]
    return subprocess.run(cmd, env=env or child_env(), cwd=tmp_path, capture_output=True, text=True, timeout=timeout)


def test_harness_runs_only_record_checked_upstream_files(wheel, tmp_path):
    code = textwrap.dedent("""
        import json
        from tests.backends.isaaclab.harness import install
        h = install()
        import isaaclab_mimic.datagen.generation as generation
        from isaaclab_mimic.datagen.data_generator import DataGenerator
        from isaaclab_mimic.envs.franka_stack_ik_rel_mimic_env_cfg import FrankaCubeStackIKRelMimicEnvCfg
        cfg = FrankaCubeStackIKRelMimicEnvCfg()
        print(json.dumps({**h.report(), "generation": generation.__file__,
                          "generate": DataGenerator.generate.__code__.co_filename,
                          "per_subtask": cfg.datagen_config.generation_select_src_per_subtask,
                          "per_arm": cfg.datagen_config.generation_select_src_per_arm}))
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    report = json.loads(r.stdout.splitlines()[-1])
    assert report["upstream_files_verified"] > 100
    for key in ("generation", "generate"):
        assert report[key].startswith(str(wheel.with_suffix("")) + "/isaaclab/source/isaaclab_mimic/"), report[key]
    assert {"omni", "omni.timeline", "carb"} <= set(report["kit_modules"])
    assert "isaaclab.envs" in report["lazy_packages"] and "isaaclab_mimic.datagen" in report["lazy_packages"]
    assert (report["per_subtask"], report["per_arm"]) == (True, False)  # NVIDIA's cfg: one source per trial

    # one changed byte in the wheel's generation.py, and the harness refuses to run it
    target = "isaaclab/source/isaaclab_mimic/isaaclab_mimic/datagen/generation.py"
    tampered = harness.tampered_copy(wheel, target, b"num_success = 0", b"num_success = 1", tmp_path)
    code = ("import sys; from pathlib import Path; import tests.backends.isaaclab.harness as h\n"
            f"h.wheel_path = lambda version=h.DEFAULT_VERSION: Path({str(tampered)!r})\n"
            "h.install(); import isaaclab_mimic.datagen.generation")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode != 0 and "RecordMismatch" in r.stderr and "generation.py has sha256=" in r.stderr


def test_standalone_generates_with_the_real_env_loop(wheel, tmp_path, real_dataset):
    r = standalone(tmp_path, real_dataset, "--select-source", "per_trial", "--json",
                   env=child_env(NUM_TRIALS="2"))
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Loaded 10 to datagen info pool" in r.stdout and "Reached 2 successes/attempts. Exiting." in r.stdout
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["successes"] == 2 and summary["reached"]
    out = tmp_path / "gen.hdf5"
    assert validate(out) == []
    with DatasetReader(out) as reader:
        assert len(reader.demo_names) == 2 and reader.env_name == "Isaac-Stack-Cube-Franka-IK-Rel-Mimic-v0"
    records = list(read_metrics(OutputPaths.beside(out).metrics))
    assert len(records) == summary["attempts"] and sum(r["success"] for r in records) == 2
    assert all(r["engine"] == "isaaclab" and r["steps"] > 100 for r in records)
    v = subprocess.run([sys.executable, "-m", "mimicforge", "validate", str(out)], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(REPO / "src")}, timeout=120)
    assert v.returncode == 0 and "valid training data (2 demos" in v.stdout, v.stdout + v.stderr
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".gen.isaaclab")]  # staging removed


def test_second_run_in_one_process_starts_from_zero(wheel, tmp_path, real_dataset):
    """Isaac Lab's module-global counters survive a run; the driver resets them (else run 2 stops at once)."""
    code = textwrap.dedent(f"""
        from mimicforge.backends.isaaclab import driver
        from mimicforge.config import load_config
        import isaaclab_mimic.datagen.generation as generation
        sim = None
        for name in ("a", "b"):
            cfg = load_config(env={{}}, flags={{"input_file": {str(real_dataset)!r}, "engine": "isaaclab",
                "output_file": {str(tmp_path)!r} + f"/{{name}}.hdf5", "num_trials": 2, "stop_on": "attempts"}})
            sim = sim or driver.launch(cfg, device="cpu")
            s = driver.generate(cfg, sim, device="cpu")
            print("RUN", name, s.attempts, generation.num_attempts)
        driver.close(sim)
    """)
    r = subprocess.run([sys.executable, "-c", code], env=child_env(), cwd=tmp_path, capture_output=True, text=True,
                       timeout=500)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "RUN a 2 2" in r.stdout and "RUN b 2 2" in r.stdout, r.stdout[-2000:]


def test_generator_dying_inside_the_real_datagenerator_ends_with_exit_1(wheel, tmp_path, real_dataset):
    # the driver's reset and attempt 1 go through; the scene read in DataGenerator.generate after attempt 2's
    # reset raises, so the real generator task dies and env_loop would pump for ever
    env = child_env(MIMICFORGE_HARNESS_FAULT_AFTER_RESETS="2", NUM_TRIALS="5")
    t0 = time.monotonic()
    r = standalone(tmp_path, real_dataset, "--stall-timeout", "120", env=env, timeout=300)
    took = time.monotonic() - t0
    assert took < 120  # the watchdog saw the dead task; it did not wait for the stall timeout
    check_dead_generator_run(r, tmp_path / "gen.hdf5")


def check_dead_generator_run(r: subprocess.CompletedProcess[str], out: Path) -> None:
    """A run whose generator died in its second attempt (``FAULT_ENV``): exit 1, our one line naming the
    upstream error, Isaac Lab's traceback above it, and the first attempt saved."""
    assert r.returncode == 1, r.stderr[-3000:]
    lines = [line for line in r.stderr.splitlines() if line.startswith("standalone/generate.py")]
    assert len(lines) == 1, r.stderr[-3000:]
    assert "died with RuntimeError: physics simulation view is invalid" in lines[0]
    assert "isaaclab_mimic/datagen/data_generator.py" in r.stderr and "in generate" in r.stderr  # upstream trace
    records = list(read_metrics(OutputPaths.beside(out).metrics))
    assert len(records) == 1  # the attempt that finished before the fault is in OUT


def test_sigterm_finishes_the_attempt_and_exits_143(wheel, tmp_path, real_dataset):
    cmd = [*ENTRY, "--input", str(real_dataset), "--output", str(tmp_path / "gen.hdf5"), "--device", "cpu",
           "--engine", "isaaclab", "--num-trials", "50", "--stop-on", "attempts", "--keep-failed"]
    sigterm_after_first_attempt(cmd, child_env(), tmp_path / "gen.hdf5", wait=400)


def sigterm_after_first_attempt(cmd: list[str], env: dict[str, str], out: Path, wait: float) -> list[Path]:
    """Run ``cmd`` (50 attempts, failures kept), SIGTERM it once an attempt is in OUT, and check it finished
    that attempt: exit 143, the --resume hint, every finished attempt in OUT and valid. Returns OUT's files."""
    proc = subprocess.Popen(cmd, env=env, cwd=out.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    paths = OutputPaths.beside(out)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and not (paths.metrics.is_file() and paths.metrics.read_text().strip()):
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 143, err[-3000:]
    assert "stopped by a signal" in err and "--resume" in err
    records = list(read_metrics(paths.metrics))
    assert 1 <= len(records) < 50
    files = [f for f in (paths.dataset, paths.failed) if f.is_file()]
    kept = 0
    for f in files:
        assert validate(f) == []
        with DatasetReader(f) as reader:
            kept += len(reader.demo_names)
    assert kept == len(records)  # every finished attempt is in OUT, none half-written
    return files
