"""cosmos prepare: prompt files, both styles' videos and specs, and bad input refused before anything is written."""

from __future__ import annotations

import json

import imageio.v3 as iio
import numpy as np
import pytest

from mimicforge.errors import ConfigError
from mimicforge.media.prompts import load_prompts, parse_prompts
from mimicforge.media.sources import open_source
from tests.media.cosmos_data import add_obs_images, make_dataset, write_folders


def video_facts(path):
    meta = iio.immeta(path, plugin="FFMPEG")
    frames = iio.imread(path, plugin="FFMPEG")
    return meta["fps"], frames


def test_shipped_prompts_draw_the_same_prompt_for_the_same_seed():
    p = load_prompts()
    assert set(p.variables) == {"cube_material", "table_surface", "setting", "lighting"}
    a, b, c = p.draw([42, 0, 0]), p.draw([42, 0, 0]), p.draw([42, 1, 0])
    assert a == b and a.prompt != c.prompt or a.choices != c.choices
    assert "\n" not in a.prompt and "  " not in a.prompt and a.choices["lighting"] in a.prompt
    assert p.negative_prompt and p.cosmos == {"seed": 42, "sigma_max": 40.0, "control_weight": 0.6,
                                              "canny_strength": "very_low"}


@pytest.mark.parametrize("doc, message", [
    ({"prompt": {"description": "a {colour} cube on {table}"}, "variables": {"colour": ["red"]}},
     "placeholder {table} in [prompt] description has no list in [variables]"),
    ({"prompt": {"description": "a {colour} cube"}, "variables": {"colour": []}}, "must be a non-empty list"),
    ({"prompt": {"description": "a {colour} cube"}, "variables": {"colour": ["red", ""]}}, "non-empty string"),
    ({"prompt": {"description": "a {colour:>5} cube"}, "variables": {"colour": ["red"]}}, "must be a plain {name}"),
    ({"prompt": {"description": "x"}, "cosmos": {"sigma_max": 90}}, "sigma_max 90 is out of range; allowed 35 to 80"),
    ({"prompt": {"description": "x"}, "cosmos": {"control_weight": 0.95}}, "allowed 0.1 to 0.9"),
    ({"prompt": {"description": "x"}, "cosmos": {"canny_strength": "extreme"}}, "is not one of very_low"),
    ({"variables": {}}, "needs a [prompt] table"),
])
def test_bad_prompt_documents(doc, message):
    with pytest.raises(ConfigError) as err:
        parse_prompts(doc, "p.toml")
    assert message in str(err.value)


def test_bad_prompt_file_is_one_line_and_writes_nothing(cli, tmp_path):
    ds = make_dataset(tmp_path / "d.hdf5", (4,))
    write_folders(tmp_path / "output", 0, 4)
    cases = {
        "noplace.toml": '[prompt]\ndescription = "cubes of {material}"\n[variables]\ncolour = ["red"]\n',
        "empty.toml": '[prompt]\ndescription = "cubes of {material}"\n[variables]\nmaterial = []\n',
        "range.toml": '[prompt]\ndescription = "cubes"\n[cosmos]\nsigma_max = 20\n',
    }
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        out = tmp_path / f"out_{name}"
        r = cli("cosmos", "prepare", str(ds), "--out", str(out), "--output-dir", str(tmp_path / "output"),
                "--prompts", str(tmp_path / name), "--frames", "0")
        assert r.returncode == 2, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and name in r.stderr
        assert not out.exists() and not list(tmp_path.glob(".out_*"))
    r = cli("cosmos", "prepare", str(ds), "--out", str(tmp_path / "o"), "--output-dir", str(tmp_path / "output"),
            "--control-weight", "1.5")
    assert r.returncode == 2 and "--control-weight: control_weight '1.5' is out of range" in r.stderr
    assert not (tmp_path / "o").exists()


def test_blueprint_style_last_frames_at_24_fps_one_request_per_video(cli, tmp_path):
    ds = make_dataset(tmp_path / "d.hdf5", (130, 100))
    out_dir = tmp_path / "output"
    write_folders(out_dir, 0, 130, cameras=("table_cam", "table_high_cam"), modalities=("semantic_segmentation",
                                                                                         "normals"))
    write_folders(out_dir, 1, 100, cameras=("table_cam", "table_high_cam"), modalities=("semantic_segmentation",
                                                                                         "normals"))
    out = tmp_path / "cosmos"
    r = cli("cosmos", "prepare", str(ds), "--out", str(out), "--output-dir", str(out_dir), "--json")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert [(v["demo"], v["camera"]) for v in result["videos"]] == [("demo_0", "table_cam"),
                                                                     ("demo_0", "table_high_cam")]
    assert [s["demo"] for s in result["skipped"]] == ["demo_1", "demo_1"]  # 100 < 120 frames
    assert sorted(p.name for p in out.iterdir()) == [
        "cosmos_inputs.json", "shaded_segmentation_table_cam_demo_0.json", "shaded_segmentation_table_cam_demo_0.mp4",
        "shaded_segmentation_table_high_cam_demo_0.json", "shaded_segmentation_table_high_cam_demo_0.mp4"]
    fps, frames = video_facts(out / "shaded_segmentation_table_cam_demo_0.mp4")
    assert fps == 24 and frames.shape == (120, 16, 24, 3)
    src = open_source(ds, out_dir, "table_cam", 0)
    expect = list(src.frames("shaded_segmentation", 10, 130))  # the last 120 of 130
    err = np.abs(frames.astype(int) - np.stack(expect)[..., :3].astype(int)).mean()
    assert err < 6, err  # lossy h264 of noise-like test frames; the wrong window would differ by ~60
    wrong = np.abs(frames.astype(int) - np.stack(list(src.frames("shaded_segmentation", 0, 120)))[..., :3]).mean()
    assert wrong > 3 * err
    req = json.loads((out / "shaded_segmentation_table_cam_demo_0.json").read_text())
    assert {k: req[k] for k in ("seed", "sigma_max", "control_weight", "canny_strength")} == {
        "seed": 42, "sigma_max": 40.0, "control_weight": 0.6, "canny_strength": "very_low"}
    assert req["controlnet_specs"] == {"edge": {"control_weight": 0.6}}
    assert req["source"] == {"demo": "demo_0", "camera": "table_cam", "frames": [10, 130], "origin": "folders"}
    assert set(req["prompt_draw"]["choices"]) == {"cube_material", "table_surface", "setting", "lighting"}
    assert req["prompt_draw"]["seed"] == [42, 0, 0] and req["fps"] == 24 and req["num_frames"] == 120
    # same inputs, same seed: the same prompts
    r2 = cli("cosmos", "prepare", str(ds), "--out", str(tmp_path / "again"), "--output-dir", str(out_dir),
             "--seed", "42")
    assert r2.returncode == 0, r2.stderr
    again = json.loads((tmp_path / "again" / "shaded_segmentation_table_cam_demo_0.json").read_text())
    assert again["prompt"] == req["prompt"]
    # a non-empty --out is refused in one line
    r3 = cli("cosmos", "prepare", str(ds), "--out", str(out), "--output-dir", str(out_dir))
    assert r3.returncode == 2 and "is not empty; pass --overwrite" in r3.stderr


def test_isaaclab_style_from_hdf5_observations(cli, tmp_path):
    ds = make_dataset(tmp_path / "d.hdf5", (12, 5))
    add_obs_images(ds, 0)
    add_obs_images(ds, 1, seed=3)
    out = tmp_path / "cosmos"
    r = cli("cosmos", "prepare", str(ds), "--out", str(out), "--style", "isaaclab", "--demos", "1",
            "--output-dir", str(tmp_path / "nothing"))
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "cosmos_inputs.json", "demo_1_table_cam.mp4", "demo_1_table_cam_depth.mp4",
        "demo_1_table_cam_shaded_segmentation.mp4", "demo_1_table_cam_spec.json"]
    for name in ("demo_1_table_cam.mp4", "demo_1_table_cam_depth.mp4", "demo_1_table_cam_shaded_segmentation.mp4"):
        fps, frames = video_facts(out / name)
        assert fps == 30 and frames.shape == (5, 704, 1280, 3), (name, frames.shape)
    spec = json.loads((out / "demo_1_table_cam_spec.json").read_text())
    assert spec["sigma_max"] == 50 and spec["input_video_path"] == "demo_1_table_cam.mp4"  # relative: it travels
    assert {k: spec[k]["control_weight"] for k in ("vis", "edge", "depth", "seg")} == {
        "vis": 0.3, "edge": 0.3, "depth": 0.6, "seg": 0.7}
    assert spec["seg"]["input_control"].endswith("demo_1_table_cam_shaded_segmentation.mp4")
    assert spec["depth"]["input_control"].endswith("demo_1_table_cam_depth.mp4") and "input_control" not in spec["edge"]
    assert spec["prompt"] and spec["negative_prompt"]
    manifest = json.loads((out / "cosmos_inputs.json").read_text())
    assert manifest["videos"][0]["origin"] == "hdf5" and manifest["videos"][0]["prompt_draw"]["seed"] == [42, 1, 0]
    for written in ("cosmos_inputs.json", "demo_1_table_cam_spec.json"):
        assert str(tmp_path) not in (out / written).read_text()
    # --base: where the folder will lie on the GPU node
    r = cli("cosmos", "prepare", str(ds), "--out", str(out), "--style", "isaaclab", "--demos", "1", "--overwrite",
            "--base", "/data/cosmos_il/", "--output-dir", str(tmp_path / "nothing"))
    assert r.returncode == 0, r.stderr
    spec = json.loads((out / "demo_1_table_cam_spec.json").read_text())
    assert spec["input_video_path"] == spec["vis"]["input_control"] == "/data/cosmos_il/demo_1_table_cam.mp4"
    assert spec["depth"]["input_control"] == "/data/cosmos_il/demo_1_table_cam_depth.mp4"
    assert json.loads((out / "cosmos_inputs.json").read_text())["base"] == "/data/cosmos_il"
    r = cli("cosmos", "prepare", str(ds), "--out", str(tmp_path / "b"), "--base", "/data/x")
    assert r.returncode == 2 and "--base is for --style isaaclab specs" in r.stderr


def test_isaaclab_style_needs_rgb_and_depth(cli, tmp_path):
    ds = make_dataset(tmp_path / "d.hdf5", (5,))
    write_folders(tmp_path / "output", 0, 5, modalities=("semantic_segmentation", "normals"))
    r = cli("cosmos", "prepare", str(ds), "--out", str(tmp_path / "c"), "--style", "isaaclab",
            "--output-dir", str(tmp_path / "output"))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "table_cam_rgb/demo_0 is missing: --style isaaclab needs rgb, depth" in r.stderr
    assert not (tmp_path / "c").exists() and not (tmp_path / ".c.partial").exists()
    r = cli("cosmos", "prepare", str(ds), "--out", str(tmp_path / "c"), "--demos", "0,7",
            "--output-dir", str(tmp_path / "output"))
    assert r.returncode == 2 and "--demos: " in r.stderr and "has no demo_7 (it has 1 demos)" in r.stderr
    r = cli("cosmos", "prepare", str(ds), "--out", str(tmp_path / "c"), "--frames", "-1")
    assert r.returncode == 2 and "--frames -1 must be >= 0" in r.stderr
