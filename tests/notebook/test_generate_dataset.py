"""The shipped notebook, executed end to end on the twin in a real Jupyter kernel (nbclient)."""

from __future__ import annotations

import ast
import os

import imageio.v3 as iio
import pytest

from mimicforge.datasets import DatasetReader, validate
from tests.conftest import REPO

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = REPO / "notebook" / "generate_dataset.ipynb"
pytestmark = [pytest.mark.notebook, pytest.mark.timeout(900)]


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def test_first_code_cell_applies_nest_asyncio_before_anything_else():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    first = ast.parse(code_cells(nb)[0].source)
    calls = [n for n in ast.walk(first) if isinstance(n, ast.Call)]
    assert calls and ast.unparse(calls[0].func) == "nest_asyncio.apply"
    imports = [n for n in first.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert ast.unparse(imports[0]) == "import nest_asyncio"


def test_notebook_runs_end_to_end_on_the_twin(tmp_path, real_dataset, monkeypatch):
    (tmp_path / "datasets").mkdir()
    monkeypatch.setenv("INPUT_FILE", str(real_dataset))
    monkeypatch.setenv("OUTPUT_FILE", "datasets/notebook.hdf5")
    monkeypatch.setenv("NUM_TRIALS", "2")
    monkeypatch.setenv("ENGINE", "mujoco")
    monkeypatch.delenv("MIMICFORGE_DEBUG", raising=False)
    monkeypatch.setenv("PYTHONPATH", str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError on any failing cell
    outputs = [o for c in code_cells(nb) for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "engine: mujoco" in text
    assert "datasets/notebook.hdf5: 2 successes in" in text
    # the camera views and sampled scenes were shown, the progress widget displayed
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 2
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)
    out = tmp_path / "datasets" / "notebook.hdf5"
    assert validate(out) == []
    with DatasetReader(out) as r:
        assert len(r.demo_names) == 2
        steps = r.length("demo_0")
    preview = tmp_path / "output" / "preview_notebook_demo_0.mp4"
    frames = iio.imread(preview)
    assert frames.shape[0] == steps + 1 and frames.shape[-1] == 3  # initial state + every recorded state
