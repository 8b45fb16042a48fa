from __future__ import annotations

import h5py
import numpy as np
import pytest

from mimicforge.datasets import DatasetReader, DatasetWriter, merge_datasets, validate
from mimicforge.errors import DatasetFormatError, OutputExistsError
from tests.datasets.episodes import make_episode
from tests.datasets.test_writer import ENV, leaves


def _write(path, seeds, env=ENV):
    with DatasetWriter(path, env_name=env) as w:
        for s in seeds:
            w.write_demo(make_episode(15 + s, seed=s), success=s % 2 == 0)
    return path


def test_merge_round_trips_every_array(tmp_path):
    a = _write(tmp_path / "a.hdf5", [0, 1, 2])
    b = _write(tmp_path / "b.hdf5", [10, 11])
    result = merge_datasets(tmp_path / "m.hdf5", [a, b])
    assert (result.num_demos, result.total) == (5, sum(15 + s for s in [0, 1, 2, 10, 11]))
    with h5py.File(tmp_path / "m.hdf5", "r") as f:
        data = f["data"]
        assert list(data.keys()) == [f"demo_{i}" for i in range(5)]
        assert int(data.attrs["total"]) == result.total
        for i, seed in enumerate([0, 1, 2, 10, 11]):
            g = data[f"demo_{i}"]
            ep = make_episode(15 + seed, seed=seed)
            n = 0
            for path, value in leaves(ep):
                np.testing.assert_array_equal(g[path][()], value)
                assert g[path].compression == "gzip"
                n += 1
            assert n == sum(1 for _ in leaves(ep))
            assert bool(g.attrs["success"]) == (seed % 2 == 0)
            assert int(g.attrs["num_samples"]) == 15 + seed
    assert validate(tmp_path / "m.hdf5") == []


def test_merge_of_real_file_with_itself_doubles_it(tmp_path, real_dataset):
    result = merge_datasets(tmp_path / "twice.hdf5", [real_dataset, real_dataset])
    assert (result.num_demos, result.total) == (20, 2 * 2163)
    with DatasetReader(tmp_path / "twice.hdf5") as r:
        np.testing.assert_array_equal(r.demo("demo_13").actions, DatasetReader(real_dataset).demo("demo_3").actions)


def test_merge_rejects_disagreeing_env_args(tmp_path):
    a = _write(tmp_path / "a.hdf5", [0])
    b = _write(tmp_path / "b.hdf5", [1], env="Other-Task-v0")
    with pytest.raises(DatasetFormatError, match=r"disagree on env_name .*a.hdf5 has 'Isaac.*b.hdf5 has 'Other-Task-v0'"):
        merge_datasets(tmp_path / "m.hdf5", [a, b])
    assert not (tmp_path / "m.hdf5").exists()


def test_merge_never_clobbers(tmp_path):
    a = _write(tmp_path / "a.hdf5", [0])
    with pytest.raises(DatasetFormatError, match="both an input and the output"):
        merge_datasets(a, [a])
    out = _write(tmp_path / "out.hdf5", [5])
    with pytest.raises(OutputExistsError, match="--overwrite"):
        merge_datasets(out, [a])
    assert merge_datasets(out, [a], overwrite=True).num_demos == 1


def test_merge_skips_empty_shards_only_when_asked(tmp_path):
    a = _write(tmp_path / "a.hdf5", [0, 1])
    empty = tmp_path / "empty.hdf5"
    DatasetWriter(empty, env_name=ENV).close()
    with pytest.raises(DatasetFormatError, match="no demos"):
        merge_datasets(tmp_path / "m.hdf5", [a, empty])
    assert merge_datasets(tmp_path / "m.hdf5", [empty, a], skip_empty=True).num_demos == 2


# --- mixed inputs: refused in one line naming the files and the difference, unless a flag says what to do
def test_merge_refuses_annotated_with_unannotated_unless_asked(tmp_path, real_dataset):
    from tests.datasets.broken_files import training_copy

    train = training_copy(real_dataset, tmp_path / "train.hdf5")
    with pytest.raises(DatasetFormatError, match=r"inputs mix annotated and unannotated demos \(.*franka_stack_"
                       r"annotated_10.hdf5: annotated; .*train.hdf5: not\).*--drop-annotations"):
        merge_datasets(tmp_path / "m.hdf5", [real_dataset, train])
    assert not (tmp_path / "m.hdf5").exists()
    result = merge_datasets(tmp_path / "m.hdf5", [real_dataset, train], drop_annotations=True)
    assert result.num_demos == 20 and result.left_out == ("obs/datagen_info",)
    with DatasetReader(tmp_path / "m.hdf5") as r:
        assert not r.is_annotated()
        np.testing.assert_array_equal(r.demo("demo_3").obs["joint_pos"], r.demo("demo_13").obs["joint_pos"])
    assert validate(tmp_path / "m.hdf5") == []


def test_merge_refuses_different_obs_keys_unless_common_keys(tmp_path, real_dataset):
    from tests.datasets.broken_files import training_copy

    plain = training_copy(real_dataset, tmp_path / "plain.hdf5")
    images = training_copy(real_dataset, tmp_path / "images.hdf5")
    with h5py.File(images, "r+") as f:
        for demo in f["data"].values():
            demo["obs"].create_dataset("table_cam", data=np.ones((demo["actions"].shape[0], 4, 4, 3), np.uint8))
    with pytest.raises(DatasetFormatError, match=r"inputs differ in their obs keys \(.*images.hdf5 has table_cam "
                       r"that .*plain.hdf5 lacks\).*--common-keys"):
        merge_datasets(tmp_path / "m.hdf5", [plain, images])
    result = merge_datasets(tmp_path / "m.hdf5", [plain, images], common_keys=True)
    assert result.left_out == ("obs/table_cam",)
    with h5py.File(tmp_path / "m.hdf5", "r") as f:
        assert all("table_cam" not in d["obs"] for d in f["data"].values())
        assert f["data/demo_12/obs/joint_pos"].compression == f["data/demo_2/obs/joint_pos"].compression
    assert validate(tmp_path / "m.hdf5") == []


def test_cli_merge_mixed_inputs_is_one_line(cli, tmp_path, real_dataset):
    from tests.datasets.broken_files import training_copy

    train = training_copy(real_dataset, tmp_path / "train.hdf5")
    r = cli("merge", str(tmp_path / "m.hdf5"), str(real_dataset), str(train))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert str(train) in r.stderr and "--drop-annotations" in r.stderr
    ok = cli("merge", str(tmp_path / "m.hdf5"), str(real_dataset), str(train), "--drop-annotations")
    assert ok.returncode == 0 and "leaving out obs/datagen_info" in ok.stdout
