"""The ``MimicEnv`` contract every generation backend speaks, and the episode recorder built on it.

Modeled on Isaac Lab's ``ManagerBasedRLMimicEnv`` (one environment, numpy instead of torch), so the
generator in ``mimicforge.mimic`` can drive any backend. Poses are 4x4 homogeneous matrices in the
environment frame (robot base at the origin); quaternions are (w, x, y, z) as in Isaac Lab.

State trees follow Isaac Lab's ``scene.get_state(is_relative=True)``::

    {"articulation": {"robot": {"root_pose": (7,), "root_velocity": (6,),
                                "joint_position": (J,), "joint_velocity": (J,)}},
     "rigid_object": {"cube_1": {"root_pose": (7,), "root_velocity": (6,)}, ...}}

Observations follow the policy group of the task (``obs/<key>`` in the datasets), one row per key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np

from mimicforge.tasks import TaskSpec

Tree = dict[str, Any]


@runtime_checkable
class MimicEnv(Protocol):
    task: TaskSpec
    action_dim: int
    step_dt: float  # seconds of simulated time per env step (Isaac: dt * decimation)
    cameras: tuple[str, ...]  # camera names that ``render`` accepts
    modalities: tuple[str, ...]  # modalities that ``render`` accepts

    def reset(self, seed: int | None = None) -> dict[str, np.ndarray]:
        """Apply the task's reset events (seeded) and return the first observation."""

    def reset_to(self, state: Tree) -> dict[str, np.ndarray]:
        """Put the scene exactly into ``state`` (zeroing the last action) and return the observation."""

    def step(self, action: np.ndarray) -> dict[str, np.ndarray]:
        """Apply one action for one env step and return the observation computed after it."""

    def observations(self) -> dict[str, np.ndarray]:
        """The current policy observation (the one ``step``/``reset`` last returned)."""

    def get_state(self) -> Tree:
        """The scene state as a tree of 1-D arrays (see module docstring)."""

    def get_robot_eef_pose(self, eef_name: str) -> np.ndarray:
        """Current end-effector pose, (4, 4)."""

    def get_object_poses(self) -> dict[str, np.ndarray]:
        """Current object root poses, name -> (4, 4)."""

    def target_eef_pose_to_action(
        self,
        target_eef_pose: Mapping[str, np.ndarray],
        gripper_action: Mapping[str, np.ndarray],
        action_noise: Mapping[str, float] | None = None,
        rng: np.random.Generator | None = None,
    ) -> np.ndarray:
        """The action that moves each eef towards its target pose, plus gripper, plus Gaussian noise."""

    def action_to_target_eef_pose(self, action: np.ndarray) -> dict[str, np.ndarray]:
        """Inverse of ``target_eef_pose_to_action`` (without noise), from the current eef pose."""

    def actions_to_gripper_actions(self, actions: np.ndarray) -> dict[str, np.ndarray]:
        """Per-eef gripper columns of a (T, action_dim) action array: eef -> (T, k)."""

    def get_subtask_term_signals(self) -> dict[str, bool]:
        """The task's subtask termination signals for the current state."""

    def is_success(self) -> bool:
        """The task's success check for the current state."""

    def processed_action(self) -> np.ndarray:
        """What the last action became inside the env (Isaac Lab 2.3 records it as processed_actions)."""

    def render(self, camera: str, modality: str) -> np.ndarray:
        """One image: rgb (H, W, 3) uint8, depth (H, W) float32 metres, semantic_segmentation (H, W, 4) uint8
        RGBA, normals (H, W, 3) float32 in [-1, 1]."""

    def close(self) -> None:
        """Release renderers and other resources. Idempotent."""


@runtime_checkable
class RowRecorded(Protocol):
    """What a backend may add to ``MimicEnv`` so that recording a step costs two flat rows: its observation
    and its state, turned into trees once per episode. The trees must equal the ones
    ``observations()`` and ``get_state()`` give step by step."""

    def observation_row(self) -> np.ndarray:
        """The current observation as one row (a new array after every step and reset)."""

    def observations_from_rows(self, rows: np.ndarray) -> Tree:
        """(T, n) observation rows -> ``{key: (T, ...)}``."""

    def state_row(self) -> np.ndarray:
        """The current state as one new flat row."""

    def states_from_rows(self, rows: np.ndarray) -> Tree:
        """(T, n) state rows -> a state tree with T rows per leaf."""


def state_at(states: Tree, t: int) -> Tree:
    """Row ``t`` of a recorded state tree (``initial_state`` has one row, ``states`` one per step)."""
    return {k: state_at(v, t) if isinstance(v, Mapping) else np.asarray(v)[t] for k, v in states.items()}


def _stack_rows(rows: list[Tree]) -> Tree:
    first = rows[0]
    if isinstance(first, Mapping):
        return {k: _stack_rows([r[k] for r in rows]) for k in first}
    return np.stack([np.asarray(r) for r in rows])


def _one_row(tree: Tree) -> Tree:
    if isinstance(tree, Mapping):
        return {k: _one_row(v) for k, v in tree.items()}
    return np.asarray(tree)[None]


class EpisodeRecorder:
    """Collect one episode in Isaac Lab's recorded layout (``ActionStateRecorderManagerCfg``).

    ``initial_state`` after reset; per step, pre-step ``obs`` and ``actions``, post-step ``states`` and
    ``processed_actions``. With ``datagen_info`` it also records the annotations of a source dataset
    (pre-step eef/object poses, the target pose the action encodes, and the subtask signals).
    """

    def __init__(self, env: MimicEnv, *, datagen_info: bool = False, processed_actions: bool = True) -> None:
        self.env = env
        self.datagen_info = datagen_info
        self.processed_actions = processed_actions
        self._rows = isinstance(env, RowRecorded)
        self._initial: Tree | None = None
        self._obs: list[Any] = []  # observation trees, or rows where the env records rows (``RowRecorded``)
        self._actions: list[np.ndarray] = []
        self._states: list[Any] = []
        self._processed: list[np.ndarray] = []
        self._info: list[Tree] = []

    def __len__(self) -> int:
        return len(self._actions)

    def start(self) -> None:
        """Call right after reset / reset_to."""
        self._initial = self.env.get_state()
        self._obs.clear()
        self._actions.clear()
        self._states.clear()
        self._processed.clear()
        self._info.clear()

    def step(self, action: np.ndarray) -> dict[str, np.ndarray]:
        """Record around ``env.step(action)`` and return its observation."""
        if self._initial is None:
            raise RuntimeError("EpisodeRecorder.start() must be called after reset")
        env = self.env
        action = np.asarray(action, dtype=np.float32)
        self._obs.append(env.observation_row() if self._rows else dict(env.observations()))
        self._actions.append(action)
        if self.datagen_info:
            self._info.append({
                "eef_pose": {e: env.get_robot_eef_pose(e) for e in env.task.eef_names},
                "object_pose": env.get_object_poses(),
                "target_eef_pose": env.action_to_target_eef_pose(action),
                "subtask_term_signals": {k: np.bool_(v) for k, v in env.get_subtask_term_signals().items()},
            })
        obs = env.step(action)
        self._states.append(env.state_row() if self._rows else env.get_state())
        if self.processed_actions:
            self._processed.append(env.processed_action())
        return obs

    def episode(self) -> Tree:
        """The recorded episode as a tree for ``DatasetWriter.write_demo``."""
        if self._initial is None or not self._actions:
            raise RuntimeError("no steps recorded")
        if self._rows:
            obs = self.env.observations_from_rows(np.stack(self._obs))  # type: ignore[attr-defined]
            states = self.env.states_from_rows(np.stack(self._states))  # type: ignore[attr-defined]
        else:
            obs, states = _stack_rows(self._obs), _stack_rows(self._states)
        if self.datagen_info:
            obs["datagen_info"] = _stack_rows(self._info)
        ep: Tree = {
            "actions": np.stack(self._actions),
            "initial_state": _one_row(self._initial),
            "obs": obs,
            "states": states,
        }
        if self.processed_actions:
            ep["processed_actions"] = np.stack(self._processed)
        return ep
