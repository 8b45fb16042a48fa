from __future__ import annotations

import numpy as np

from mimicforge.datasets import load_source_dataset
from mimicforge.geometry import make_pose, pose_inv
from mimicforge.mimic.selection import pose_distances, select_source_demo
from mimicforge.mimic.source import SourcePool
from mimicforge.mimic.trajectory import Waypoints, join, source_segment
from mimicforge.tasks import FRANKA_STACK


def pool_of(real_dataset):
    src = load_source_dataset(real_dataset, FRANKA_STACK.term_signals("franka"))
    return SourcePool(src, FRANKA_STACK, "franka", lambda a: {"franka": a[:, -1:]})


def test_pool_bounds_match_isaac_and_offsets_stay_in_range(real_dataset):
    pool = pool_of(real_dataset)
    assert pool.names == [f"demo_{i}" for i in range(10)]
    assert list(pool.demos[0].ends) == [62, 109, 159, 236]
    base = np.stack([d.ends for d in pool.demos])
    rng = np.random.default_rng(3)
    seen = set()
    for _ in range(300):
        starts, ends = pool.randomized_bounds(rng)
        shift = ends - base
        assert shift[:, :3].min() >= 10 and shift[:, :3].max() <= 20 and not shift[:, 3].any()
        assert np.array_equal(starts[:, 1:], ends[:, :-1]) and not starts[:, 0].any()
        seen |= set(shift[:, :3].ravel().tolist())
    assert seen == set(range(10, 21))  # inclusive on both ends, as randint(lo, hi + 1)


def test_segment_lengths_add_up_to_source_length_plus_21(real_dataset):
    """With one source demo for all four subtasks, Isaac Lab 2.3 executes T_src + 21 steps (spec §2.2)."""
    pool = pool_of(real_dataset)
    rng = np.random.default_rng(0)
    starts, ends = pool.randomized_bounds(rng)
    for j, demo in enumerate(pool.demos):
        total = 0
        last = None
        for i, sub in enumerate(pool.subtasks):
            obj_now = demo.object_pose[sub.object_ref][0]
            seg = source_segment(demo, int(starts[j, i]), int(ends[j, i]), sub.object_ref, obj_now, 0.03, i == 0)
            init = Waypoints(demo.eef_pose[:1], seg.gripper[:1], np.array([0.03])) if last is None else last
            traj = join(init, seg, 5, 0, 0.0)
            assert len(traj) == len(seg) + 5
            assert np.allclose(traj.noise[:5], 0.0) and traj.noise[5] == 0.03
            assert np.array_equal(traj.gripper[:6], np.repeat(seg.gripper[:1], 6, axis=0))
            total += len(traj)
            last = traj.last()
        assert total == demo.length + 21


def test_join_fixed_steps_and_no_bridge():
    seg = Waypoints(np.repeat(np.eye(4)[None], 4, 0), np.ones((4, 1)), np.full(4, 0.03))
    init = Waypoints(np.eye(4)[None], np.ones((1, 1)), np.array([0.03]))
    assert len(join(init, seg, 0, 0, 0.0)) == 4
    assert len(join(init, seg, 0, 3, 0.0)) == 4 + 3
    assert len(join(init, seg, 5, 2, 0.0)) == 4 + 5 + 2


def test_nearest_neighbor_object_picks_among_the_k_closest(real_dataset):
    pool = pool_of(real_dataset)
    starts = np.zeros(len(pool), dtype=int)
    target = pool.demos[4].object_pose["cube_2"][0]
    dist = pose_distances(pool.segment_object_poses("cube_2", starts), target, 1.0, 1.0)
    closest = set(np.argsort(dist)[:3].tolist())
    assert 4 in closest
    rng = np.random.default_rng(1)
    picks = {select_source_demo(pool, 0, starts, target, np.eye(4), rng) for _ in range(200)}
    assert picks == closest


def test_robot_distance_strategy_uses_object_frame(real_dataset):
    import dataclasses

    pool = pool_of(real_dataset)
    sub = dataclasses.replace(pool.subtasks[0], selection_strategy="nearest_neighbor_robot_distance", nn_k=1)
    starts = np.zeros(len(pool), dtype=int)
    d = pool.demos[7]
    # put the object and robot exactly as in demo_7 moved by a rigid shift: demo_7 must win
    shift = make_pose(np.array([0.02, -0.01, 0.0]), np.eye(3))
    obj_now = shift @ d.object_pose["cube_2"][0]
    eef_now = obj_now @ pose_inv(d.object_pose["cube_2"][0]) @ d.eef_pose[0]
    assert select_source_demo(pool, 0, starts, obj_now, eef_now, np.random.default_rng(0), spec=sub) == 7
