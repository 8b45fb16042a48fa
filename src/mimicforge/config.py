"""Run settings: frozen dataclasses; precedence flags > environment > TOML file > saved run settings > defaults.

Every setting is one field declared with ``settings.setting``: default, environment variable, parser,
example and help; the dataclasses validate themselves (``__post_init__``), and the TOML keys, CLI flags
and help defaults are generated from the same declaration (``SETTINGS``). To add a setting, add one field
here. Errors quote the bad value, where it came from and what is allowed, e.g.
``NUM_TRIALS='ten' (environment): expected a positive integer, e.g. NUM_TRIALS=10``.
The resolved settings are saved beside the outputs (``name.config.toml``) and in the HDF5 ``data`` attrs.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import toml

from mimicforge.errors import ConfigError
from mimicforge.settings import (
    Setting,
    boolean,
    choice,
    index,
    integer,
    names,
    number,
    parse_as,
    path,
    setting,
    settings_of,
    span,
    text,
    validate_fields,
)
from mimicforge.tasks import SELECTION_STRATEGIES, SUCCESS_RULES

DEFAULT_INPUT = Path("datasets/annotated_dataset.hdf5")
RAN = "ran"  # the [ran] table of a run's saved settings: the engine and device that ran (a record, not settings)
DEFAULT_OUTPUT = Path("datasets/generated.hdf5")
ENGINES = ("auto", "mujoco", "isaaclab")
STOP_RULES = ("successes", "attempts")
SOURCE_SELECTION = ("per_subtask", "per_trial")
ON_EXISTING = ("error", "resume", "overwrite")
MODALITIES = ("rgb", "depth", "semantic_segmentation", "normals")
# Image observations stored in each demo, under Isaac Lab's Visuomotor task names (datasets/image_obs.py)
IMAGE_OBS_KEYS = ("table_cam", "wrist_cam", "table_cam_segmentation", "table_cam_normals", "table_cam_depth")
TWIN, ISAAC = ("mujoco",), ("isaaclab",)
_POSITIVE = integer(1, what="a positive integer")


def _device(v: Any) -> str:
    s = str(v).strip().lower() if isinstance(v, str) else ""
    if s not in ("cpu", "cuda") and not (s.startswith("cuda:") and s[5:].isdigit()):
        raise ValueError(_device.desc)  # type: ignore[attr-defined]
    return s


_device.desc = "cpu, cuda or cuda:N"  # type: ignore[attr-defined]


def _devices(v: Any) -> tuple[str, ...]:
    items = v.split(",") if isinstance(v, str) else v
    if not isinstance(items, (list, tuple)):
        raise ValueError(_devices.desc)  # type: ignore[attr-defined]
    try:
        return tuple(_device(str(x)) for x in items if str(x).strip())
    except ValueError:
        raise ValueError(_devices.desc) from None  # type: ignore[attr-defined]


_devices.desc = (  # type: ignore[attr-defined]
    "a comma-separated list of cpu, cuda or cuda:N (a device may repeat: workers share it)")


@dataclass(frozen=True, kw_only=True)
class GenerationConfig:
    input_file: Path | None = setting(
        None, env="INPUT_FILE", parse=path, example="datasets/annotated_dataset.hdf5", flag="--input",
        help="annotated source dataset (datasets/annotated_dataset.hdf5 when it exists)")
    output_file: Path = setting(
        DEFAULT_OUTPUT, env="OUTPUT_FILE", parse=path, example="datasets/generated.hdf5", flag="--output",
        help="output dataset, x/name.hdf5")
    num_trials: int = setting(10, env="NUM_TRIALS", parse=_POSITIVE, example="10",
                              help="goal: successes (or attempts with --stop-on attempts)")
    stop_on: str = setting("successes", env="STOP_ON", parse=choice(STOP_RULES), example="successes",
                           help="successes (Isaac's generation_guarantee) or attempts")
    seed: int = setting(1, env="SEED", parse=integer(0, 2**63 - 1), example="1",
                        help="run seed; the same seed gives the same demos")
    keep_failed: bool = setting(False, env="KEEP_FAILED", parse=boolean, example="1",
                                help="also keep failed attempts in name_failed.hdf5")
    dataset_compression: bool = setting(
        True, env="DATASET_COMPRESSION", parse=boolean, example="0",
        help="gzip every dataset of the demos written, as Isaac Lab 2.3's recorder does (3.0 made it a toggle of "
             "this name); off: uncompressed, a low-dim demo committed in about a third less CPU time and no larger "
             "(image observations grow many times)")
    select_source: str = setting("per_subtask", env="SELECT_SOURCE", parse=choice(SOURCE_SELECTION),
                                 example="per_subtask",
                                 help="per_subtask (MimicGen paper) or per_trial (Isaac Lab 2.3)")
    selection_strategy: str | None = setting(
        None, env="SELECTION_STRATEGY", parse=choice(SELECTION_STRATEGIES), example="nearest_neighbor_object",
        help="override the task's source selection strategy")
    nn_k: int | None = setting(None, env="NN_K", parse=_POSITIVE, example="3",
                               help="candidates for nearest-neighbour selection")
    action_noise: float | None = setting(None, env="ACTION_NOISE", parse=number(0.0, 1.0), example="0.03",
                                         help="override the task's action noise std")
    num_interpolation_steps: int | None = setting(
        None, env="NUM_INTERPOLATION_STEPS", parse=integer(0, 1000), example="5",
        help="override the task's interpolation steps between subtasks")
    max_consecutive_failures: int = setting(100, env="MAX_CONSECUTIVE_FAILURES", parse=_POSITIVE, example="100",
                                            help="stop after this many failed attempts in a row")
    stall_timeout: float = setting(900.0, env="STALL_TIMEOUT", parse=number(1.0, 86400.0), example="900",
                                   help="stop when no attempt finished for this many seconds")
    # Refined execution (mimic/execution.py); isaac_parity turns all of it off: exactly Isaac Lab Mimic.
    isaac_parity: bool = setting(False, env="ISAAC_PARITY", parse=boolean, example="1", engines=TWIN,
                                 harmless=True,  # Isaac Lab Mimic executes that way anyway
                                 help="execute exactly as Isaac Lab Mimic: no lead, settling, noise-free contact, "
                                      "held-object correction or transit")
    success_rule: str = setting("2.3", env="SUCCESS_RULE", parse=choice(tuple(SUCCESS_RULES)), example="3.0",
                                engines=TWIN, harmless=True,  # Isaac Lab applies its own release's rule
                                help="whose success check the twin uses: Isaac Lab 2.3's stacked cubes, or 3.0's "
                                     "stacked cubes at rest (every cube under 0.05 m/s)")
    settle_steps: int = setting(30, env="SETTLE_STEPS", parse=integer(0, 1000), example="30", engines=TWIN,
                                help="most steps to hold a target until the end effector reaches it (0: off)")
    noise_free_steps: int = setting(20, env="NOISE_FREE_STEPS", parse=integer(0, 1000), example="20",
                                    engines=TWIN,
                                    help="waypoints before a gripper change without action noise (0: off)")
    held_object_correction: bool = setting(True, env="HELD_OBJECT_CORRECTION", parse=boolean, example="1",
                                           engines=TWIN,
                                           help="make a carried object, not the hand, follow the source path")
    transit_clearance: float = setting(0.05, env="TRANSIT_CLEARANCE", parse=number(0.0, 0.5), example="0.05",
                                       engines=TWIN, help="lift (m) above the higher end between subtasks (0: off)")
    lead_gain: float = setting(5.0, env="LEAD_GAIN", parse=number(1.0, 20.0), example="5", engines=TWIN,
                               help="command planned waypoints this many times their distance from the hand (1: off)")
    transit_climb: float = setting(0.02, env="TRANSIT_CLIMB", parse=number(0.0, 0.5), example="0.02", engines=TWIN,
                                   help="climb (m) above the higher end before a transit traverses (0: no wait; "
                                        "at most the clearance)")
    engine: str = setting("auto", env="ENGINE", parse=choice(ENGINES), example="mujoco",
                          help="auto, mujoco or isaaclab")
    task: str | None = setting(None, env="TASK", parse=text, example="Isaac-Stack-Cube-Franka-IK-Rel-Mimic-v0",
                               help="env name, when the input file's env_args lack it")
    num_envs: int = setting(1, env="NUM_ENVS", parse=integer(1, 4096), example="1", engines=ISAAC,
                            help="parallel envs in one Isaac Lab process")
    device: str = setting("cuda:0", env="DEVICE", parse=_device, example="cuda:0", engines=ISAAC, harmless=True,
                          help="Isaac Lab's simulation device: cpu, cuda or cuda:N")
    devices: tuple[str, ...] = setting(
        (), env="DEVICES", parse=_devices, example="cuda:0,cuda:1", engines=ISAAC, harmless=True,
        help="devices of the Isaac Lab workers, worker i on the i-th (cycling); none: every GPU this machine "
             "shows, or DEVICE for all when it is cpu or no GPU is found")

    def __post_init__(self) -> None:
        validate_fields(self, "generation")


@dataclass(frozen=True, kw_only=True)
class CameraConfig:
    cameras: tuple[str, ...] = setting((), env="CAMERAS", parse=names(), example="table_cam,table_high_cam",
                                       help="comma-separated cameras to render, e.g. table_cam,table_high_cam")
    modalities: tuple[str, ...] = setting(("rgb",), env="MODALITIES", parse=names(MODALITIES),
                                          example="rgb,semantic_segmentation",
                                          help="rgb, depth, semantic_segmentation, normals")
    width: int = setting(320, env="CAMERA_WIDTH", parse=integer(16, 4096), example="320", engines=TWIN,
                         help="camera image width (Isaac Lab's cameras keep their task's size)")
    # Isaac Lab's 704 x 1280 cameras at a quarter of the size
    height: int = setting(176, env="CAMERA_HEIGHT", parse=integer(16, 4096), example="176", engines=TWIN,
                          help="camera image height")
    mesh_detail: float = setting(0.2, env="CAMERA_MESH_DETAIL", parse=number(0.01, 1.0), example="0.5", engines=TWIN,
                                 harmless=True,
                                 help="share of the Panda's mesh triangles drawn (1.0: all)")
    output_dir: Path = setting(Path("output"), env="OUTPUT_DIR", parse=path, example="output",
                               help="image folders root; a dataset's frames go to OUTPUT_DIR/<its stem>/")
    image_obs: tuple[str, ...] = setting(
        (), env="IMAGE_OBS", parse=names(IMAGE_OBS_KEYS), example="table_cam,wrist_cam", engines=TWIN,
        help="camera images stored in each demo's obs, Isaac Lab Visuomotor names: table_cam, wrist_cam, "
             "table_cam_segmentation, table_cam_normals, table_cam_depth")
    image_obs_width: int = setting(200, env="IMAGE_OBS_WIDTH", parse=integer(16, 1024), example="200", engines=TWIN,
                                   help="image observation width")
    image_obs_height: int = setting(200, env="IMAGE_OBS_HEIGHT", parse=integer(16, 1024), example="200",
                                    engines=TWIN, help="image observation height")

    def __post_init__(self) -> None:
        validate_fields(self, "cameras")


@dataclass(frozen=True, kw_only=True)
class WorkerConfig:
    workers: int = setting(1, env="WORKERS", parse=integer(1, 1024, "an integer in [1, 1024]"), example="2",
                           help="parallel worker processes on this machine (Isaac Lab: one Kit process each)")
    ray: bool = setting(False, env="RAY", parse=boolean, example="1", flag=None,
                        help="run shards as Ray tasks (Isaac Lab: one GPU each)")
    ray_address: str | None = setting(None, env="RAY_ADDRESS", parse=text, example="auto", flag=None,
                                      help="Ray cluster address; none: start a local Ray")
    max_restarts: int = setting(3, env="MAX_RESTARTS", parse=integer(0, 1000), example="3",
                                help="restarts allowed per crashed worker")

    def __post_init__(self) -> None:
        validate_fields(self, "workers")


@dataclass(frozen=True, kw_only=True)
class RandomizationConfig:
    """The task's reset event for the cubes (Isaac Lab's ``randomize_cube_positions``): uniform x, y (m) and
    yaw (rad) per cube, with a minimum distance between cube centres. Defaults are Isaac Lab's."""

    cube_x: tuple[float, float] = setting((0.4, 0.6), env="CUBE_X", parse=span(-1.5, 1.5), example="0.4,0.6",
                                          help="cube x range (m)")
    cube_y: tuple[float, float] = setting((-0.10, 0.10), env="CUBE_Y", parse=span(-1.5, 1.5), example="-0.1,0.1",
                                          help="cube y range (m)")
    cube_yaw: tuple[float, float] = setting((-1.0, 1.0), env="CUBE_YAW", parse=span(-3.1416, 3.1416),
                                            example="-1.0,1.0", help="cube yaw range (rad)")
    min_separation: float = setting(0.1, env="MIN_SEPARATION", parse=number(0.0, 1.0), example="0.1",
                                    help="minimum distance between cube centres (m)")

    def __post_init__(self) -> None:
        validate_fields(self, "randomization")


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    cameras: CameraConfig = field(default_factory=CameraConfig)
    workers: WorkerConfig = field(default_factory=WorkerConfig)
    randomization: RandomizationConfig = field(default_factory=RandomizationConfig)
    # what to do when the output exists (the CLI spells it --resume / --overwrite)
    on_existing: str = setting("error", env="ON_EXISTING", parse=choice(ON_EXISTING), example="resume", flag=None,
                               help="what to do when the output exists: error, resume or overwrite")

    def __post_init__(self) -> None:
        validate_fields(self, "run")


SECTIONS: dict[str, type] = {"generation": GenerationConfig, "cameras": CameraConfig, "workers": WorkerConfig,
                             "randomization": RandomizationConfig, "run": RunConfig}
SETTINGS: tuple[Setting, ...] = tuple(s for name, cls in SECTIONS.items() for s in settings_of(cls, name))
_BY_SECTION = index(SETTINGS)
_BY_KEY: dict[str, Setting] = {s.key: s for s in SETTINGS}


def _apply(values: dict[str, dict[str, Any]], s: Setting, raw: Any, origin: str) -> None:
    values[s.section][s.key] = parse_as(s, raw, origin)


def _values(cfg: RunConfig) -> dict[str, dict[str, Any]]:
    """Every setting of ``cfg``, by section."""
    return {name: {s.key: getattr(cfg if name == "run" else getattr(cfg, name), s.key) for s in body.values()}
            for name, body in _BY_SECTION.items()}


def _build(values: Mapping[str, Mapping[str, Any]]) -> RunConfig:
    parts = {name: cls(**values.get(name, {})) for name, cls in SECTIONS.items() if name != "run"}
    return RunConfig(**parts, **values.get("run", {}))


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        return toml.loads(path.read_text(encoding="utf-8"))
    except (toml.TomlDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid TOML ({' '.join(str(exc).split())})") from None


def _merge_toml(values: dict[str, dict[str, Any]], doc: Mapping[str, Any], origin: str) -> None:
    for section, body in doc.items():
        if section == RAN:
            continue
        if section not in _BY_SECTION or not isinstance(body, Mapping):
            raise ConfigError(f"{origin}: unknown section [{section}]; known: {', '.join(_BY_SECTION)}")
        for key, raw in body.items():
            setting = _BY_SECTION[section].get(key)
            if setting is None:
                raise ConfigError(
                    f"{origin}: unknown key {key!r} in [{section}]; known: {', '.join(_BY_SECTION[section])}"
                )
            _apply(values, setting, raw, origin)


def load_config(
    *,
    config_file: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
    base: RunConfig | None = None,
) -> RunConfig:
    """Resolve settings: ``base`` (defaults, or a saved run's settings) < file < environment < flags.

    ``flags`` maps setting keys to values (None means "not given"). Empty environment variables count as
    unset, so ``NUM_TRIALS=`` in a compose file falls back to the default.
    """
    values = _values(base or RunConfig())
    if config_file is not None:
        _merge_toml(values, _read_toml(Path(config_file)), str(config_file))
    env = os.environ if env is None else env
    for s in SETTINGS:
        raw = env.get(s.env) if s.env else None
        if raw is not None and raw.strip() != "":
            _apply(values, s, raw, "environment")
    for key, raw in (flags or {}).items():
        if raw is None:
            continue
        if key not in _BY_KEY:
            raise ValueError(f"unknown setting {key!r}")
        _apply(values, _BY_KEY[key], raw, "flag")
    cfg = _build(values)
    _check_consistency(cfg)
    return cfg


def _check_consistency(cfg: RunConfig) -> None:
    g = cfg.generation
    if g.input_file is not None and g.input_file.resolve() == g.output_file.resolve():
        raise ConfigError(f"input and output are the same file ({g.output_file}); choose another --output")
    if g.output_file.suffix not in (".hdf5", ".h5"):
        raise ConfigError(f"output file {str(g.output_file)!r} must end in .hdf5, e.g. datasets/generated.hdf5")
    if cfg.cameras.cameras and not cfg.cameras.modalities:
        raise ConfigError("cameras are set but no modalities; set e.g. MODALITIES=rgb")
    if cfg.workers.ray_address is not None and not cfg.workers.ray:
        raise ConfigError("RAY_ADDRESS / --ray ADDRESS needs Ray enabled (RAY=1 or --ray)")


# --------------------------------------------------------------------------------------------- saving
def to_toml(cfg: RunConfig, *, with_run: bool = False) -> str:
    """The resolved settings as TOML (None values omitted: TOML has no null).

    The record saved beside a run's outputs leaves out the ``[run]`` section (``on_existing``): what to do
    with an existing output is decided by each invocation, never inherited from a saved file.
    ``with_run=True`` gives the whole configuration, for handing a run to a child process
    (``from_toml_text`` reads both)."""

    def section(obj: Any) -> dict[str, Any]:
        out = {}
        for k, v in dataclasses.asdict(obj).items():
            if v is None:
                continue
            out[k] = str(v) if isinstance(v, Path) else list(v) if isinstance(v, tuple) else v
        return out

    doc = {name: section(getattr(cfg, name)) for name in SECTIONS if name != "run"}
    engine = cfg.generation.engine
    if engine != "auto":  # a run's settings: say what ran (the twin steps on the CPU, whatever DEVICE says)
        doc[RAN] = {"engine": engine, "device": cfg.generation.device if engine == "isaaclab" else "cpu"}
        if engine != "isaaclab":
            doc["generation"].pop("device", None)
    if with_run:
        doc["run"] = {s.key: getattr(cfg, s.key) for s in _BY_SECTION["run"].values()}
    return toml.dumps(doc)


def from_toml_text(text: str, origin: str) -> RunConfig:
    """Settings saved by ``to_toml`` (used to resume a run with the settings it started with)."""
    try:
        doc = toml.loads(text)
    except toml.TomlDecodeError as exc:
        raise ConfigError(f"{origin} is not valid TOML ({' '.join(str(exc).split())})") from None
    values: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
    _merge_toml(values, doc, origin)
    return _build(values)


def resolve_input(cfg: RunConfig) -> RunConfig:
    """Fill in the default input, or say how to get one. Never makes data up."""
    g = cfg.generation
    if g.input_file is not None:
        return cfg
    if DEFAULT_INPUT.is_file():
        from dataclasses import replace

        return replace(cfg, generation=replace(g, input_file=DEFAULT_INPUT))
    raise ConfigError(
        f"no input dataset: pass --input FILE (or INPUT_FILE=...), put an annotated Isaac Lab Mimic file at "
        f"{DEFAULT_INPUT}, or record one on the twin with 'mimicforge record --num-demos 10 --out {DEFAULT_INPUT}'"
    )


def check_engine(cfg: RunConfig, engine: str) -> list[str]:
    """Settings ``engine`` cannot honour: an error naming the first that matters; returns one warning line
    per harmless one (the caller logs them)."""
    warnings = []
    values = _values(cfg)
    for s in SETTINGS:
        if s.engines is None or engine in s.engines:
            continue
        value = values[s.section][s.key]
        if value == s.default:
            continue
        shown = (",".join(map(str, value)) if isinstance(value, tuple) else int(value) if isinstance(value, bool)
                 else value)
        if s.harmless:
            warnings.append(f"{s.env}={shown} has no effect on the {engine} engine; ignored")
            continue
        raise ConfigError(f"{s.env}={shown} cannot apply on the {engine} engine ({s.help}; only "
                          f"{' / '.join(s.engines)}); {s.hint or f'unset it, or choose ENGINE={s.engines[0]}'}")
    return warnings
