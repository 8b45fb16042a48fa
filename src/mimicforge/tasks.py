"""Task facts shared by the engines and the generator: subtasks, object references, offsets, thresholds.

One place, not code paths: the twin computes its subtask signals and success check from these numbers,
and the generator segments and transforms source demos with them. Values for the Franka cube stack are
Isaac Lab 2.3's (``FrankaCubeStackIKRelMimicEnvCfg`` and the stack task's ``mdp`` terms).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mimicforge.errors import ConfigError

SELECTION_STRATEGIES = ("random", "nearest_neighbor_object", "nearest_neighbor_robot_distance")


@dataclass(frozen=True, kw_only=True)
class SubtaskSpec:
    """One subtask of one end effector, as Isaac Lab's ``SubTaskConfig``."""

    object_ref: str | None
    term_signal: str | None  # None for the last subtask (it ends with the demo)
    # The object in the gripper during this subtask (None when nothing is held, e.g. while grasping); used
    # by the held-object correction of the generator's refined execution.
    held_object: str | None = None
    term_offset_range: tuple[int, int] = (0, 0)
    selection_strategy: str = "nearest_neighbor_object"
    nn_k: int = 3
    pos_weight: float = 1.0
    rot_weight: float = 1.0
    action_noise: float = 0.03
    num_interpolation_steps: int = 5
    num_fixed_steps: int = 0
    apply_noise_during_interpolation: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        lo, hi = self.term_offset_range
        if lo > hi or lo < 0:
            raise ConfigError(f"subtask offset range {self.term_offset_range} must satisfy 0 <= low <= high")
        if self.selection_strategy not in SELECTION_STRATEGIES:
            raise ConfigError(
                f"selection strategy {self.selection_strategy!r} is not one of {', '.join(SELECTION_STRATEGIES)}"
            )
        if self.selection_strategy != "random" and self.object_ref is None:
            raise ConfigError("a subtask without object_ref can only use the 'random' selection strategy")
        if self.nn_k < 1:
            raise ConfigError(f"nn_k must be >= 1, got {self.nn_k}")
        if self.num_interpolation_steps < 0 or self.num_fixed_steps < 0:
            raise ConfigError("num_interpolation_steps and num_fixed_steps must be >= 0")
        if self.action_noise < 0:
            raise ConfigError(f"action_noise must be >= 0, got {self.action_noise}")


@dataclass(frozen=True, kw_only=True)
class StackThresholds:
    """Isaac Lab 2.3's ``object_grasped`` / ``object_stacked`` / ``cubes_stacked`` parameters."""

    grasp_diff_threshold: float = 0.06
    gripper_open_val: float = 0.04
    gripper_threshold: float = 0.005
    stack_xy_threshold: float = 0.05  # object_stacked (subtask signal)
    success_xy_threshold: float = 0.04  # cubes_stacked (success)
    height_threshold: float = 0.005
    height_diff: float = 0.0468
    atol: float = 1e-4
    rtol: float = 1e-4


@dataclass(frozen=True, kw_only=True)
class TaskSpec:
    name: str
    env_name: str  # the gym id written into env_args
    eef_names: tuple[str, ...]
    object_names: tuple[str, ...]
    subtasks: dict[str, tuple[SubtaskSpec, ...]]  # per eef, in order
    thresholds: StackThresholds = field(default_factory=StackThresholds)

    def __post_init__(self) -> None:
        for eef, subs in self.subtasks.items():
            if not subs:
                raise ConfigError(f"task {self.name}: eef {eef} has no subtasks")
            if subs[-1].term_signal is not None or subs[-1].term_offset_range != (0, 0):
                raise ConfigError(f"task {self.name}: the last subtask of {eef} must have no term signal "
                                  "and offset range (0, 0)")
            for s in subs[:-1]:
                if s.term_signal is None:
                    raise ConfigError(f"task {self.name}: every subtask of {eef} but the last needs a term signal")
            for s in subs:
                for obj in (s.object_ref, s.held_object):
                    if obj is not None and obj not in self.object_names:
                        raise ConfigError(f"task {self.name}: object {obj!r} is not one of "
                                          f"{', '.join(self.object_names)}")

    def term_signals(self, eef: str) -> list[str]:
        return [s.term_signal for s in self.subtasks[eef] if s.term_signal is not None]


def _franka_stack_subtasks() -> tuple[SubtaskSpec, ...]:
    return (
        SubtaskSpec(object_ref="cube_2", term_signal="grasp_1", term_offset_range=(10, 20),
                    description="Grasp red cube"),
        SubtaskSpec(object_ref="cube_1", term_signal="stack_1", term_offset_range=(10, 20), held_object="cube_2",
                    description="Stack red cube on top of blue cube"),
        SubtaskSpec(object_ref="cube_3", term_signal="grasp_2", term_offset_range=(10, 20),
                    description="Grasp green cube"),
        SubtaskSpec(object_ref="cube_2", term_signal=None, term_offset_range=(0, 0), held_object="cube_3",
                    description="Stack green cube on top of red cube"),
    )


FRANKA_STACK = TaskSpec(
    name="franka_stack",
    env_name="Isaac-Stack-Cube-Franka-IK-Rel-Mimic-v0",
    eef_names=("franka",),
    object_names=("cube_1", "cube_2", "cube_3"),
    subtasks={"franka": _franka_stack_subtasks()},
)

# Gym ids that share the Franka stack task (the Blueprint variant adds cameras only).
TASKS: dict[str, TaskSpec] = {
    FRANKA_STACK.env_name: FRANKA_STACK,
    "Isaac-Stack-Cube-Franka-IK-Rel-Blueprint-Mimic-v0": FRANKA_STACK,
}


def task_for_env(env_name: str) -> TaskSpec:
    try:
        return TASKS[env_name]
    except KeyError:
        raise ConfigError(
            f"no task is known for env {env_name!r}; known: {', '.join(sorted(TASKS))}"
        ) from None
