"""cosmos submit against a local server with the blueprint server's endpoints, and cosmos ingest back into a dataset."""

from __future__ import annotations

import json
import socket

import h5py
import numpy as np
import pytest

from mimicforge.media.cosmos_client import ClientSettings, CosmosServerError, submit_dir
from tests.media.cosmos_data import make_dataset, write_folders
from tests.media.cosmos_server import FakeCosmos


@pytest.fixture
def prepared(cli, tmp_path):
    """A blueprint-style folder for a 2-demo dataset, whole demos (--frames 0) so results can be ingested."""
    ds = make_dataset(tmp_path / "d.hdf5", (14, 11))
    for k, n in ((0, 14), (1, 11)):
        write_folders(tmp_path / "output", k, n, modalities=("semantic_segmentation", "normals"))
    out = tmp_path / "cosmos"
    r = cli("cosmos", "prepare", str(ds), "--out", str(out), "--output-dir", str(tmp_path / "output"),
            "--frames", "0", "--seed", "7", "--sigma-max", "55", "--canny-strength", "Very High")
    assert r.returncode == 0, r.stderr
    return ds, out


def test_submit_sends_the_documented_fields_and_saves_results_beside_requests(cli, prepared):
    ds, out = prepared
    with FakeCosmos(polls_before_done=2) as server:
        r = cli("cosmos", "submit", str(out), "--server", server.url, "--poll-interval", "0.05")
        assert r.returncode == 0, r.stderr
        assert len(server.submits) == 2
        sent = server.submits[0]
        req = json.loads((out / "shaded_segmentation_table_cam_demo_0.json").read_text())
        assert sent["content_type"].startswith("multipart/form-data; boundary=")
        assert sent["fields"] == {"prompt": req["prompt"], "sigma_max": "55.0", "control_weight": "0.6",
                                  "canny_strength": "very_high", "seed": "7"}
        assert sent["video"][0] == "shaded_segmentation_table_cam_demo_0.mp4" and sent["video"][1] == "video/mp4"
        assert sent["video"][2] == (out / "shaded_segmentation_table_cam_demo_0.mp4").read_bytes()
        assert server.log.count("POST /canny/submit") == 2
        assert sum(e.startswith("GET /canny/status/") for e in server.log) == 6  # 2 processing + completed, each
        result = out / "shaded_segmentation_table_cam_demo_0.result.mp4"
        assert result.read_bytes() == sent["video"][2]
        job = json.loads((out / "shaded_segmentation_table_cam_demo_0.job.json").read_text())
        assert job["status"] == "completed" and job["result"] == result.name
        assert "submitted as job" in r.stderr and "processing" in r.stderr and "saved" in r.stderr
        # results present: a second run submits nothing
        r = cli("cosmos", "submit", str(out), "--server", server.url, "--json")
        assert r.returncode == 0 and len(server.submits) == 2
        assert [x["status"] for x in json.loads(r.stdout)["results"]] == ["exists", "exists"]


def test_server_errors_are_retried_with_backoff(prepared):
    _, out = prepared
    waits: list[float] = []
    with FakeCosmos(polls_before_done=0, fail_submits=2) as server:
        records = submit_dir(out, server.url, settings=ClientSettings(poll_interval=0.01, backoff=0.5),
                             sleep=waits.append)
    assert [r["status"] for r in records] == ["completed", "completed"]
    assert waits == [0.5, 1.0] and server.log.count("POST /canny/submit") == 4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_bad_server_timeout_and_failed_job_are_one_line(cli, prepared):
    _, out = prepared
    r = cli("cosmos", "submit", str(out), "--server", f"http://127.0.0.1:{_free_port()}", "--retries", "1",
            "--backoff", "0.01")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 2  # one retry warning, then the error line
    assert r.stderr.strip().splitlines()[-1].startswith("mimicforge: error: POST http://127.0.0.1:")
    assert "failed after 2 tries: [Errno 111] Connection refused" in r.stderr
    with FakeCosmos(delay=1.0) as server:
        r = cli("cosmos", "submit", str(out), "--server", server.url, "--timeout", "0.2", "--retries", "0")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "failed after 1 tries: timed out" in r.stderr
    with FakeCosmos(job_fails=True, polls_before_done=0) as server:
        r = cli("cosmos", "submit", str(out), "--server", server.url, "--poll-interval", "0.01", "--json")
    assert r.returncode == 1 and r.stderr.strip().endswith("failed on the server: Command failed: CUDA out of memory")
    r = cli("cosmos", "submit", str(out), "--server", "cosmos-host:5000")
    assert r.returncode == 2 and "must be an http(s) URL" in r.stderr
    with pytest.raises(CosmosServerError, match="did not answer JSON"):
        with FakeCosmos() as server:
            server.server.RequestHandlerClass.do_POST = lambda h: h._send(200, b"<html>", "text/html")
            submit_dir(out, server.url, settings=ClientSettings(retries=0))


def test_ingest_puts_augmented_frames_into_a_copy_of_each_demo(cli, prepared, tmp_path):
    ds, out = prepared
    with FakeCosmos(polls_before_done=0) as server:
        assert cli("cosmos", "submit", str(out), "--server", server.url, "--poll-interval", "0.01").returncode == 0
    aug = tmp_path / "augmented.hdf5"
    r = cli("cosmos", "ingest", str(ds), "--from", str(out), "--out", str(aug), "--keep-originals", "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["num_demos"] == 4 and [a["from"] for a in summary["augmented"]] == ["demo_0", "demo_1"]
    with h5py.File(ds) as src, h5py.File(aug) as f:
        assert "table_cam" not in f["data/demo_0/obs"]  # the originals, unchanged
        for new, old in (("demo_2", "demo_0"), ("demo_3", "demo_1")):
            g, s = f[f"data/{new}"], src[f"data/{old}"]
            images = g["obs/table_cam"]
            assert images.dtype == np.uint8 and images.shape == (s["actions"].shape[0], 200, 200, 3)
            assert g.attrs["augmented_from"] == old
            assert np.array_equal(g["actions"][()], s["actions"][()])
            assert np.array_equal(g["states/articulation/robot/joint_position"][()],
                                  s["states/articulation/robot/joint_position"][()])
            assert set(g["obs"]) == set(s["obs"]) | {"table_cam"}
        assert f["data"].attrs["total"] == 2 * (14 + 11)
    # originals without images beside augmented demos with them: validate says training cannot use the mix
    v = cli("validate", str(aug))
    assert v.returncode == 1 and "obs/table_cam is only in some demos (2 of 4;" in v.stdout
    r = cli("cosmos", "ingest", str(ds), "--from", str(out), "--out", str(aug))
    assert r.returncode == 2 and "already exists; pass --overwrite" in r.stderr


def test_ingest_refuses_videos_that_cover_part_of_a_demo(cli, tmp_path):
    ds = make_dataset(tmp_path / "d.hdf5", (6,))
    write_folders(tmp_path / "output", 0, 6, modalities=("semantic_segmentation", "normals"))
    out = tmp_path / "cosmos"
    r = cli("cosmos", "prepare", str(ds), "--out", str(out), "--output-dir", str(tmp_path / "output"), "--frames", "4")
    assert r.returncode == 0, r.stderr
    with FakeCosmos(polls_before_done=0) as server:
        assert cli("cosmos", "submit", str(out), "--server", server.url, "--poll-interval", "0.01").returncode == 0
    r = cli("cosmos", "ingest", str(ds), "--from", str(out), "--out", str(tmp_path / "a.hdf5"))
    assert r.returncode == 2 and "covers frames 2..6 of demo_0's 6 steps" in r.stderr
    assert not (tmp_path / "a.hdf5").exists()


def test_ingest_isaac_lab_named_videos_keeps_the_existing_image_size(cli, tmp_path):
    from mimicforge.media.video import write_video
    from tests.media.cosmos_data import add_obs_images

    ds = make_dataset(tmp_path / "d.hdf5", (5, 4))
    add_obs_images(ds, 1)  # demo_1 has obs/table_cam at 16 x 24
    videos = tmp_path / "augmented"
    grey = [np.full((32, 48, 3), 30 * t, np.uint8) for t in range(6)]
    write_video(iter(grey[:5]), videos / "demo_0_table_cam.mp4", fps=30)
    write_video(iter(grey[:4]), videos / "demo_1_table_cam_rain.mp4", fps=30)
    out = tmp_path / "aug.hdf5"
    r = cli("cosmos", "ingest", str(ds), "--videos", str(videos), "--out", str(out), "--size", "64x40")
    assert r.returncode == 0, r.stderr
    with h5py.File(out) as f:
        a, b = f["data/demo_0/obs/table_cam"], f["data/demo_1/obs/table_cam"]
        assert a.shape == (5, 40, 64, 3) and b.shape == (4, 16, 24, 3)
        assert np.allclose([a[t].mean() for t in range(5)], [0, 30, 60, 90, 120], atol=2)  # h264 is lossy
        assert json.loads(f["data/demo_1"].attrs["augmented_videos"]) == {"table_cam": "demo_1_table_cam_rain.mp4"}
        assert "table_cam_segmentation" in f["data/demo_1/obs"]  # the rest of the demo is kept
    write_video(iter(grey), videos / "demo_0_table_cam.mp4", fps=30)  # 6 frames for 5 steps: the extra one drops
    write_video(iter(grey[:3]), videos / "demo_1_table_cam_rain.mp4", fps=30)
    r = cli("cosmos", "ingest", str(ds), "--videos", str(videos), "--out", str(out), "--overwrite")
    assert r.returncode == 2 and "demo_1_table_cam_rain.mp4 has 3 frames but demo_1 has 4 steps" in r.stderr
    r = cli("cosmos", "ingest", str(ds), "--videos", str(videos), "--from", str(videos), "--out", str(out))
    assert r.returncode == 2 and "exactly one of --from DIR" in r.stderr
    (videos / "demo_1_table_cam_rain.mp4").write_bytes(b"not a video")
    r = cli("cosmos", "ingest", str(ds), "--videos", str(videos), "--out", str(out), "--overwrite")
    assert r.returncode == 2 and "demo_1_table_cam_rain.mp4 is not a readable video" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
