"""``mimicforge generate`` end to end on the twin, from NVIDIA's annotated file, as a user runs it."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import toml

from mimicforge.datasets import DatasetReader, validate
from mimicforge.outputs import REQUIRED_METRICS_KEYS, read_metrics
from tests.conftest import REPO


def gen(cli, real_dataset, out, *extra, env=None):
    return cli("generate", "--input", str(real_dataset), "--output", str(out), *extra, env=env)


def demo_hashes(path) -> list[str]:
    with DatasetReader(path) as r:
        return [hashlib.sha1(r.demo(n, parts=("actions",)).actions.tobytes()).hexdigest() for n in r.demo_names]


def dataset_paths(path, demo) -> set[str]:
    out = set()
    with h5py.File(path, "r") as f:
        f[f"data/{demo}"].visit(out.add)
    return out


def test_generate_writes_isaac_layout_metrics_and_config(cli, real_dataset, tmp_path):
    out = tmp_path / "gen.hdf5"
    r = gen(cli, real_dataset, out, "--num-trials", "3", "--seed", "5", "--keep-failed", "--json", "-v")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["successes"] == 3 and summary["reached"] is True
    # -v: our per-attempt detail, none of the libraries' debug chatter (h5py, OpenGL, PIL, ...)
    debug = [line for line in r.stderr.splitlines() if " DEBUG " in line]
    assert len([line for line in debug if "DEBUG mimicforge: attempt " in line]) == summary["attempts"]
    assert all(" DEBUG mimicforge" in line for line in debug), debug
    assert "sources demo_" in debug[0] and " steps in " in debug[0]
    # the summary names the input and every file written, with sizes
    assert summary["input"] == str(real_dataset) and summary["input_is_default"] is False
    written = {Path(w["path"]).name: w for w in summary["written"]}
    assert set(written) >= {"gen.hdf5", "gen.config.toml", "gen.metrics.jsonl"}
    assert written["gen.hdf5"]["bytes"] == out.stat().st_size
    assert validate(out) == []
    with DatasetReader(out) as rd:
        assert rd.demo_names == ["demo_0", "demo_1", "demo_2"]
        assert rd.env_args["env_name"] == "Isaac-Stack-Cube-Franka-IK-Rel-Mimic-v0"
        assert rd.env_args["sim_args"]["decimation"] == 5
        assert all(bool(rd.group(n).attrs["success"]) for n in rd.demo_names)
    # Isaac Lab's generated layout: the annotated source's paths minus datagen_info (plus processed_actions)
    with h5py.File(real_dataset) as f:
        src = set()
        f["data/demo_0"].visit(src.add)
    expected = {p for p in src if "datagen_info" not in p} | {"processed_actions"}
    assert dataset_paths(out, "demo_0") == expected
    recs = list(read_metrics(tmp_path / "gen.metrics.jsonl"))
    assert len(recs) == summary["attempts"]
    assert all(set(REQUIRED_METRICS_KEYS) <= rec.keys() for rec in recs)
    assert [rec["attempt"] for rec in recs] == list(range(len(recs)))
    assert sum(rec["success"] for rec in recs) == 3
    for rec in recs:
        assert len(rec["source_demos"]) == 4 and rec["steps"] > 150
        assert (rec["failed_subtask"] is None) == rec["success"]
        assert rec["source_steps"] > 100 and 0.0 <= rec["idle_share"] < 0.5
        assert rec["length_ratio"] == pytest.approx(rec["steps"] / rec["source_steps"], abs=1e-4)
    kept = [rec for rec in recs if rec["success"]]
    assert summary["mean_steps"] == pytest.approx(sum(r["steps"] for r in kept) / 3, abs=0.05)
    assert summary["idle_share"] == pytest.approx(sum(r["idle_share"] for r in kept) / 3, abs=1e-3)
    shown = json.loads(cli("inspect", str(out), "--json").stdout)
    assert [d["length_ratio"] for d in shown["demos"]] == pytest.approx([r["length_ratio"] for r in kept], abs=1e-3)
    assert [d["idle_share"] for d in shown["demos"]] == pytest.approx([r["idle_share"] for r in kept], abs=1e-3)
    failed = [rec for rec in recs if not rec["success"]]
    if failed:
        with DatasetReader(tmp_path / "gen_failed.hdf5") as rd:
            assert len(rd.demo_names) == len(failed)
    saved = (tmp_path / "gen.config.toml").read_text()
    assert "num_trials = 3" in saved and "seed = 5" in saved
    ran = toml.loads(saved)
    assert ran["ran"] == {"engine": "mujoco", "device": "cpu"} and ran["generation"]["engine"] == "mujoco"
    assert "device" not in ran["generation"]  # an Isaac Lab setting the twin did not use
    with h5py.File(out) as f:
        assert "num_trials = 3" in f["data"].attrs["mimicforge_config"]


def test_existing_output_needs_resume_or_overwrite(cli, real_dataset, tmp_path):
    out = tmp_path / "gen.hdf5"
    assert gen(cli, real_dataset, out, "--num-trials", "1").returncode == 0
    before = out.read_bytes()
    r = gen(cli, real_dataset, out, "--num-trials", "2")
    assert r.returncode == 2 and "--resume" in r.stderr and "--overwrite" in r.stderr
    assert out.read_bytes() == before
    r = gen(cli, real_dataset, out, "--num-trials", "2", "--resume", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["successes"] == 2
    first = demo_hashes(out)
    r = gen(cli, real_dataset, out, "--num-trials", "1", "--overwrite")
    assert r.returncode == 0 and len(demo_hashes(out)) == 1 and demo_hashes(out)[0] == first[0]


def test_same_seed_same_output(cli, real_dataset, tmp_path):
    a, b = tmp_path / "a.hdf5", tmp_path / "b.hdf5"
    assert gen(cli, real_dataset, a, "--num-trials", "2", "--seed", "11").returncode == 0
    assert gen(cli, real_dataset, b, "--num-trials", "2", "--seed", "11").returncode == 0
    with DatasetReader(a) as ra, DatasetReader(b) as rb:
        assert ra.demo_names == rb.demo_names
        for n in ra.demo_names:
            da, db = ra.demo(n), rb.demo(n)
            np.testing.assert_array_equal(da.actions, db.actions)
            np.testing.assert_array_equal(da.obs["eef_pos"], db.obs["eef_pos"])
            np.testing.assert_array_equal(da.states["rigid_object"]["cube_3"]["root_pose"],
                                          db.states["rigid_object"]["cube_3"]["root_pose"])
    ma = [{k: v for k, v in r.items() if k != "seconds"} for r in read_metrics(tmp_path / "a.metrics.jsonl")]
    mb = [{k: v for k, v in r.items() if k != "seconds"} for r in read_metrics(tmp_path / "b.metrics.jsonl")]
    assert ma == mb


def _start(real_dataset, out, n, *extra):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join((str(REPO / "src"), str(REPO)))}
    env.pop("MIMICFORGE_DEBUG", None)
    return subprocess.Popen(
        [sys.executable, "-m", "mimicforge", "generate", "--input", str(real_dataset), "--output", str(out),
         "--num-trials", str(n), "--progress-interval", "0", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _wait_for_successes(proc, out, k, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = proc.stderr.readline()
        if f"generate: {k}/" in line:
            return
        assert line or proc.poll() is None, "generation ended early"
    raise AssertionError("no progress")


def test_sigkill_then_resume_gives_exactly_n_and_same_demos(cli, real_dataset, tmp_path):
    n = 8
    killed = tmp_path / "killed.hdf5"
    proc = _start(real_dataset, killed, n, "--seed", "3")
    _wait_for_successes(proc, killed, 2)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert validate(killed) == []  # the file is valid right after the kill
    with DatasetReader(killed) as r:
        assert 2 <= len(r.demo_names) < n
    r = gen(cli, real_dataset, killed, "--num-trials", str(n), "--resume", "--json")
    assert r.returncode == 0, r.stderr
    assert validate(killed) == []
    hashes = demo_hashes(killed)
    assert len(hashes) == n and len(set(hashes)) == n
    clean = tmp_path / "clean.hdf5"
    assert gen(cli, real_dataset, clean, "--num-trials", str(n), "--seed", "3").returncode == 0
    assert demo_hashes(clean) == hashes  # the resumed run did exactly what an uninterrupted one does
    attempts = [rec["attempt"] for rec in read_metrics(tmp_path / "killed.metrics.jsonl")]
    assert len(attempts) == len(set(attempts))


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_stops_cleanly_with_valid_file(real_dataset, tmp_path, sig, code):
    out = tmp_path / "gen.hdf5"
    proc = _start(real_dataset, out, 50)
    _wait_for_successes(proc, out, 1)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "--resume" in err.strip().splitlines()[-1] and "Traceback" not in err
    assert validate(out) == []
    with DatasetReader(out) as r:
        assert len(r.demo_names) >= 1


def test_hopeless_run_stops_with_clear_message(cli, real_dataset, tmp_path):
    r = gen(cli, real_dataset, tmp_path / "gen.hdf5", "--num-trials", "5", "--action-noise", "1.0",
            "--max-consecutive-failures", "3")
    assert r.returncode == 1
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("mimicforge: error: 3 attempts in a row failed")


@pytest.mark.parametrize("value", ["zero", "0", "-2", "1.5"])
def test_bad_num_trials_env_is_quoted(cli, real_dataset, tmp_path, value):
    r = gen(cli, real_dataset, tmp_path / "gen.hdf5", env={"NUM_TRIALS": value})
    assert r.returncode == 2
    assert f"NUM_TRIALS={value!r}" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "gen.hdf5").exists()


def test_no_input_points_to_record(cli, tmp_path):
    r = cli("generate", "--output", str(tmp_path / "gen.hdf5"), cwd=tmp_path)
    assert r.returncode == 2 and "mimicforge record" in r.stderr
    assert not any(tmp_path.iterdir())


def test_per_trial_selection_replays_one_source_for_all_subtasks(cli, real_dataset, tmp_path):
    r = gen(cli, real_dataset, tmp_path / "gen.hdf5", "--num-trials", "3", "--stop-on", "attempts",
            "--select-source", "per_trial", "--isaac-parity")
    assert r.returncode == 0, r.stderr
    lengths = {f"demo_{i}": n for i, n in enumerate([236, 233, 194, 209, 232, 185, 247, 218, 230, 179])}
    for rec in read_metrics(tmp_path / "gen.metrics.jsonl"):
        assert len(set(rec["source_demos"])) == 1
        assert rec["steps"] == lengths[rec["source_demos"][0]] + 21  # Isaac Lab 2.3's T_src + 21


def test_cameras_write_folders_for_successes_only(cli, real_dataset, tmp_path):
    out = tmp_path / "gen.hdf5"
    r = gen(cli, real_dataset, out, "--num-trials", "2", "--cameras", "table_cam",
            "--modalities", "rgb,semantic_segmentation", "--width", "64", "--height", "36",
            "--output-dir", str(tmp_path / "output"))
    assert r.returncode == 0, r.stderr
    import imageio.v3 as iio

    with DatasetReader(out) as rd:
        lengths = {n: rd.length(n) for n in rd.demo_names}
    images = tmp_path / "output" / "gen"  # the dataset's own image folder
    assert [p.name for p in (tmp_path / "output").iterdir()] == ["gen"]
    assert sorted(p.name for p in images.iterdir()) == ["table_cam_rgb", "table_cam_semantic_segmentation"]
    for stream in ("table_cam_rgb", "table_cam_semantic_segmentation"):
        folders = sorted(p.name for p in (images / stream).iterdir())
        assert folders == sorted(lengths)  # successes only, numbered like the HDF5 demos
        for demo, t in lengths.items():
            steps = sorted((images / stream / demo).iterdir())
            assert [p.name for p in steps] == [f"step_{i:04d}.png" for i in range(t + 1)]
    img = iio.imread(images / "table_cam_semantic_segmentation" / "demo_0" / "step_0000.png")
    assert img.shape == (36, 64, 4) and img.dtype == np.uint8
    # the frames are the recorded states: the last one shows the final stack (every cube colour visible)
    last = iio.imread(images / "table_cam_semantic_segmentation" / "demo_1" / f"step_{lengths['demo_1']:04d}.png")
    colours = {tuple(int(v) for v in c) for c in last.reshape(-1, 4)}
    assert {(255, 36, 66, 255), (255, 184, 48, 255), (55, 255, 139, 255)} <= colours
    # the closing summary lists the dataset, its companions and each image folder with its size
    listing = r.stderr[r.stderr.index("generate: wrote"):].splitlines()[1:]
    assert any(line.split()[0] == str(out) for line in listing), listing
    files = sum(t + 1 for t in lengths.values())
    for stream in ("table_cam_rgb", "table_cam_semantic_segmentation"):
        row = next(line for line in listing if line.split()[0].endswith(f"{stream}/"))
        assert row.endswith(f" in {files} files")
    assert f"generate: input {real_dataset}\n" in r.stderr


def test_default_input_is_named_in_the_summary(cli, real_dataset, tmp_path):
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "annotated_dataset.hdf5").symlink_to(real_dataset)
    r = cli("generate", "--num-trials", "1", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["input"] == "datasets/annotated_dataset.hdf5" and summary["input_is_default"] is True
    text = cli("generate", "--num-trials", "1", "--overwrite", cwd=tmp_path)
    assert "generate: input datasets/annotated_dataset.hdf5 (the default input" in text.stderr


def _datasets_by_attempt(path) -> dict[tuple[int, int], dict[str, tuple[bytes, str | None, bool]]]:
    """{(worker, attempt): {dataset path: (bytes, compression, contiguous)}} of a file's demos."""
    from mimicforge.datasets import layout

    out = {}
    with h5py.File(path, "r") as f:
        for g in f["data"].values():
            found = {}
            g.visititems(lambda k, o: found.__setitem__(k, (o[()].tobytes(), o.compression, o.chunks is None))
                         if isinstance(o, h5py.Dataset) else None)
            out[(int(g.attrs[layout.ATTR_WORKER]), int(g.attrs[layout.ATTR_ATTEMPT]))] = found
    return out


def test_dataset_compression_off_stores_the_same_values_uncompressed_and_a_resume_keeps_it(cli, real_dataset,
                                                                                          tmp_path):
    on, off = tmp_path / "on.hdf5", tmp_path / "off.hdf5"
    # seed 4: 4 successes and 2 failures in 6 attempts, so both files are compared
    common = ("--num-trials", "6", "--stop-on", "attempts", "--workers", "2", "--keep-failed", "--seed", "4")
    assert gen(cli, real_dataset, on, *common).returncode == 0
    assert gen(cli, real_dataset, off, *common, env={"DATASET_COMPRESSION": "0"}).returncode == 0
    for a, b in ((on, off), (on.with_name("on_failed.hdf5"), off.with_name("off_failed.hdf5"))):
        zipped, plain = _datasets_by_attempt(a), _datasets_by_attempt(b)
        assert zipped.keys() == plain.keys() and zipped  # the same attempts (and successes) either way
        for key, datasets in plain.items():
            assert datasets.keys() == zipped[key].keys()
            for name, (data, compression, contiguous) in datasets.items():
                assert data == zipped[key][name][0], (key, name)
                assert (compression, contiguous) == (None, True), name
                assert zipped[key][name][1:] == ("gzip", False), name
    assert toml.load(off.with_name("off.config.toml"))["generation"]["dataset_compression"] is False
    # a resume continues with the run's saved settings: the new demos are uncompressed too
    assert gen(cli, real_dataset, off, "--resume", "--num-trials", "8").returncode == 0
    resumed = _datasets_by_attempt(off)
    assert len(resumed) > len(_datasets_by_attempt(on))
    assert {c for datasets in resumed.values() for _, c, _ in datasets.values()} == {None}
