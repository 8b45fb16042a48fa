"""``kit.launch``: what is decided before Kit starts (API variant, cameras from the task, device), and how a
failing Kit start is reported. Isaac Sim is the FAKE boundary of ``fake_isaac`` (or a stand-in launcher)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mimicforge import standalone
from mimicforge.backends.isaaclab import driver, kit
from mimicforge.errors import BackendUnavailable, ConfigError
from tests.backends.isaaclab.conftest import run
from tests.backends.isaaclab.fake_isaac import Attempt, FakeIsaac

pytestmark = pytest.mark.timeout(120)
REPO = Path(__file__).resolve().parents[3]
BLUEPRINT = "Isaac-Stack-Cube-Franka-IK-Rel-Blueprint-Mimic-v0"
VISUOMOTOR = "Isaac-Stack-Cube-Franka-IK-Rel-Visuomotor-Mimic-v0"


def launched(isaac: FakeIsaac) -> dict:
    return next(v for n, v in isaac.log if n == "launch_app")


def test_camera_task_gets_cameras_without_any_camera_setting(make_cfg):
    isaac = FakeIsaac("2.3")
    sim = kit.launch(make_cfg(task=BLUEPRINT), isaac=isaac, source_of=isaac.source_of)
    assert launched(isaac)["enable_cameras"] and sim.enable_cameras
    plain = FakeIsaac("2.3")
    kit.launch(make_cfg(), isaac=plain, source_of=plain.source_of)
    assert not launched(plain)["enable_cameras"]


@pytest.mark.parametrize(("task", "flags", "message"), [
    (BLUEPRINT, {"cameras": "table_cam"}, "does not save table_cam:rgb; it offers table_cam:normals"),
    (VISUOMOTOR, {"cameras": "table_cam", "modalities": "rgb"}, "saves no camera image files; its cameras"),
])
def test_camera_settings_are_refused_before_kit_starts(make_cfg, task, flags, message):
    isaac = FakeIsaac("2.3")
    with pytest.raises(ConfigError, match=message):
        kit.launch(make_cfg(task=task, **flags), isaac=isaac, source_of=isaac.source_of)
    assert not isaac.called("launch_app")


def test_saved_images_get_at_least_one_rerender_after_reset(make_cfg):
    cfg = make_cfg(task=BLUEPRINT, cameras="table_cam", modalities="normals", num_trials=1)
    isaac = FakeIsaac("2.3", [Attempt()])
    run(cfg, isaac)
    assert isaac.env.cfg.num_rerenders_on_reset == 1


def test_generate_on_a_kit_without_cameras_refuses_a_camera_task(make_cfg):
    isaac = FakeIsaac("2.3")
    sim = kit.launch(make_cfg(), isaac=isaac, source_of=isaac.source_of)
    with pytest.raises(ConfigError, match="needs cameras but Kit was started without them"):
        driver.generate(make_cfg(task=BLUEPRINT), sim)


def test_the_device_setting_reaches_kit_and_the_env_config(make_cfg):
    isaac = FakeIsaac("3.0", [Attempt()])
    cfg = make_cfg(device="cuda:1", num_trials=1)
    sim = kit.launch(cfg, isaac=isaac, source_of=isaac.source_of)
    assert launched(isaac)["device"] == "cuda:1" and sim.device == "cuda:1"
    driver.generate(cfg, sim)  # no device given: the launched one
    assert isaac.env.cfg.device == "cuda:1"
    with pytest.raises(ConfigError, match="'gpu0': expected cpu, cuda or cuda:N"):
        make_cfg(device="gpu0")


def test_a_release_without_the_generation_module_is_refused_before_kit(make_cfg):
    isaac = FakeIsaac("2.3")
    only_launcher = {"isaaclab.app": "class AppLauncher: pass\n"}
    with pytest.raises(BackendUnavailable, match="install Isaac Lab 2.1 or later"):
        kit.launch(make_cfg(), isaac=isaac, source_of=only_launcher.get)
    assert not isaac.called("launch_app")


class _ExitingIsaac(FakeIsaac):
    """Its launcher exits like argparse does on an argument it does not know."""

    def launch_app(self, *, headless: bool, enable_cameras: bool, device: str) -> None:
        print("usage: x [--device D]\nx: error: unrecognized arguments: --headless", file=sys.stderr)
        raise SystemExit(2)


def test_a_kit_start_that_exits_becomes_one_line_and_the_status_file(monkeypatch, tmp_path, real_dataset, capsys):
    monkeypatch.setattr(kit, "RealIsaac", lambda: _ExitingIsaac("2.3"))
    status = tmp_path / "status"
    monkeypatch.setenv(standalone.STATUS_FILE_ENV, str(status))
    code = standalone.main(["--input", str(real_dataset), "--output", str(tmp_path / "gen.hdf5"), "--engine",
                            "isaaclab"])
    ours = [line for line in capsys.readouterr().err.splitlines() if line.startswith("standalone/generate.py")]
    assert code == 2 and status.read_text() == "2\n"
    assert len(ours) == 1 and "Isaac Sim failed to start (exit status 2)" in ours[0]


_KIT_FIRST = """
import json, sys
from mimicforge.backends.isaaclab import kit
from mimicforge.config import load_config

class Boundary:  # records what the Kit process had loaded when Kit would start
    def launch_app(self, *, headless, enable_cameras, device):
        self.loaded = sorted(m for m in ("numpy", "h5py") if m in sys.modules)
        return "app"

SOURCES = {
    "isaaclab_mimic.datagen.generation": (
        "def setup_env_config(env_name, output_dir, output_file_name, num_envs, device, generation_num_trials=None): pass\\n"
        "def setup_async_generation(env, num_envs, input_file, success_term, pause_subtask=False): pass\\n"
        "def env_loop(env, env_reset_queue, env_action_queue, shared_datagen_info_pool, asyncio_event_loop"
        "{extra}): pass\\n"),
    "isaaclab_mimic.datagen.data_generator": (
        "class DataGenerator:\\n    async def generate(self, env_id, success_term, env_reset_queue=None): pass\\n"),
}
cfg = load_config(env={}, flags=json.loads(sys.argv[1]))
b = Boundary()
try:
    kit.launch(cfg, isaac=b, source_of=SOURCES.get)
    print(json.dumps({"loaded": b.loaded}))
except Exception as exc:
    print(json.dumps({"error": str(exc), "loaded": sorted(m for m in ("numpy", "h5py") if m in sys.modules)}))
"""


@pytest.mark.parametrize(("extra", "loaded"), [(", data_gen_tasks=None", []), ("", ["h5py", "numpy"])],
                         ids=["3.0", "2.3"])
def test_on_3_0_numpy_and_h5py_load_only_after_kit(tmp_path, real_dataset, extra, loaded):
    flags = {"input_file": str(real_dataset), "output_file": str(tmp_path / "gen.hdf5"), "engine": "isaaclab"}
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}"}
    code = _KIT_FIRST.replace("{extra}", extra)
    r = subprocess.run([sys.executable, "-c", code, json.dumps(flags)], capture_output=True, text=True, env=env,
                       timeout=100)
    assert json.loads(r.stdout.splitlines()[-1]) == {"loaded": loaded}, r.stderr
    # and the input is still checked before Kit on 3.0 (in the child process)
    bad = {**flags, "input_file": str(tmp_path / "missing.hdf5")}
    r = subprocess.run([sys.executable, "-c", code, json.dumps(bad)], capture_output=True, text=True, env=env,
                       timeout=100)
    out = json.loads(r.stdout.splitlines()[-1])
    assert "missing.hdf5: no such file" in out["error"] and out["loaded"] == loaded



@pytest.mark.parametrize(("flags", "what"), [({"ray": True}, "RAY=1"), ({"workers": 2}, "WORKERS=2")])
def test_a_process_with_its_own_kit_refuses_ray_and_workers(make_cfg, flags, what):
    """Kit starts once per process: WORKERS / RAY start Kit processes of their own, from standalone/generate.py."""
    isaac = FakeIsaac("2.3")
    with pytest.raises(ConfigError, match=f"{what} starts one Kit process per worker, which this process .* cannot: "
                                          "run standalone/generate.py"):
        kit.launch(make_cfg(**flags), isaac=isaac, source_of=isaac.source_of)
    assert not isaac.called("launch_app")


def test_cli_without_isaac_lab_refuses_isaac_workers_in_one_line(cli, real_dataset, tmp_path):
    if kit.installed_variant() is not None:
        pytest.skip("Isaac Lab is installed here")
    r = cli("generate", "--engine", "isaaclab", "--workers", "2", "--input", str(real_dataset), "--output",
            str(tmp_path / "g.hdf5"))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "Isaac Lab is not importable here" in r.stderr and not (tmp_path / "g.hdf5").exists()


def test_rerender_after_reset_on_both_config_generations():
    """Before 2.3.2 the env config has only the flag ``rerender_on_reset``; from 2.3.2 the count."""
    from types import SimpleNamespace

    from mimicforge.config import GenerationConfig

    def cfg(**extra):
        return SimpleNamespace(datagen_config=SimpleNamespace(), recorders=SimpleNamespace(), subtask_configs={},
                               **extra)

    old, new, untouched = cfg(rerender_on_reset=False), cfg(rerender_on_reset=False, num_rerenders_on_reset=0), cfg(
        rerender_on_reset=False, num_rerenders_on_reset=0)
    driver.configure_env_cfg(old, GenerationConfig(), "mode", images=True)
    driver.configure_env_cfg(new, GenerationConfig(), "mode", images=True)
    driver.configure_env_cfg(untouched, GenerationConfig(), "mode", images=False)
    assert old.rerender_on_reset is True
    assert new.num_rerenders_on_reset == 1 and untouched.num_rerenders_on_reset == 0
