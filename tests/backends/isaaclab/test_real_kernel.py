"""NVIDIA's ``isaaclab_mimic`` (from the 2.3.2.post1 wheel, on the twin through the Kit-free ``harness``) in a
real Jupyter kernel: its ``env_loop`` cannot pump the kernel's running loop without nest_asyncio, and the
shipped notebook, with ``ENGINE=isaaclab``, generates through it end to end."""

from __future__ import annotations

import textwrap

import pytest

from mimicforge.datasets import DatasetReader, validate
from tests.backends.isaaclab import harness
from tests.backends.isaaclab.test_kernel import Kernel
from tests.conftest import REPO

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
jupyter_client = pytest.importorskip("jupyter_client")

pytestmark = [pytest.mark.notebook, pytest.mark.slow, pytest.mark.timeout(900)]
NOTEBOOK = REPO / "notebook" / "generate_dataset.ipynb"
ENV_NAME = "Isaac-Stack-Cube-Franka-IK-Rel-Mimic-v0"


@pytest.fixture
def harness_env(monkeypatch):
    """The kernel (a child of this process) starts with the harness installed by its sitecustomize."""
    for key, value in harness.child_env().items():
        if key in ("PYTHONPATH", harness.ENV_VAR):
            monkeypatch.setenv(key, value)
    for key in ("NUM_TRIALS", "ENGINE", "MIMICFORGE_DEBUG"):
        monkeypatch.delenv(key, raising=False)


def test_real_env_loop_cannot_pump_a_running_kernel_loop_without_nest_asyncio(wheel, harness_env, real_dataset,
                                                                              tmp_path):
    kernel = Kernel()
    try:
        out = kernel.run(textwrap.dedent(f"""
            import sys, gymnasium as gym, isaaclab_mimic.envs
            import isaaclab_mimic.datagen.generation as generation
            print("NEST", "nest_asyncio" in sys.modules)
            env_cfg, success = generation.setup_env_config({ENV_NAME!r}, {str(tmp_path)!r}, "direct", 1, "cpu", 1)
            env = gym.make({ENV_NAME!r}, cfg=env_cfg).unwrapped
            env.reset()
            c = generation.setup_async_generation(env, 1, {str(real_dataset)!r}, success)
            try:
                generation.env_loop(env, c["reset_queue"], c["action_queue"], c["info_pool"], c["event_loop"])
                print("RESULT completed")
            except RuntimeError as exc:
                print("RESULT", exc)
            for task in c["tasks"]:
                task.cancel()
            env.close()
        """), timeout=600)
        assert "NEST False" in out, out
        assert "RESULT This event loop is already running" in out, out
        assert kernel.run("print('alive', 6 * 7)").strip().endswith("alive 42")
    finally:
        kernel.close()


def test_notebook_generates_with_real_isaaclab_mimic(wheel, harness_env, tmp_path, real_dataset, monkeypatch):
    (tmp_path / "datasets").mkdir()
    monkeypatch.setenv("INPUT_FILE", str(real_dataset))
    monkeypatch.setenv("OUTPUT_FILE", "datasets/notebook.hdf5")
    monkeypatch.setenv("NUM_TRIALS", "2")
    monkeypatch.setenv("SELECT_SOURCE", "per_trial")
    monkeypatch.setenv("ENGINE", "isaaclab")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=800, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError on any failing cell
    code = [c for c in nb.cells if c.cell_type == "code"]
    outputs = [o for c in code for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "engine: isaaclab" in text
    assert "Loaded 10 to datagen info pool" in text and "Reached 2 successes/attempts. Exiting." in text
    assert "datasets/notebook.hdf5: 2 successes in" in text
    out = tmp_path / "datasets" / "notebook.hdf5"
    assert validate(out) == []
    with DatasetReader(out) as r:
        assert len(r.demo_names) == 2
    assert (tmp_path / "output" / "preview_notebook_demo_0.mp4").stat().st_size > 0
