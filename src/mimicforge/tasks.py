"""The task registry: every task fact, shared by the engines, the generator and ``check_env``.

``REGISTRY`` maps each gym id to a ``TaskEntry``: the ``TaskSpec`` (subtasks, object references, offsets,
thresholds, signal definitions, cameras, object size, action layout), the name of the twin's env factory
when the MuJoCo twin models the task, and the variant's image terms (which camera streams its Isaac Lab
config saves as files or records in the HDF5, and its semantic colours). One place, not code paths: the
twin computes its subtask signals and success check from these numbers, the generator segments and
transforms source demos with them, ``check_env`` takes the action layout from here, and the Isaac Lab
driver decides cameras from the image terms. Values for the Franka cube stack are Isaac Lab 2.3's
(``FrankaCubeStackIKRelMimicEnvCfg`` and the stack task's ``mdp`` terms).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
    # cubes_stacked's rest check: most linear speed (m/s) of every cube (None: none; see SUCCESS_RULES)
    success_max_lin_vel: float | None = None


# The stack task's success rule of each Isaac Lab generation (the SUCCESS_RULE setting names one). 3.0's
# ``cubes_stacked`` also requires every cube at rest (``max_lin_vel=0.05`` m/s, isaaclab_tasks/contrib/stack/
# mdp/terminations.py), so a cube passing through the stacked pose mid-fall no longer counts.
SUCCESS_RULES: Mapping[str, float | None] = {"2.3": None, "3.0": 0.05}


def thresholds_for(rule: str, base: StackThresholds | None = None) -> StackThresholds:
    """``base`` (the task's thresholds) with the success rule of Isaac Lab generation ``rule``."""
    if rule not in SUCCESS_RULES:
        raise ConfigError(f"unknown success rule {rule!r}; choose one of {', '.join(SUCCESS_RULES)}")
    from dataclasses import replace

    return replace(base or StackThresholds(), success_max_lin_vel=SUCCESS_RULES[rule])


@dataclass(frozen=True, kw_only=True)
class ActionLayout:
    """An action vector, as Isaac Lab's IK-Rel tasks lay it out: per end effector a relative pose (position
    delta in m, then axis-angle delta in rad) and a gripper command (+1 open, -1 close)."""

    pose: tuple[str, ...] = ("dx", "dy", "dz", "drx", "dry", "drz")
    gripper: tuple[str, ...] = ("gripper",)

    @property
    def dim(self) -> int:
        return len(self.pose) + len(self.gripper)

    def example(self, gripper: float = -1.0) -> list[float]:
        """A small valid action: distinct non-zero pose deltas, then the gripper command."""
        deltas = [0.02, -0.01, 0.03, 0.05, -0.04, 0.1, 0.07, -0.06]
        return [deltas[i % len(deltas)] for i in range(len(self.pose))] + [gripper] * len(self.gripper)


@dataclass(frozen=True, kw_only=True)
class TaskSpec:
    name: str
    env_name: str  # the gym id written into env_args
    eef_names: tuple[str, ...]
    object_names: tuple[str, ...]
    subtasks: dict[str, tuple[SubtaskSpec, ...]]  # per eef, in order
    thresholds: StackThresholds = field(default_factory=StackThresholds)
    # Subtask signal -> (check, objects), as the task's ``subtask_terms`` observation group defines them.
    signals: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    cameras: tuple[str, ...] = ()  # the task's cameras (the Blueprint variant renders them)
    object_size: float = 0.0  # edge of the task's cubes (m)
    action_layout: ActionLayout = field(default_factory=ActionLayout)
    step_dt: float = 0.05  # seconds per env step (Isaac Lab: sim.dt x decimation); recorded files may say otherwise
    instruction: str = ""  # the task in words, as policy datasets carry it

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
        for name, (kind, objs) in self.signals.items():
            if kind not in ("grasped", "stacked") or any(o not in self.object_names for o in objs):
                raise ConfigError(f"task {self.name}: signal {name!r} = ({kind!r}, {objs}) is not a known check "
                                  "of the task's objects")

    def term_signals(self, eef: str) -> list[str]:
        return [s.term_signal for s in self.subtasks[eef] if s.term_signal is not None]


def boundary_problem(ends: Sequence[int], subtasks: Sequence[SubtaskSpec]) -> str | None:
    """Isaac Lab's load-time check of one source demo's subtask ends (the last is the demo's length): shifted
    by the offset ranges, boundaries can never cross or empty a subtask. None when they cannot."""
    start = 0
    for i, sub in enumerate(subtasks):
        lo = sub.term_offset_range[0]
        prev_hi = subtasks[i - 1].term_offset_range[1] if i else 0
        if ends[i] + lo <= start + prev_hi:
            name = sub.term_signal or "the final subtask"
            return (f"subtask {i} ({name}) ends at step {ends[i]}, too close to the previous boundary {start} "
                    f"for offsets up to {prev_hi}")
        start = int(ends[i])
    return None


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
    signals={
        "grasp_1": ("grasped", ("cube_2",)),
        "stack_1": ("stacked", ("cube_2", "cube_1")),
        "grasp_2": ("grasped", ("cube_3",)),
    },
    cameras=("table_cam", "table_high_cam"),
    object_size=0.0468,  # the stacked origin pitch of the real data
    step_dt=0.01 * 5,  # stack_env_cfg.py: sim.dt = 0.01, decimation = 5 (20 Hz control)
    instruction="Stack the red cube on the blue cube, then the green cube on the red cube.",
)


Stream = tuple[str, str]  # (camera, modality)
RGBA = tuple[int, int, int, int]

# Semantic segmentation colours by label, as the stack task's Isaac Lab configs set them (the Blueprint's;
# the Visuomotor-Cosmos variant's differ). Isaac tags robot, table and cubes; its ground stays unlabelled.
STACK_SEGMENTATION_COLORS: Mapping[str, RGBA] = {
    "cube_1": (255, 36, 66, 255),
    "cube_2": (255, 184, 48, 255),
    "cube_3": (55, 255, 139, 255),
    "table": (255, 237, 218, 255),
    "ground": (100, 100, 100, 255),
    "robot": (125, 125, 125, 255),
    "UNLABELLED": (125, 125, 125, 255),
    "BACKGROUND": (10, 10, 10, 255),
}
COSMOS_SEGMENTATION_COLORS: Mapping[str, RGBA] = {  # stack_ik_rel_visuomotor_cosmos_env_cfg.py
    "cube_1": (120, 230, 255, 255),
    "cube_2": (255, 36, 66, 255),
    "cube_3": (55, 255, 139, 255),
    "table": (255, 237, 218, 255),
    "ground": (100, 100, 100, 255),
    "robot": (204, 110, 248, 255),
    "UNLABELLED": (150, 150, 150, 255),
    "BACKGROUND": (200, 200, 200, 255),
}


@dataclass(frozen=True)
class TaskEntry:
    """One gym id: its task, the twin that models it, and its image terms.

    ``image_files``: streams its Isaac Lab config saves as PNG files (the Blueprint's ``image`` term with
    ``image_path``); ``CAMERAS`` / ``MODALITIES`` choose among these. ``image_obs``: streams recorded in the
    HDF5 ``obs`` (the Visuomotor variants), always. ``isaac_config``: the config module that declares them,
    below the stack task's config package (the contract test reads it from every ``isaaclab`` wheel).
    """

    spec: TaskSpec
    twin: str | None = None  # "module:function" building the MuJoCo twin of this task; None: Isaac Lab only
    isaac_config: str | None = None
    image_files: tuple[Stream, ...] = ()
    image_obs: tuple[Stream, ...] = ()
    segmentation_colors: Mapping[str, RGBA] = field(default_factory=lambda: STACK_SEGMENTATION_COLORS)

    @property
    def cameras(self) -> tuple[str, ...]:
        """The cameras its image terms use, in order of first mention."""
        return tuple(dict.fromkeys(c for c, _ in (*self.image_files, *self.image_obs)))

    @property
    def has_cameras(self) -> bool:
        """Its env creates camera sensors (Isaac Sim must start with cameras enabled)."""
        return bool(self.image_files or self.image_obs)


# Gym ids that share the Franka stack task: the Blueprint variant adds image files, the Visuomotor ones
# record images in the HDF5 (the twin renders those with IMAGE_OBS on the base task).
_TWIN = "mimicforge.backends.mujoco:make_env"
_BLUEPRINT_FILES = tuple((cam, mod) for cam in FRANKA_STACK.cameras for mod in ("normals", "semantic_segmentation"))
_VISUOMOTOR_OBS = (("table_cam", "rgb"), ("wrist_cam", "rgb"))
REGISTRY: dict[str, TaskEntry] = {
    FRANKA_STACK.env_name: TaskEntry(FRANKA_STACK, twin=_TWIN),
    "Isaac-Stack-Cube-Franka-IK-Rel-Blueprint-Mimic-v0": TaskEntry(
        FRANKA_STACK, twin=_TWIN, isaac_config="stack_ik_rel_blueprint_env_cfg", image_files=_BLUEPRINT_FILES),
    "Isaac-Stack-Cube-Franka-IK-Rel-Visuomotor-Mimic-v0": TaskEntry(
        FRANKA_STACK, isaac_config="stack_ik_rel_visuomotor_env_cfg", image_obs=_VISUOMOTOR_OBS),
    "Isaac-Stack-Cube-Franka-IK-Rel-Visuomotor-Cosmos-Mimic-v0": TaskEntry(
        FRANKA_STACK, isaac_config="stack_ik_rel_visuomotor_cosmos_env_cfg",
        image_obs=(*_VISUOMOTOR_OBS, ("table_cam", "semantic_segmentation"), ("table_cam", "normals"),
                   ("table_cam", "distance_to_image_plane")),
        segmentation_colors=COSMOS_SEGMENTATION_COLORS),
}
TASKS: dict[str, TaskSpec] = {env_name: entry.spec for env_name, entry in REGISTRY.items()}


def task_entry(env_name: str) -> TaskEntry:
    try:
        return REGISTRY[env_name]
    except KeyError:
        raise ConfigError(
            f"no task is known for env {env_name!r}; known: {', '.join(sorted(REGISTRY))}"
        ) from None


def task_for_env(env_name: str) -> TaskSpec:
    return task_entry(env_name).spec
