from __future__ import annotations

import h5py
import numpy as np
import pytest

from mimicforge.datasets import DatasetReader, load_source_dataset, signal_order, subtask_boundaries
from mimicforge.errors import DatasetFormatError
from mimicforge.tasks import FRANKA_STACK

# Spec §4.4: first True index of grasp_1 / stack_1 / grasp_2 and lengths of NVIDIA's 10 demos.
FIRST_TRUE = {
    "demo_0": (61, 108, 158, 236), "demo_1": (53, 99, 151, 233), "demo_2": (23, 86, 115, 194),
    "demo_3": (37, 85, 126, 209), "demo_4": (43, 98, 155, 232), "demo_5": (26, 87, 123, 185),
    "demo_6": (46, 124, 164, 247), "demo_7": (35, 83, 145, 218), "demo_8": (39, 85, 130, 230),
    "demo_9": (37, 97, 120, 179),
}


def test_real_file_demos_and_boundaries(real_dataset):
    src = load_source_dataset(real_dataset, FRANKA_STACK.term_signals("franka"))
    assert src.env_name == "Isaac-Stack-Cube-Franka-IK-Rel-Mimic-v0"
    assert [d.name for d in src.demos] == [f"demo_{i}" for i in range(10)]
    order = FRANKA_STACK.term_signals("franka")
    for demo, ends in zip(src.demos, src.boundaries(order)):
        g1, s1, g2, length = FIRST_TRUE[demo.name]
        assert ends == [g1 + 1, s1 + 1, g2 + 1, length]
        assert demo.actions.shape == (length, 7) and demo.actions.dtype == np.float32
        info = demo.datagen_info
        assert info.eef_pose["franka"].shape == (length, 4, 4)
        assert set(info.object_pose) == {"cube_1", "cube_2", "cube_3"}
        assert all(s.dtype == np.bool_ and s.shape == (length,) for s in info.subtask_term_signals.values())


def test_boundaries_match_isaac_first_nonzero_diff_rule():
    sig = np.zeros(20, bool)
    sig[7:12] = True  # first True at 7 -> end 8, later drop ignored
    assert subtask_boundaries({"a": sig}, ["a"], 20, "d") == [8, 20]
    starts_true = np.ones(20, bool)
    starts_true[5:] = False  # Isaac uses the first change (the 1->0 edge at index 4) -> end 6
    assert subtask_boundaries({"a": starts_true}, ["a"], 20, "d") == [6, 20]


@pytest.mark.parametrize("values, words", [(np.zeros(9, bool), "never turns True"),
                                           (np.ones(9, bool), "True at every step")])
def test_signal_without_edge_names_demo_and_signal(values, words):
    with pytest.raises(DatasetFormatError, match=rf"demo_4: subtask signal 'grasp_1' {words}"):
        subtask_boundaries({"grasp_1": values}, ["grasp_1"], 9, "demo_4")
    with pytest.raises(DatasetFormatError, match="grasp_1"):
        signal_order({"grasp_1": values}, "demo_4")


def test_signal_order_follows_first_edges():
    a, b = np.zeros(10, bool), np.zeros(10, bool)
    a[6:], b[2:] = True, True
    assert signal_order({"a": a, "b": b}, "d") == ["b", "a"]


def test_reader_reads_only_requested_parts(real_dataset):
    with DatasetReader(real_dataset) as r:
        d = r.demo("demo_2", parts=("actions",))
        assert d.actions.shape == (194, 7) and d.datagen_info is None and d.obs == {}
        full = r.demo("demo_2")
        assert "datagen_info" not in full.obs and full.obs["eef_pos"].shape == (194, 3)
        assert full.initial_state["rigid_object"]["cube_1"]["root_pose"].shape == (1, 7)


def test_unannotated_source_is_rejected_with_annotation_hint(tmp_path, real_dataset):
    path = tmp_path / "plain.hdf5"
    with h5py.File(real_dataset) as src, h5py.File(path, "w") as dst:
        src.copy("data", dst)
        del dst["data/demo_3/obs/datagen_info"]
    with pytest.raises(DatasetFormatError, match=r"demo_3 has no obs/datagen_info; annotate it"):
        load_source_dataset(path)


def test_length_mismatch_is_reported(tmp_path, real_dataset):
    path = tmp_path / "short.hdf5"
    with h5py.File(real_dataset) as src, h5py.File(path, "w") as dst:
        src.copy("data", dst)
        eef = dst["data/demo_1/obs/eef_pos"][:100]
        del dst["data/demo_1/obs/eef_pos"]
        dst["data/demo_1/obs/eef_pos"] = eef
    with pytest.raises(DatasetFormatError, match=r"demo_1/obs/eef_pos has 100 steps but actions has 233"):
        load_source_dataset(path)
