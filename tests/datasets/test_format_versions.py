"""Dataset format versions on real files: Isaac Lab <= 2.3 (no ``format_version``, WXYZ) and 3.0
(``format_version = 1``, XYZW). The 3.0 copies come from ``format_copies`` (checked against Isaac Lab 3.0's
own loader in ``tests/backends/isaaclab/test_format3.py``)."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from mimicforge.datasets import DatasetReader, DatasetWriter, merge_datasets
from mimicforge.datasets.quaternions import read_format_version
from mimicforge.errors import DatasetFormatError
from tests.datasets.format_copies import make_format3_copy

pytestmark = pytest.mark.timeout(300)
ENV = "Isaac-Stack-Cube-Franka-IK-Rel-Mimic-v0"


@pytest.fixture
def format3(real_dataset, tmp_path):
    return make_format3_copy(real_dataset, tmp_path / "f3.hdf5")


def test_format_version_rule():
    assert read_format_version({}, "f") == 0
    assert read_format_version({"format_version": np.int64(0)}, "f") == 0
    assert read_format_version({"format_version": 1}, "f") == 1
    for bad in (2, -1, 1.5, "xyzw"):
        with pytest.raises(DatasetFormatError, match="format_version .* is not a dataset format mimicforge knows"):
            read_format_version({"format_version": bad}, "f")


def test_a_3_0_file_reads_as_the_legacy_one(real_dataset, format3):
    with DatasetReader(real_dataset) as old, DatasetReader(format3) as new:
        assert (old.format_version, new.format_version) == (0, 1)
        for name in ("demo_0", "demo_7"):
            a, b = old.demo(name), new.demo(name)
            for key in ("eef_quat", "cube_orientations", "object"):
                np.testing.assert_array_equal(a.obs[key], b.obs[key])
            for part in ("states", "initial_state"):
                np.testing.assert_array_equal(a.__dict__[part]["rigid_object"]["cube_3"]["root_pose"],
                                              b.__dict__[part]["rigid_object"]["cube_3"]["root_pose"])
    with h5py.File(format3, "r") as f:  # and the copy really stores XYZW: the robot base is identity
        np.testing.assert_allclose(f["data/demo_0/initial_state/articulation/robot/root_pose"][0, 3:],
                                   np.float32([0, 0, 0, 1]), atol=1e-6)


def test_inspect_reports_the_format_and_the_same_positions(cli, real_dataset, format3):
    old = json.loads(cli("inspect", str(real_dataset), "--json").stdout)
    new = json.loads(cli("inspect", str(format3), "--json").stdout)
    assert (old["format_version"], old["quaternion_order"]) == (0, "wxyz")
    assert (new["format_version"], new["quaternion_order"]) == (1, "xyzw")
    assert [d["initial_object_positions"] for d in old["demos"]] == [d["initial_object_positions"] for d in new["demos"]]


def test_an_unknown_format_is_one_line_and_exit_2(cli, real_dataset, tmp_path):
    bad = make_format3_copy(real_dataset, tmp_path / "f7.hdf5")
    with h5py.File(bad, "r+") as f:
        f.attrs["format_version"] = 7
    r = cli("inspect", str(bad))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "format_version = 7 is not a dataset format mimicforge knows" in r.stderr


def test_merge_refuses_to_mix_formats_and_keeps_the_one_it_merges(real_dataset, format3, tmp_path):
    with pytest.raises(DatasetFormatError, match="inputs mix dataset formats"):
        merge_datasets(tmp_path / "mixed.hdf5", [real_dataset, format3])
    assert not (tmp_path / "mixed.hdf5").exists()
    merge_datasets(tmp_path / "both3.hdf5", [format3, format3])
    with DatasetReader(tmp_path / "both3.hdf5") as r:
        assert r.format_version == 1 and len(r) == 20


def test_writer_stores_xyzw_and_refuses_to_append_across_formats(real_dataset, tmp_path):
    with DatasetReader(real_dataset) as r:
        demo = r.demo("demo_0")
    out = tmp_path / "w.hdf5"
    with DatasetWriter(out, env_name=ENV, format_version=1) as w:
        w.write_demo({"actions": demo.actions, "obs": demo.obs, "initial_state": demo.initial_state}, True)
    with h5py.File(out, "r") as f:
        assert int(f.attrs["format_version"]) == 1
        q = f["data/demo_0/obs/eef_quat"][()]
        np.testing.assert_array_equal(q, np.concatenate([demo.obs["eef_quat"][:, 1:], demo.obs["eef_quat"][:, :1]], 1))
    with DatasetReader(out) as r:
        np.testing.assert_array_equal(r.demo("demo_0").obs["eef_quat"], demo.obs["eef_quat"])
    with pytest.raises(DatasetFormatError, match="is dataset format 1 .* this run writes format 0"):
        DatasetWriter(out, env_name=ENV, mode="append")


def test_twin_generation_from_a_3_0_file_writes_3_0_demos(cli, format3, tmp_path):
    pytest.importorskip("mujoco", reason="the twin needs the [sim] extra")
    out = tmp_path / "gen3.hdf5"
    r = cli("generate", "--input", str(format3), "--output", str(out), "--num-trials", "1", "--engine", "mujoco")
    assert r.returncode == 0, r.stderr
    with h5py.File(out, "r") as f:
        assert int(f.attrs["format_version"]) == 1
        g = f["data/demo_0"]
        np.testing.assert_allclose(g["initial_state/articulation/robot/root_pose"][0, 3:], [0, 0, 0, 1], atol=1e-6)
        raw = g["obs/eef_quat"][()]
    with DatasetReader(out) as reader:
        np.testing.assert_array_equal(reader.demo("demo_0").obs["eef_quat"], np.roll(raw, 1, axis=-1))
