"""The sharded finish (``run.finish``): killed with SIGKILL at every step boundary and inside the merge, then
finished again, it always ends with the same outputs: every demo OUT held (whatever its attributes), exactly the
goal's fresh demos, each with its own frames, one metrics line per attempt, and no staging."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import h5py
import pytest

from mimicforge.outputs import read_metrics
from tests.conftest import REPO
from tests.run import finish_state as state

pytestmark = pytest.mark.timeout(600)
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join((str(REPO / "src"), str(REPO)))}


def finish_in_child(root: Path, kill_at: int) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tests.run.finish_state", str(root), str(kill_at)],
                          capture_output=True, text=True, env=ENV, cwd=REPO, timeout=120)


def expected_fresh() -> list[int]:
    """Lengths of the shard demos the finish keeps: the first ones by (attempt, worker), up to the limit."""
    fresh = sorted((a, w, n) for w, a, n in state.SHARD_DEMOS)
    return [n for _, _, n in fresh[: state.LIMIT - len(state.ORIGINAL_LENGTHS)]]


def assert_finished(root: Path, originals: list[tuple[str, int]]) -> None:
    p = state.paths(root)
    demos = state.action_hashes(p["out"])
    assert demos[: len(originals)] == originals  # every demo OUT held, unchanged, in order
    assert [n for _, n in demos] == [*state.ORIGINAL_LENGTHS, *expected_fresh()]
    assert len({h for h, _ in demos}) == len(demos)
    folders = sorted((p["images"] / state.STREAM).iterdir(), key=lambda d: int(d.name.split("_")[1]))
    assert [d.name for d in folders] == [f"demo_{k}" for k in range(len(demos))]  # nothing partial or extra
    for (_, n), folder in zip(demos, folders):
        assert len(list(folder.iterdir())) == n + 1, f"{folder} holds another demo's frames"
    assert not p["shards"].exists() and not (p["images"] / ".shards").exists()
    with h5py.File(p["out"], "r") as f:  # the engine's sim_args join OUT's env_args, as in a one-process run
        assert json.loads(f["data"].attrs["env_args"]) == {"env_name": state.ENV, "type": 2, **state.SIM_ARGS}
    recs = list(read_metrics(p["out"].with_name("gen.metrics.jsonl")))
    shard = [r for r in recs if (r["worker"], r["attempt"]) != (0, 0)]
    assert len(recs) == 1 + len(state.SHARD_DEMOS) and len({(r["worker"], r["attempt"]) for r in shard}) == 6
    kept = {r["steps"]: r["demo"] for r in shard if r["demo"] is not None}
    fresh_names = {n: f"demo_{len(originals) + i}" for i, n in enumerate(expected_fresh())}
    assert kept == fresh_names


def test_finish_keeps_every_demo_and_places_each_demos_frames(tmp_path):
    state.build(tmp_path)
    originals = state.action_hashes(state.paths(tmp_path)["out"])
    outcome = state.finish(tmp_path)
    assert (outcome.successes, outcome.added, outcome.discarded) == (state.LIMIT, 4, 2)
    assert_finished(tmp_path, originals)
    again = state.finish(tmp_path)  # nothing left to do: nothing changes
    assert (again.successes, again.added) == (state.LIMIT, 0)
    assert_finished(tmp_path, originals)


def test_finish_killed_at_every_point_then_finished_again(tmp_path):
    """SIGKILL at each of the finish's kill points in turn (each commit of the merge before and after its swap,
    each frame folder placed, each step boundary), then finish again: the same final state every time."""
    probe = tmp_path / "probe"
    state.build(probe)
    r = finish_in_child(probe, 0)
    assert r.returncode == 0, r.stderr
    points = int(r.stdout.split("kill points ")[1])
    assert points >= 12, r.stdout  # 2 writers' commits (swap + after), 4 folders, 4 step boundaries at least
    for k in range(1, points + 1):
        root = tmp_path / f"kill_{k}"
        state.build(root)
        originals = state.action_hashes(state.paths(root)["out"])
        killed = finish_in_child(root, k)
        assert killed.returncode == -signal.SIGKILL, (k, killed.stdout, killed.stderr)
        assert "killed at" in killed.stdout
        state.finish(root)
        assert_finished(root, originals)


def test_existing_frames_at_a_destination_are_an_error_not_a_skip(tmp_path):
    from mimicforge.errors import OutputExistsError

    state.build(tmp_path)
    stray = state.paths(tmp_path)["images"] / state.STREAM / "demo_4"
    stray.mkdir(parents=True)
    with pytest.raises(OutputExistsError, match="demo_4 already exists"):
        state.finish(tmp_path)
    stray.rmdir()  # the user moved it away: the finish completes
    state.finish(tmp_path)
    assert len(list(stray.iterdir())) == expected_fresh()[0] + 1


def test_metrics_keep_lines_of_attempts_no_shard_made(tmp_path):
    state.build(tmp_path)
    state.finish(tmp_path)
    first = json.loads(state.paths(tmp_path)["out"].with_name("gen.metrics.jsonl").read_text().splitlines()[0])
    assert (first["worker"], first["attempt"], first["demo"]) == (0, 0, "demo_3")


@pytest.mark.parametrize("kill_at", [3, 8])  # between two commits of the merge; after the first frame folder placed
def test_generate_resume_after_a_killed_finish_ends_with_exactly_n(cli, real_dataset, tmp_path, kill_at):
    """The same state finished by the command a user runs: ``generate --resume --workers 2`` finishes what the
    killed finish left, finds the goal reached and starts no worker."""
    state.build(tmp_path)
    originals = state.action_hashes(state.paths(tmp_path)["out"])
    assert finish_in_child(tmp_path, kill_at).returncode == -signal.SIGKILL
    r = cli("generate", "--input", str(real_dataset), "--output", str(tmp_path / "gen.hdf5"), "--resume",
            "--workers", "2", "--num-trials", str(state.LIMIT), "--cameras", "table_cam", "--output-dir",
            str(tmp_path / "output"), "--json")
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads(r.stdout)["successes"] == state.LIMIT
    assert_finished(tmp_path, originals)
