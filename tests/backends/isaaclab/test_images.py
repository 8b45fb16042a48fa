"""Isaac Lab's camera frames sorted into the shared image layout. The runs use the FAKE Isaac boundary
(``fake_isaac``), which names and rewrites frames as Isaac Lab's Blueprint camera term does."""

from __future__ import annotations

from pathlib import Path

import pytest

from mimicforge.backends.isaaclab.images import FrameSorter, parse_frame, redirect_camera_terms
from mimicforge.errors import ConfigError
from mimicforge.outputs import OutputPaths, image_path
from tests.backends.isaaclab.conftest import run
from tests.backends.isaaclab.fake_isaac import Attempt, FakeIsaac, blueprint_observations

pytestmark = pytest.mark.timeout(60)
BLUEPRINT = "Isaac-Stack-Cube-Franka-IK-Rel-Blueprint-Mimic-v0"
STREAMS = [("table_cam", "normals"), ("table_cam", "semantic_segmentation"), ("table_high_cam", "normals")]


def test_parse_frame_splits_camera_and_modality_with_underscores():
    f = parse_frame(Path("x/table_high_cam_semantic_segmentation_trial_3_tile_0_step_117.png"),
                    STREAMS + [("table_high_cam", "semantic_segmentation")])
    assert f is not None and (f.stream, f.trial, f.tile, f.step) == (
        ("table_high_cam", "semantic_segmentation"), 3, 0, 117)
    assert parse_frame(Path("table_cam_depth_trial_0_tile_0_step_1.png"), STREAMS) is None
    assert parse_frame(Path("table_cam_normals_step_1.png"), STREAMS) is None


def test_stage_success_keeps_the_last_run_of_the_trial_and_drops_failed_frames(tmp_path):
    staging, out = tmp_path / "staging", tmp_path / "out"
    staging.mkdir()
    # trial 0: a failed attempt at steps 0..3 (its last frame rewritten by the next reset), then a success of
    # 3 actions at steps 3..6; trial 1 already started at step 6.
    for step in range(0, 7):
        (staging / f"table_cam_normals_trial_0_tile_0_step_{step}.png").write_text(f"s{step}")
    (staging / "table_cam_normals_trial_1_tile_0_step_6.png").write_text("next")
    sorter = FrameSorter(staging, out, [("table_cam", "normals")])
    sorter.prepare("create", 0)
    assert sorter.stage_success(trial=0, num_steps=3, demo_index=4) == 4
    sorter.commit(4)
    got = sorted(p.name for p in (out / "table_cam_normals" / "demo_4").iterdir())
    assert got == ["step_0000.png", "step_0001.png", "step_0002.png", "step_0003.png"]
    assert image_path(out, "table_cam", "normals", 4, 0).read_text() == "s3"
    assert image_path(out, "table_cam", "normals", 4, 3).read_text() == "s6"
    assert sorted(p.name for p in staging.iterdir()) == ["table_cam_normals_trial_1_tile_0_step_6.png"]


def test_redirect_checks_what_the_task_offers(tmp_path):
    obs = type("Cfg", (), {})()
    obs.observations = blueprint_observations()
    with pytest.raises(ConfigError, match="does not save table_cam:rgb; it offers table_cam:normals"):
        redirect_camera_terms(obs, tmp_path, ["table_cam"], ["rgb"], BLUEPRINT)
    streams = redirect_camera_terms(obs, tmp_path, ["table_cam"], ["normals"], BLUEPRINT)
    assert streams == [("table_cam", "normals")]
    terms = vars(obs.observations.rgb_camera)
    assert terms["table_cam_normals"].params["image_path"] == str(tmp_path / "table_cam")
    assert terms["table_high_cam_normals"].params["save_image_to_file"] is False
    no_cams = type("Cfg", (), {"observations": type("O", (), {})()})()
    with pytest.raises(ConfigError, match="saves no camera images"):
        redirect_camera_terms(no_cams, tmp_path, ["table_cam"], ["normals"], "Isaac-Stack-Cube-Franka-IK-Rel-Mimic-v0")


def test_frames_of_successes_land_in_the_shared_layout(make_cfg, tmp_path):
    cfg = make_cfg(num_trials=2, task=BLUEPRINT, cameras="table_cam,table_high_cam",
                   modalities="normals,semantic_segmentation")
    isaac = FakeIsaac("2.3", [Attempt(steps=3, success=False), Attempt(steps=4), Attempt(steps=2, success=False),
                              Attempt(steps=5)])
    run(cfg, isaac)
    assert dict(isaac.log)["launch_app"]["enable_cameras"] is True
    out = tmp_path / "output" / "gen"  # the dataset's own image folder
    for cam in ("table_cam", "table_high_cam"):
        for mod in ("normals", "semantic_segmentation"):
            for demo, (attempt, steps) in enumerate([(1, 4), (3, 5)]):
                folder = out / f"{cam}_{mod}" / f"demo_{demo}"
                assert sorted(p.name for p in folder.iterdir()) == [f"step_{t:04d}.png" for t in range(steps + 1)]
                for t in range(steps + 1):  # frame t shows attempt's state after t actions
                    assert image_path(out, cam, mod, demo, t).read_text() == f"attempt={attempt} t={t}"
    assert sorted(p.name for p in (out / "table_cam_normals").iterdir()) == ["demo_0", "demo_1"]
    assert not any(OutputPaths.beside(cfg.generation.output_file).dataset.parent.glob(".*isaaclab*"))


def test_cameras_need_one_env(make_cfg):
    with pytest.raises(ConfigError, match="cameras need NUM_ENVS=1"):
        run(make_cfg(task=BLUEPRINT, cameras="table_cam", modalities="normals", num_envs=2), FakeIsaac("2.3"))
