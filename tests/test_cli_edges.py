"""Rough edges of the commands: bad demo names, missing output folders, progress, a missing optional package."""

from __future__ import annotations

import json

from mimicforge.datasets import DatasetReader


def test_preview_rejects_a_bad_demo_name_in_one_line(cli, real_dataset, tmp_path):
    r = cli("preview", str(real_dataset), "--demo", "foo", "--out", str(tmp_path / "p.gif"))
    assert r.returncode == 2
    assert r.stderr.strip() == ("mimicforge: error: --demo 'foo': expected a demo name or number, e.g. "
                                "--demo demo_0 or --demo 0")
    assert not (tmp_path / "p.gif").exists()


def test_record_creates_its_output_folder_and_shows_progress(cli, tmp_path):
    out = tmp_path / "new" / "folder" / "src.hdf5"
    r = cli("record", "--num-demos", "1", "--out", str(out), "--json", "--progress-interval", "0")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["successes"] == 1
    assert "record: 1/1 successes" in r.stderr
    with DatasetReader(out) as rd:
        assert rd.demo_names == ["demo_0"]


def test_replay_shows_progress(cli, real_dataset):
    r = cli("replay", str(real_dataset), "--progress-interval", "0", "--json")
    assert r.returncode == 0, r.stderr
    assert "replay: 10/10 attempts" in r.stderr


def test_missing_imageio_is_an_install_hint(cli, real_dataset, tmp_path):
    """A preview without imageio (an optional dependency) is the one-line pip command, not an internal error."""
    import os

    blocker = tmp_path / "blocker"
    (blocker / "imageio").mkdir(parents=True)
    (blocker / "imageio" / "__init__.py").write_text("raise ImportError('imageio hidden for this test')\n")
    path = os.pathsep.join([str(blocker), os.environ.get("PYTHONPATH", "")])
    out = tmp_path / "p.mp4"
    r = cli("preview", str(real_dataset), "--demo", "0", "--out", str(out), env={"PYTHONPATH": path})
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().endswith("install it with: pip install 'mimicforge[sim]'")
    assert len(r.stderr.strip().splitlines()) == 1
    assert not out.exists()
