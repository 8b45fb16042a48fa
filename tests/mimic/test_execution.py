from __future__ import annotations

import numpy as np
import pytest

from mimicforge.backends import make_env_factory
from mimicforge.backends.base import EpisodeRecorder
from mimicforge.config import load_config
from mimicforge.datasets import load_source_dataset
from mimicforge.mimic.execution import (
    ISAAC_PARITY,
    Refinements,
    climbed,
    converged,
    correct_for_held_object,
    gripper_changes,
    lead_target,
    plan_subtask,
    transit_path,
)
from mimicforge.mimic.generator import MimicGenerator, MimicSettings
from mimicforge.geometry import axis_angle_to_matrix, make_pose, matrix_to_axis_angle, pose_inv
from mimicforge.mimic.trajectory import Waypoints, join
from mimicforge.run.session import attempt_seed
from mimicforge.tasks import FRANKA_STACK

SUB = FRANKA_STACK.subtasks["franka"][1]

def segment(n=20, flip_at=12, z0=0.2):
    poses = make_pose(np.stack([np.linspace(0.4, 0.5, n), np.zeros(n), np.linspace(z0, 0.05, n)], 1),
                      np.repeat(np.diag([1.0, -1.0, -1.0])[None], n, 0))
    grip = np.where(np.arange(n) < flip_at, -1.0, 1.0)[:, None]
    return Waypoints(poses, grip, np.full(n, 0.03))

def test_gripper_changes():
    assert list(gripper_changes(np.array([[1], [1], [-1], [-1], [1.0]]))) == [2, 4]

def test_isaac_parity_plan_is_isaac_labs_join():
    init = Waypoints(make_pose([0.3, 0.2, 0.3], np.eye(3))[None], np.ones((1, 1)), np.array([0.03]))
    seg = segment()
    plan = plan_subtask(init, seg, SUB, ISAAC_PARITY, first=False)
    ref = join(init, seg, 5, 0, 0.0)
    np.testing.assert_array_equal(plan.waypoints.poses, ref.poses)
    np.testing.assert_array_equal(plan.waypoints.noise, ref.noise)
    assert plan.holds == frozenset()

def test_refined_plan_settles_transits_and_quiets_contacts():
    init = Waypoints(make_pose([0.3, 0.2, 0.12], np.eye(3))[None], np.ones((1, 1)), np.array([0.03]))
    seg = segment(z0=0.08)
    refine = Refinements(noise_free_steps=10)  # fewer than the segment's 12 waypoints before its gripper change
    plan = plan_subtask(init, seg, SUB, refine, first=False)
    traj = plan.waypoints
    transit = transit_path(init.poses[-1], seg.poses[0], refine.transit_clearance, refine.transit_step)
    np.testing.assert_array_equal(traj.poses[:len(transit)], transit)
    assert transit[:, 2, 3].max() == pytest.approx(0.12 + refine.transit_clearance)
    assert np.max(np.linalg.norm(np.diff(transit[:, :3, 3], axis=0), axis=1)) <= refine.transit_step + 1e-12
    # then a bridge down to the segment's first waypoint: one step per bridge_step of the 12 cm drop (at most 5)
    bridge = min(SUB.num_interpolation_steps, int(np.ceil(0.12 / refine.bridge_step)))
    w0 = len(transit) + bridge
    np.testing.assert_array_equal(traj.poses[w0], seg.poses[0])
    assert plan.planned == w0 + 1  # transit and bridge are led; the segment after W0 is replayed as it is
    flip = len(traj) - len(seg) + 12
    assert plan.holds == {flip - 1}
    assert not traj.noise[flip - refine.noise_free_steps:flip + 1].any()
    assert traj.noise[flip + 1:].min() == 0.03 and traj.noise[w0 + 1] == 0.03
    with_bridge_settle = plan_subtask(init, seg, SUB, Refinements(settle_after_bridge=True), first=False)
    assert with_bridge_settle.holds == {w0, flip - 1}



def test_transit_climbs_above_the_hand_and_waits_for_it_before_traversing():
    """A target pressed into a contact lies below the hand: the transit rises above the hand, and the plan
    marks the top of the climb, where the hand must be ``transit_climb`` above the higher end to traverse."""
    init = Waypoints(make_pose([0.3, 0.2, 0.02], np.eye(3))[None], np.ones((1, 1)), np.array([0.03]))
    hand = make_pose([0.3, 0.2, 0.09], np.eye(3))  # 7 cm above its last target
    seg = segment(z0=0.05)
    refine = Refinements()
    low = transit_path(init.poses[-1], seg.poses[0], refine.transit_clearance, refine.transit_step)
    high = transit_path(init.poses[-1], seg.poses[0], refine.transit_clearance, refine.transit_step, hand)
    assert low[:, 2, 3].max() == pytest.approx(0.05 + refine.transit_clearance)
    assert high[:, 2, 3].max() == pytest.approx(0.09 + refine.transit_clearance)
    plan = plan_subtask(init, seg, SUB, refine, first=False, hand=hand)
    top = plan.waypoints.poses[plan.climb]
    np.testing.assert_allclose(top[:3, 3], [0.3, 0.2, 0.09 + refine.transit_clearance])  # over the start, up
    assert plan.climb < plan.planned
    higher_end = 0.09
    assert not climbed(make_pose([0.3, 0.2, higher_end + refine.transit_climb - 0.001], np.eye(3)), top, refine)
    assert climbed(make_pose([0.5, 0.0, higher_end + refine.transit_climb + 0.001], np.eye(3)), top, refine)
    assert plan_subtask(init, seg, SUB, Refinements(transit_climb=0.0), first=False, hand=hand).climb is None
    assert plan_subtask(init, seg, SUB, ISAAC_PARITY, first=False, hand=hand).climb is None
    assert plan_subtask(init, seg, SUB, refine, first=True, hand=hand).climb is None  # no transit before the first
    with pytest.raises(ValueError, match="transit_climb"):
        Refinements(transit_climb=0.06)

def test_short_bridge_for_a_small_gap():
    seg = segment()
    near = Waypoints(seg.poses[:1] @ make_pose([0.0, 0.0, -0.015], np.eye(3)), seg.gripper[:1], np.array([0.03]))
    plan = plan_subtask(near, seg, SUB, Refinements(), first=True)
    assert len(plan.waypoints) == len(seg) + 1  # 1.5 cm: one interpolated step, then W0 and the segment
    assert len(plan_subtask(near, seg, SUB, ISAAC_PARITY, first=True).waypoints) == len(seg) + 5 - 1 + 1


def test_lead_target_feeds_the_lag_forward_within_caps():
    eef = make_pose([0.5, 0.0, 0.2], axis_angle_to_matrix(np.array([np.pi, 0.0, 0.0])))
    target = eef @ make_pose([0.01, -0.02, 0.0], axis_angle_to_matrix(np.array([0.0, 0.0, 0.04])))
    refine = Refinements(lead_gain=4.0)
    led = lead_target(eef, target, refine)
    np.testing.assert_allclose(led[:3, 3] - eef[:3, 3], 4.0 * (target[:3, 3] - eef[:3, 3]), atol=1e-12)
    np.testing.assert_allclose(matrix_to_axis_angle(led[:3, :3] @ eef[:3, :3].T),
                               4.0 * matrix_to_axis_angle(target[:3, :3] @ eef[:3, :3].T), atol=1e-9)
    far = make_pose([0.5, 0.3, 0.2], eef[:3, :3])
    assert np.linalg.norm(lead_target(eef, far, refine)[:3, 3] - eef[:3, 3]) == pytest.approx(0.2)
    assert lead_target(eef, target, ISAAC_PARITY) is target  # parity: the waypoint itself


def test_lead_target_in_float_arithmetic_is_numpy_s_formula_bit_for_bit():
    """``lead_target`` runs once per planned step in float arithmetic; the numpy formula it replaced is the
    reference, to the last bit, for errors under and over both caps."""
    from mimicforge.geometry import axis_angle_to_mat, relative_axis_angle

    def numpy_lead(eef, target, refine):
        delta = (target[:3, 3] - eef[:3, 3]) * refine.lead_gain
        norm = float(np.linalg.norm(delta))
        if norm > refine.lead_max_position:
            delta *= refine.lead_max_position / norm
        turn = np.array(relative_axis_angle(target[:3, :3], eef[:3, :3])) * refine.lead_gain
        angle = float(np.linalg.norm(turn))
        if angle > refine.lead_max_rotation:
            turn *= refine.lead_max_rotation / angle
        out = np.eye(4)
        out[:3, 3] = eef[:3, 3] + delta
        out[:3, :3] = axis_angle_to_mat(turn) @ eef[:3, :3]
        return out

    rng = np.random.default_rng(7)
    refine = Refinements()
    capped = {"position": 0, "rotation": 0}
    for _ in range(400):
        eef = make_pose(rng.uniform(-0.5, 0.5, 3), axis_angle_to_matrix(rng.normal(size=3)))
        scale = rng.choice([0.002, 0.02, 0.2])
        target = eef @ make_pose(rng.normal(scale=scale, size=3), axis_angle_to_matrix(rng.normal(scale=scale, size=3)))
        led, reference = lead_target(eef, target, refine), numpy_lead(eef, target, refine)
        assert led.tobytes() == reference.tobytes()
        capped["position"] += np.linalg.norm(led[:3, 3] - eef[:3, 3]) >= refine.lead_max_position - 1e-12
        capped["rotation"] += np.linalg.norm(matrix_to_axis_angle(led[:3, :3] @ eef[:3, :3].T)) >= (
            refine.lead_max_rotation - 1e-9)
    assert capped["position"] > 20 and capped["rotation"] > 20 and max(capped.values()) < 400


def test_held_object_correction_moves_the_object_not_the_hand():
    rng = np.random.default_rng(0)
    rot = lambda v: axis_angle_to_matrix(np.asarray(v, float))  # noqa: E731
    src_eef = make_pose([0.5, 0.0, 0.1], rot([np.pi, 0, 0]))
    src_obj = src_eef @ make_pose([0.004, 0.0, -0.002], rot([0, 0, 0.1]))  # how the source held it
    eef_now = make_pose([0.45, 0.05, 0.12], rot([np.pi, 0, 0.4]))
    obj_now = eef_now @ make_pose([-0.015, 0.001, 0.006], rot([0, 0, -0.2]))  # held differently now
    seg = Waypoints(make_pose(rng.normal(0.4, 0.05, (6, 3)), np.repeat(rot([np.pi, 0, 0])[None], 6, 0)),
                    -np.ones((6, 1)), np.zeros(6))
    fixed = correct_for_held_object(seg, src_eef, src_obj, eef_now, obj_now, 0.06)
    now_in_hand, src_in_hand = pose_inv(eef_now) @ obj_now, pose_inv(src_eef) @ src_obj
    # where the object ends up with the corrected targets = where the source's object was on the old ones
    np.testing.assert_allclose(fixed.poses @ now_in_hand, seg.poses @ src_in_hand, atol=1e-12)
    far = make_pose([0.7, 0.3, 0.02], np.eye(3))  # not in the hand: nothing to correct
    assert correct_for_held_object(seg, src_eef, src_obj, eef_now, far, 0.06) is seg

def test_converged():
    target = make_pose([0.5, 0.0, 0.1], np.eye(3))
    refine = Refinements(settle_position_tolerance=0.01)
    assert converged(make_pose([0.505, 0.0, 0.1], np.eye(3)), target, refine)
    assert not converged(make_pose([0.515, 0.0, 0.1], np.eye(3)), target, refine)
    assert not converged(make_pose([0.5, 0.0, 0.1], axis_angle_to_matrix([0, 0, 0.06])), target, refine)

def test_refined_trials_close_and_open_the_gripper_only_on_target(real_dataset):
    """The guarantee settling gives: at every gripper change the end effector is at its target (the
    recorded action, noise-free there, is the remaining error), unless the hand stalled against contact or
    the settle budget ran out."""
    cfg = load_config(env={})
    env = make_env_factory("mujoco")(FRANKA_STACK, cfg)
    src = load_source_dataset(real_dataset, FRANKA_STACK.term_signals("franka"))
    refined = MimicGenerator(env, src, FRANKA_STACK, MimicSettings())
    parity = MimicGenerator(env, src, FRANKA_STACK, MimicSettings(refinements=ISAAC_PARITY))
    errors = {"refined": [], "parity": []}
    for name, gen in (("refined", refined), ("parity", parity)):
        rec = EpisodeRecorder(env)
        for attempt in range(4):
            gen.run_trial(attempt_seed(1, 0, attempt), rec)
            actions = rec.episode()["actions"]
            flips = gripper_changes(actions[:, 6:7])
            errors[name] += [float(np.linalg.norm(actions[k, :3])) for k in flips]
    env.close()
    assert np.median(errors["refined"]) < 0.01
    assert np.mean(np.array(errors["refined"]) < 0.015) >= 0.8
    assert np.median(errors["parity"]) > 2 * np.median(errors["refined"])


def test_transit_climb_setting_reaches_the_refinements():
    from mimicforge.errors import ConfigError
    from mimicforge.run.session import refinements

    assert refinements(load_config(env={}).generation).transit_climb == Refinements().transit_climb == 0.02
    assert refinements(load_config(env={"TRANSIT_CLIMB": "0.03"}).generation).transit_climb == 0.03
    capped = load_config(env={"TRANSIT_CLIMB": "0.03", "TRANSIT_CLEARANCE": "0.01"}).generation
    assert refinements(capped).transit_climb == 0.01  # never above the clearance it climbs into
    assert refinements(load_config(env={"ISAAC_PARITY": "1"}).generation).transit_climb == 0.0
    with pytest.raises(ConfigError, match="TRANSIT_CLIMB"):
        load_config(env={"TRANSIT_CLIMB": "-1"})
