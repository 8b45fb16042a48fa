"""Synthetic episodes in Isaac Lab's recorded layout, deterministic from a seed (for writer tests)."""

from __future__ import annotations

import numpy as np


def make_episode(length: int, seed: int, *, annotated: bool = False, signals_at: tuple[int, ...] = ()) -> dict:
    rng = np.random.default_rng(seed)

    def rows(n: int, d: int) -> np.ndarray:
        return rng.standard_normal((n, d)).astype(np.float32)

    def state(n: int) -> dict:
        return {
            "articulation": {"robot": {"root_pose": rows(n, 7), "root_velocity": rows(n, 6),
                                       "joint_position": rows(n, 9), "joint_velocity": rows(n, 9)}},
            "rigid_object": {f"cube_{i}": {"root_pose": rows(n, 7), "root_velocity": rows(n, 6)} for i in (1, 2, 3)},
        }

    obs = {k: rows(length, d) for k, d in (("actions", 7), ("eef_pos", 3), ("eef_quat", 4), ("object", 39))}
    ep = {"actions": rows(length, 7), "obs": obs, "initial_state": state(1), "states": state(length)}
    if annotated:
        eye = np.broadcast_to(np.eye(4, dtype=np.float32), (length, 4, 4)).copy()
        eye[:, :3, 3] = rows(length, 3)
        sig = {}
        for i, at in enumerate(signals_at):
            s = np.zeros(length, dtype=bool)
            s[at:] = True
            sig[f"signal_{i}"] = s
        obs["datagen_info"] = {
            "eef_pose": {"franka": eye},
            "object_pose": {"cube_1": eye.copy()},
            "target_eef_pose": {"franka": eye.copy()},
            "subtask_term_signals": sig,
        }
    return ep
