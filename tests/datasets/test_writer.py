from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from mimicforge.datasets import DatasetReader, DatasetWriter, validate
from mimicforge.datasets.writer import companion
from mimicforge.errors import DatasetFormatError, OutputExistsError
from tests.datasets.episodes import make_episode

ENV = "Isaac-Stack-Cube-Franka-IK-Rel-Mimic-v0"


def leaves(tree, prefix=""):
    for k, v in tree.items():
        if isinstance(v, dict):
            yield from leaves(v, f"{prefix}{k}/")
        else:
            yield f"{prefix}{k}", v


def test_written_file_has_isaac_layout_in_plain_h5py(tmp_path):
    out = tmp_path / "gen.hdf5"
    eps = [make_episode(30 + i, seed=i) for i in range(3)]
    with DatasetWriter(out, env_name=ENV, env_args={"sim_args": {"dt": 0.01, "decimation": 5}}) as w:
        names = [w.write_demo(ep, success=i != 1) for i, ep in enumerate(eps)]
    assert names == ["demo_0", "demo_1", "demo_2"]
    with h5py.File(out, "r") as f:
        data = f["data"]
        args = json.loads(data.attrs["env_args"])
        assert args == {"env_name": ENV, "type": 2, "sim_args": {"dt": 0.01, "decimation": 5}}
        assert int(data.attrs["total"]) == 30 + 31 + 32
        assert list(data.keys()) == names
        for name, ep in zip(names, eps):
            g = data[name]
            assert int(g.attrs["num_samples"]) == ep["actions"].shape[0]
            assert isinstance(g.attrs["success"], np.bool_)
            for path, value in leaves(ep):
                ds = g[path]
                assert ds.compression == "gzip" and ds.dtype == np.float32
                np.testing.assert_array_equal(ds[()], value)
        assert [bool(data[n].attrs["success"]) for n in names] == [True, False, True]
    assert validate(out) == []
    assert not companion(out, "shadow").exists()


def test_reader_round_trip_including_datagen_info(tmp_path):
    out = tmp_path / "src.hdf5"
    ep = make_episode(40, seed=7, annotated=True, signals_at=(10, 25))
    with DatasetWriter(out, env_name=ENV) as w:
        w.write_demo(ep, success=True)
    with DatasetReader(out) as r:
        d = r.demo("demo_0")
    np.testing.assert_array_equal(d.actions, ep["actions"])
    np.testing.assert_array_equal(d.datagen_info.eef_pose["franka"], ep["obs"]["datagen_info"]["eef_pose"]["franka"])
    sig = d.datagen_info.subtask_term_signals["signal_1"]
    assert sig.dtype == np.bool_ and sig.sum() == 15
    assert d.subtask_boundaries(["signal_0", "signal_1"]) == [11, 26, 40]
    np.testing.assert_array_equal(d.states["rigid_object"]["cube_2"]["root_pose"],
                                  ep["states"]["rigid_object"]["cube_2"]["root_pose"])


def test_append_continues_numbering_and_never_truncates(tmp_path):
    out = tmp_path / "gen.hdf5"
    with DatasetWriter(out, env_name=ENV) as w:
        w.write_demo(make_episode(10, 0), success=True)
        w.write_demo(make_episode(11, 1), success=True)
    before = out.read_bytes()
    with pytest.raises(OutputExistsError, match="--resume"):
        DatasetWriter(out, env_name=ENV, mode="create")
    assert out.read_bytes() == before
    with DatasetWriter(out, env_name=ENV, mode="append") as w:
        assert w.num_demos == 2 and w.total == 21
        assert w.write_demo(make_episode(12, 2), success=True) == "demo_2"
    with DatasetReader(out) as r:
        assert r.demo_names == ["demo_0", "demo_1", "demo_2"]
        assert int(r.data_attrs["total"]) == 33
        np.testing.assert_array_equal(r.demo("demo_0").actions, make_episode(10, 0)["actions"])


def test_overwrite_is_explicit(tmp_path):
    out = tmp_path / "gen.hdf5"
    with DatasetWriter(out, env_name=ENV) as w:
        w.write_demo(make_episode(10, 0), success=True)
    with DatasetWriter(out, env_name=ENV, mode="overwrite") as w:
        assert w.num_demos == 0
        w.write_demo(make_episode(5, 3), success=True)
    with DatasetReader(out) as r:
        assert r.demo_names == ["demo_0"] and r.length("demo_0") == 5


def test_append_refuses_other_env_and_foreign_files(tmp_path):
    out = tmp_path / "gen.hdf5"
    with DatasetWriter(out, env_name=ENV) as w:
        w.write_demo(make_episode(10, 0), success=True)
    with pytest.raises(DatasetFormatError, match="holds demos of 'Isaac-Stack"):
        DatasetWriter(out, env_name="Other-v0", mode="append")
    text = tmp_path / "notes.hdf5"
    text.write_text("not hdf5")
    with pytest.raises(DatasetFormatError, match="not an HDF5 file"):
        DatasetWriter(text, env_name=ENV, mode="append")
    assert text.read_text() == "not hdf5"


def test_second_writer_on_same_file_is_refused(tmp_path):
    out = tmp_path / "gen.hdf5"
    with DatasetWriter(out, env_name=ENV):
        with pytest.raises(OutputExistsError, match="being written by another writer in this process"):
            DatasetWriter(out, env_name=ENV, mode="append")


def test_bad_episode_leaves_file_unchanged(tmp_path):
    out = tmp_path / "gen.hdf5"
    ep = make_episode(10, 0)
    bad = make_episode(10, 1)
    bad["obs"]["eef_pos"] = bad["obs"]["eef_pos"][:4]
    with DatasetWriter(out, env_name=ENV) as w:
        w.write_demo(ep, success=True)
        with pytest.raises(ValueError, match="obs/eef_pos has shape"):
            w.write_demo(bad, success=True)
        assert w.write_demo(ep, success=True) == "demo_1"
    assert validate(out) == []


def test_readers_can_open_while_writer_is_open(tmp_path):
    out = tmp_path / "gen.hdf5"
    with DatasetWriter(out, env_name=ENV) as w:
        w.write_demo(make_episode(10, 0), success=True)
        with DatasetReader(out) as r:  # default h5py locking would refuse this
            assert r.demo_names == ["demo_0"]
        w.write_demo(make_episode(10, 1), success=True)
        with h5py.File(out, "r") as f:
            assert len(f["data"]) == 2


def test_writer_without_hard_links_keeps_every_demo(tmp_path, monkeypatch):
    """File systems without hard links (network shares, mounted buckets): every write returns normally and
    every demo is committed, also across a reopen in append mode."""
    import errno
    import os

    def no_link(src, dst, *args, **kwargs):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_link)
    out = tmp_path / "gen.hdf5"
    eps = [make_episode(20 + i, seed=i) for i in range(4)]
    with DatasetWriter(out, env_name=ENV) as w:
        names = [w.write_demo(ep, success=True) for ep in eps[:3]]
        w.update_env_args({"sim_args": {"dt": 0.01}})
    assert names == ["demo_0", "demo_1", "demo_2"]
    with DatasetWriter(out, env_name=ENV, mode="append") as w:
        assert w.write_demo(eps[3], success=True) == "demo_3"
    with DatasetReader(out) as r:
        assert r.demo_names == ["demo_0", "demo_1", "demo_2", "demo_3"]
        for name, ep in zip(r.demo_names, eps):
            np.testing.assert_array_equal(r.demo(name).actions, ep["actions"])
        assert r.env_args["sim_args"] == {"dt": 0.01}
    assert validate(out) == []
    assert not companion(out, "shadow").exists()


@pytest.mark.parametrize("compression", ["gzip", None])
def test_datasets_are_created_as_h5py_s_create_dataset_creates_them(tmp_path, compression):
    """The writer creates each dataset through h5py's low-level calls; what it stores must be what
    ``Group.create_dataset(name, data=..., compression=...)`` stores: type, layout, chunks, filters, fill value,
    the timestamp and attribute-order settings, and the stored bytes themselves."""
    from mimicforge.datasets.writer import _create_dataset

    rng = np.random.default_rng(0)
    arrays = {
        "rows": rng.standard_normal((283, 39)).astype(np.float32),
        "one_row": rng.standard_normal((1, 7)).astype(np.float32),
        "signal": rng.random(283) > 0.5,
        "images": rng.integers(0, 255, (40, 84, 84, 3), dtype=np.uint8),
        "poses": rng.standard_normal((283, 4, 4)).astype(np.float32),
    }
    with h5py.File(tmp_path / "f.hdf5", "w") as f:
        ours, theirs = f.create_group("ours"), f.create_group("theirs")
        for name, value in arrays.items():
            _create_dataset(ours, name, value, compression)
            _create_dataset(ours, name + "_again", value, compression)  # a cached creation property list
            theirs.create_dataset(name, data=value, compression=compression)
    with h5py.File(tmp_path / "f.hdf5", "r") as f:
        for name, value in arrays.items():
            b = f["theirs"][name]
            for a in (f["ours"][name], f["ours"][name + "_again"]):
                pa, pb = a.id.get_create_plist(), b.id.get_create_plist()
                assert a.id.get_type().equal(b.id.get_type())
                assert (a.shape, a.chunks, a.compression, a.compression_opts, a.fillvalue) == (
                    b.shape, b.chunks, b.compression, b.compression_opts, b.fillvalue)
                assert pa.get_layout() == pb.get_layout()
                assert pa.get_obj_track_times() == pb.get_obj_track_times()
                assert pa.get_attr_creation_order() == pb.get_attr_creation_order()
                assert a.id.get_storage_size() == b.id.get_storage_size()
                if a.chunks is not None:
                    assert a.id.get_num_chunks() == b.id.get_num_chunks()
                    for i in range(a.id.get_num_chunks()):
                        offset = a.id.get_chunk_info(i).chunk_offset
                        assert a.id.read_direct_chunk(offset) == b.id.read_direct_chunk(offset)
                np.testing.assert_array_equal(a[()], value)
