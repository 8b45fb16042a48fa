"""The command line as a user meets it: real processes, real files, exit codes and one-line errors."""

from __future__ import annotations

import argparse
import json
import shutil

import h5py
import pytest

from mimicforge import __version__
from mimicforge.datasets import DatasetWriter
from tests.datasets.episodes import make_episode


def test_version(cli):
    r = cli("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"mimicforge {__version__}"


def test_inspect_json_on_real_file(cli, real_dataset):
    r = cli("inspect", str(real_dataset), "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["env_name"] == "Isaac-Stack-Cube-Franka-IK-Rel-Mimic-v0"
    assert (s["num_demos"], s["total_samples"]) == (10, 2163)
    d0 = s["demos"][0]
    assert (d0["name"], d0["length"], d0["success"]) == ("demo_0", 236, True)
    assert d0["subtask_boundaries"] == [62, 109, 159, 236]
    assert d0["subtask_signals"] == ["grasp_1", "stack_1", "grasp_2"]
    assert d0["initial_object_positions"]["cube_1"] == pytest.approx([0.5767, 0.0825, 0.0203], abs=1e-4)
    assert [d["length"] for d in s["demos"]] == [236, 233, 194, 209, 232, 185, 247, 218, 230, 179]
    # length and idleness per dataset (datasets/motion.py); human demos carry no source-segment length
    assert s["mean_length"] == 216.3 and s["idle_share"] == pytest.approx(0.0764, abs=5e-4)
    assert s["length_ratio"] is None and d0["idle_share"] == pytest.approx(0.0511, abs=5e-4)


def test_inspect_text_mentions_boundaries(cli, real_dataset):
    r = cli("inspect", str(real_dataset))
    assert r.returncode == 0
    assert "demo_9" in r.stdout and "[38, 98, 121, 179]" in r.stdout


def test_inspect_generated_file_has_no_subtask_fields(cli, tmp_path):
    out = tmp_path / "gen.hdf5"
    with DatasetWriter(out, env_name="Isaac-Stack-Cube-Franka-IK-Rel-Mimic-v0") as w:
        w.write_demo(make_episode(12, 0), success=True)
    s = json.loads(cli("inspect", str(out), "--json").stdout)
    assert s["demos"][0].keys() >= {"name", "length", "success"}
    assert "subtask_boundaries" not in s["demos"][0]


def test_validate_valid_and_invalid(cli, real_dataset, tmp_path):
    ok = cli("validate", str(real_dataset))
    assert ok.returncode == 0 and "valid" in ok.stdout
    bad = tmp_path / "bad.hdf5"
    shutil.copy(real_dataset, bad)
    with h5py.File(bad, "r+") as f:
        f["data"].attrs["total"] = 5
        del f["data/demo_2/obs/datagen_info/subtask_term_signals/stack_1"]
        f["data/demo_2/obs/datagen_info/subtask_term_signals/stack_1"] = [False] * 194
        del f["data/demo_4"].attrs["success"]
        eef = f["data/demo_7/obs/eef_pos"][:50]
        del f["data/demo_7/obs/eef_pos"]
        f["data/demo_7/obs/eef_pos"] = eef
    r = cli("validate", str(bad))
    assert r.returncode == 1
    problems = [line for line in r.stdout.splitlines() if line.startswith("  - ")]
    assert len(problems) == 4, r.stdout
    text = "\n".join(problems)
    assert "total = 5 but the demos hold 2163" in text
    assert "subtask signal 'stack_1' never turns True, so its subtask has no end (re-annotate or drop the demo); " \
           "in demo_2" in text
    assert "demos lack the attribute success; in demo_4" in text
    assert "in demo_7 (obs/eef_pos has 50 steps but actions has 218)" in text
    j = json.loads(cli("validate", str(bad), "--json").stdout)
    assert j["valid"] is False and len(j["problems"]) == 4


def test_merge_cli(cli, real_dataset, tmp_path):
    r = cli("merge", str(tmp_path / "m.hdf5"), str(real_dataset), str(real_dataset), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["num_demos"] == 20
    again = cli("merge", str(tmp_path / "m.hdf5"), str(real_dataset))
    assert again.returncode == 2 and "--overwrite" in again.stderr


def _make_bad_inputs(tmp_path, real_dataset):
    """Each kind of bad input the tools must reject, with a fragment of the message expected."""
    cases = {}
    cases["missing"] = (tmp_path / "nope.hdf5", "no such file")
    (tmp_path / "adir").mkdir()
    cases["directory"] = (tmp_path / "adir", "is a directory")
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    cases["text"] = (text, "not an HDF5 file")
    empty = tmp_path / "empty.hdf5"
    empty.write_bytes(b"")
    cases["empty"] = (empty, "is empty")
    trunc = tmp_path / "trunc.hdf5"
    trunc.write_bytes(real_dataset.read_bytes()[: 200_000])
    cases["truncated"] = (trunc, "truncated")
    nodata = tmp_path / "nodata.hdf5"
    with h5py.File(nodata, "w") as f:
        f.create_group("stuff")
    cases["no data group"] = (nodata, "no 'data' group")
    nodemos = tmp_path / "nodemos.hdf5"
    with h5py.File(nodemos, "w") as f:
        f.create_group("data")
    cases["no demos"] = (nodemos, "no demos")
    noinfo = tmp_path / "noinfo.hdf5"
    shutil.copy(real_dataset, noinfo)
    with h5py.File(noinfo, "r+") as f:
        del f["data/demo_5/obs/datagen_info"]
    cases["missing datagen_info"] = (noinfo, "demo_5 has no obs/datagen_info; annotate it")
    never = tmp_path / "never.hdf5"
    shutil.copy(real_dataset, never)
    with h5py.File(never, "r+") as f:
        del f["data/demo_6/obs/datagen_info/subtask_term_signals/grasp_2"]
        f["data/demo_6/obs/datagen_info/subtask_term_signals/grasp_2"] = [False] * 247
    cases["signal never True"] = (never, "demo_6: subtask signal 'grasp_2' never turns True")
    short = tmp_path / "short.hdf5"
    shutil.copy(real_dataset, short)
    with h5py.File(short, "r+") as f:
        q = f["data/demo_8/obs/joint_pos"][:-3]
        del f["data/demo_8/obs/joint_pos"]
        f["data/demo_8/obs/joint_pos"] = q
    cases["lengths disagree"] = (short, "demo_8/obs/joint_pos has 227 steps but actions has 230")
    return cases


CASES = ["missing", "directory", "text", "empty", "truncated", "no data group", "no demos"]
DEMO_CASES = ["missing datagen_info", "signal never True", "lengths disagree"]


@pytest.mark.parametrize("case", DEMO_CASES)
def test_inspect_summarises_a_file_with_a_broken_demo(cli, tmp_path, real_dataset, case):
    """A file it can open is summarised, the broken demo marked; validate exits 1 naming the problem."""
    path, fragment = _make_bad_inputs(tmp_path, real_dataset)[case]
    r = cli("inspect", str(path))
    assert r.returncode == 0 and r.stderr == "", r.stderr
    demo = fragment.split("/")[0].split(":")[0].split(" ")[0]
    row = next(line for line in r.stdout.splitlines() if line.startswith(f"  {demo} "))
    assert "[" in row and "1 demo(s) with problems" in r.stdout
    v = cli("validate", str(path))
    assert v.returncode == 1 and demo in v.stdout


@pytest.mark.parametrize("case", CASES)
def test_bad_input_gives_one_line_and_exit_2(cli, tmp_path, real_dataset, case):
    path, fragment = _make_bad_inputs(tmp_path, real_dataset)[case]
    r = cli("inspect", str(path))
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mimicforge: error: "), r.stderr
    assert fragment in lines[0]
    assert "Traceback" not in r.stderr


def test_bad_flags_are_one_line(cli):
    r = cli("inspect")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "--help" in r.stderr
    r = cli("frobnicate")
    assert r.returncode == 2 and "invalid choice" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_debug_variable_shows_traceback(cli, tmp_path):
    r = cli("inspect", str(tmp_path / "nope.hdf5"), env={"MIMICFORGE_DEBUG": "1"})
    assert r.returncode == 2 and "Traceback" in r.stderr and "no such file" in r.stderr


def test_generate_help_is_in_sections_and_states_the_precedence():
    from mimicforge.cli import build_parser
    from mimicforge.config import SETTINGS

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    gen = sub.choices["generate"]
    titles = [g.title for g in gen._action_groups]
    for section in ("generation", "MimicGen (source selection, noise, interpolation)",
                    "twin execution (MuJoCo engine only)", "cameras", "parallel (MuJoCo engine only)",
                    "randomization", "Isaac Lab only"):
        assert section in titles
    by_group = {g.title: {o for a in g._group_actions for o in a.option_strings} for g in gen._action_groups}
    assert {"--num-envs", "--device"} <= by_group["Isaac Lab only"]
    assert "--isaac-parity" in by_group["twin execution (MuJoCo engine only)"]
    assert {"--workers", "--ray", "--max-restarts"} <= by_group["parallel (MuJoCo engine only)"]
    assert {"--select-source", "--nn-k"} <= by_group["MimicGen (source selection, noise, interpolation)"]
    flags = [s.flag_name for s in SETTINGS if s.flag_name]
    shown = [o for opts in by_group.values() for o in opts]
    assert all(shown.count(f) == 1 for f in flags)
    order = "flags > environment > --config file > saved run settings"
    text = " ".join(gen.format_help().split())
    assert order in text
    assert order in " ".join(sub.choices["config"].format_help().split())


def test_help_of_the_cli_and_of_every_command_renders():
    """argparse expands ``%`` in help texts only when the help is shown: render all of it, every command."""
    import argparse

    from mimicforge.cli import build_parser

    parser = build_parser()
    assert "evaluate" in parser.format_help() and "export" in parser.format_help()
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert len(subs.choices) >= 12
    for name, sub in subs.choices.items():
        assert sub.format_help(), name
        for nested in (a for a in sub._actions if isinstance(a, argparse._SubParsersAction)):
            for inner in nested.choices.values():
                assert inner.format_help()
