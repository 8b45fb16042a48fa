"""A Cosmos round trip that travels: a prepare folder moved elsewhere, submitted to the local stand-in server, its
results ingested with two cameras into one demo per source demo; names read back from requests and manifests kept
inside the folder; a killed submit resumed; control videos and unknown cameras refused."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse

import h5py
import numpy as np
import pytest

from mimicforge.datasets import layout
from tests.media.cosmos_data import make_dataset, write_folders
from tests.media.cosmos_server import FakeCosmos

CAMS = ("table_cam", "table_high_cam")


@pytest.fixture
def generated(tmp_path):
    """Two demos with frames of two cameras, and the per-attempt attributes a generated dataset carries."""
    (tmp_path / "gen").mkdir()
    ds = make_dataset(tmp_path / "gen" / "d.hdf5", (9, 7))
    for k, n in ((0, 9), (1, 7)):
        write_folders(tmp_path / "gen" / "output", k, n, cameras=CAMS)
    with h5py.File(ds, "a") as f:
        for k in (0, 1):
            a = f[f"data/demo_{k}"].attrs
            a[layout.ATTR_ATTEMPT], a[layout.ATTR_WORKER] = np.int64(3 + k), np.int64(0)
            a[layout.ATTR_METRICS] = json.dumps({"attempt": 3 + k, "success": True})
    return ds


def prepare(cli, ds, out, *extra):
    r = cli("cosmos", "prepare", str(ds), "--out", str(out), "--output-dir", str(ds.parent / "output"),
            "--frames", "0", *extra)
    assert r.returncode == 0, r.stderr
    return out


def test_moved_prepare_folder_round_trip_with_two_cameras(cli, generated, tmp_path):
    ds = generated
    first = prepare(cli, ds, tmp_path / "gen" / "cosmos")
    moved = tmp_path / "gpu-node" / "jobs" / "cosmos"
    moved.parent.mkdir(parents=True)
    shutil.move(first, moved)  # as copied to another machine: nothing may point back to where it was written
    for f in moved.glob("*.json"):
        assert str(tmp_path) not in f.read_text(), f.name
    with FakeCosmos(polls_before_done=1) as server:
        r = cli("cosmos", "submit", str(moved), "--server", server.url, "--poll-interval", "0.01")
        assert r.returncode == 0, r.stderr
    assert len(server.submits) == 4 and len(list(moved.glob("*.result.mp4"))) == 4
    aug = tmp_path / "aug.hdf5"
    r = cli("cosmos", "ingest", str(ds), "--from", str(moved), "--out", str(aug), "--keep-originals")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith(f"wrote 4 demos (2 augmented, cameras {', '.join(CAMS)}) to {aug}")
    with h5py.File(ds) as src, h5py.File(aug) as f:
        for new, old in (("demo_2", "demo_0"), ("demo_3", "demo_1")):
            g = f[f"data/{new}"]
            steps = src[f"data/{old}/actions"].shape[0]
            for cam in CAMS:  # both cameras in the one augmented demo
                assert g[f"obs/{cam}"].shape == (steps, 200, 200, 3) and g[f"obs/{cam}"].dtype == np.uint8
            assert g.attrs["augmented_from"] == old
            assert json.loads(g.attrs["augmented_videos"]) == {
                cam: f"shaded_segmentation_{cam}_demo_{old[5:]}.result.mp4" for cam in CAMS}
            assert not set(layout.PER_ATTEMPT_ATTRS) & set(g.attrs)  # the source's attempt stays with the source
        attempts = [int(f[f"data/{d}"].attrs[layout.ATTR_ATTEMPT]) for d in f["data"]
                    if layout.ATTR_ATTEMPT in f[f"data/{d}"].attrs]
        assert attempts == [3, 4]  # the originals only, each once
        assert len(f["data"]) == 4

    # an Isaac Lab style folder holds control videos: refused; Isaac Lab named results of both cameras: one demo each
    il = prepare(cli, ds, tmp_path / "gen" / "cosmos_il", "--style", "isaaclab", "--demos", "0")
    r = cli("cosmos", "ingest", str(ds), "--videos", str(il), "--out", str(tmp_path / "il.hdf5"))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "4 control video(s) (demo_0_table_cam_depth.mp4, demo_0_table_cam_shaded_segmentation.mp4, " \
        "demo_0_table_high_cam_depth.mp4 and 1 more), Cosmos inputs rather than results" in r.stderr
    assert not (tmp_path / "il.hdf5").exists()
    results = tmp_path / "transfer_out"
    results.mkdir()
    for k in (0, 1):
        for cam in CAMS:
            shutil.copy(moved / f"shaded_segmentation_{cam}_demo_{k}.result.mp4", results / f"demo_{k}_{cam}.mp4")
    r = cli("cosmos", "ingest", str(ds), "--videos", str(results), "--cameras", ",".join(CAMS), "--out",
            str(tmp_path / "il.hdf5"), "--json")
    assert r.returncode == 0, r.stderr
    made = json.loads(r.stdout)["augmented"]
    assert [(m["from"], sorted(m["videos"])) for m in made] == [("demo_0", list(CAMS)), ("demo_1", list(CAMS))]
    with h5py.File(tmp_path / "il.hdf5") as f:
        assert sorted(f["data"]) == ["demo_0", "demo_1"]
        assert {k for k in f["data/demo_0/obs"] if k in CAMS} == set(CAMS)


def test_videos_of_unknown_cameras_are_refused_in_one_line(cli, generated, tmp_path):
    from mimicforge.media.video import write_video

    videos = tmp_path / "videos"
    grey = [np.full((16, 24, 3), 20 * t, np.uint8) for t in range(9)]
    for name, n in (("demo_0_table_cam.mp4", 9), ("demo_0_wrist_cam.mp4", 9), ("demo_1_wrist_cam_rain.mp4", 7),
                    ("clip.mp4", 9)):
        write_video(iter(grey[:n]), videos / name, fps=30)
    r = cli("cosmos", "ingest", str(generated), "--videos", str(videos), "--out", str(tmp_path / "a.hdf5"))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "2 video(s) of a camera other than table_cam (demo_0_wrist_cam.mp4, demo_1_wrist_cam_rain.mp4; pass " \
        "--cameras to name every camera)" in r.stderr
    assert "1 video(s) not named demo_<k>_<camera>[_<variant>].mp4 (clip.mp4)" in r.stderr
    (videos / "clip.mp4").unlink()
    r = cli("cosmos", "ingest", str(generated), "--videos", str(videos), "--cameras", "table_cam,wrist_cam",
            "--out", str(tmp_path / "a.hdf5"), "--json")
    assert r.returncode == 0, r.stderr
    made = json.loads(r.stdout)["augmented"]  # demo_0 (both cameras), then demo_1's "rain" variant
    assert [(m["from"], m["variant"], sorted(m["videos"])) for m in made] == [
        ("demo_0", "", ["table_cam", "wrist_cam"]), ("demo_1", "rain", ["wrist_cam"])]


def test_paths_read_back_must_stay_inside_the_folder(cli, generated, tmp_path):
    out = prepare(cli, generated, tmp_path / "cosmos", "--cameras", "table_cam")
    request = out / "shaded_segmentation_table_cam_demo_0.json"
    original = request.read_text()
    secret = tmp_path / "secret.mp4"
    secret.write_bytes(b"not for the server")
    with FakeCosmos(polls_before_done=0) as server:
        for bad in (str(secret), "../secret.mp4"):
            request.write_text(json.dumps({**json.loads(original), "video": bad}))
            r = cli("cosmos", "submit", str(out), "--server", server.url, "--poll-interval", "0.01")
            assert r.returncode == 2 and f"names {bad!r}, outside its folder" in r.stderr, r.stderr
        (out / "link.mp4").symlink_to(secret)
        request.write_text(json.dumps({**json.loads(original), "video": "link.mp4"}))
        r = cli("cosmos", "submit", str(out), "--server", server.url, "--poll-interval", "0.01")
        assert r.returncode == 2 and "which links outside" in r.stderr
        request.write_text(original)
        manifest = out / "cosmos_inputs.json"
        m = json.loads(manifest.read_text())
        m["videos"][0]["request"] = str(tmp_path / "elsewhere.json")
        manifest.write_text(json.dumps(m))
        r = cli("cosmos", "submit", str(out), "--server", server.url, "--poll-interval", "0.01")
        assert r.returncode == 2 and "outside its folder" in r.stderr
        r = cli("cosmos", "ingest", str(generated), "--from", str(out), "--out", str(tmp_path / "a.hdf5"))
        assert r.returncode == 2 and "outside its folder" in r.stderr
    assert server.submits == []  # every name is checked before anything is sent


def test_killed_submit_resumes_its_saved_job(generated, tmp_path, cli):
    out = prepare(cli, generated, tmp_path / "cosmos", "--cameras", "table_cam")
    job_file = out / "shaded_segmentation_table_cam_demo_0.job.json"
    with FakeCosmos(polls_before_done=10**9, job_prefix="run/7?x=") as server:  # a job id that needs quoting
        env = {k: v for k, v in os.environ.items() if k != "MIMICFORGE_DEBUG"}
        proc = subprocess.Popen([sys.executable, "-m", "mimicforge", "cosmos", "submit", str(out), "--server",
                                 server.url, "--poll-interval", "0.05"], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while not (job_file.is_file() and any(e.startswith("GET /canny/status/") for e in server.log)):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        saved = json.loads(job_file.read_text())
        assert saved["status"] == "processing" and saved["job_id"].startswith("run/7?x=")
        assert len(server.submits) == 1
        server.polls_before_done = 0
        r = cli("cosmos", "submit", str(out), "--server", server.url, "--poll-interval", "0.01", "--json")
        assert r.returncode == 0, r.stderr
        assert len(server.submits) == 2  # demo_0's saved job fetched, only demo_1 sent
        assert f"GET /canny/result/{urllib.parse.quote(saved['job_id'], safe='')}" in server.log
        records = json.loads(r.stdout)["results"]
        assert records[0]["job_id"] == saved["job_id"] and records[0]["status"] == "completed"
        assert (out / "shaded_segmentation_table_cam_demo_0.result.mp4").read_bytes() == \
            (out / "shaded_segmentation_table_cam_demo_0.mp4").read_bytes()
        # a saved job the server no longer knows: one warning, then submitted anew
        (out / "shaded_segmentation_table_cam_demo_0.result.mp4").unlink()
        job_file.write_text(json.dumps({"job_id": "gone", "server": server.url, "status": "processing"}))
        r = cli("cosmos", "submit", str(out), "--server", server.url, "--poll-interval", "0.01")
        assert r.returncode == 0, r.stderr
        assert "no longer knows job gone; submitting anew" in r.stderr and len(server.submits) == 3


def test_results_beyond_the_size_cap_are_refused(cli, generated, tmp_path):
    out = prepare(cli, generated, tmp_path / "cosmos", "--cameras", "table_cam", "--demos", "0")
    size = (out / "shaded_segmentation_table_cam_demo_0.mp4").stat().st_size
    with FakeCosmos(polls_before_done=0) as server:
        r = cli("cosmos", "submit", str(out), "--server", server.url, "--poll-interval", "0.01",
                "--max-result-mb", str((size - 1) / (1 << 20)))
        assert r.returncode == 2 and r.stderr.strip().splitlines()[-1].startswith("mimicforge: error: the result ")
        assert "is larger than --max-result-mb" in r.stderr and "Traceback" not in r.stderr
        assert not list(out.glob("*.result.mp4")) and not list(out.glob(".*partial"))
        r = cli("cosmos", "submit", str(out), "--server", server.url, "--poll-interval", "0.01",
                "--max-result-mb", str(size / (1 << 20)))
        assert r.returncode == 0 and len(server.submits) == 1  # the completed job was fetched, not sent again
