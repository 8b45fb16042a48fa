"""Run settings: frozen dataclasses, resolved from defaults < TOML file < environment variables < flags.

Every setting is declared once in ``SETTINGS`` (section, TOML key / flag name, environment variable,
parser). Values are validated where they enter, and errors quote the bad value, where it came from and
what is allowed, e.g. ``NUM_TRIALS='ten' (environment): expected a positive integer, e.g. NUM_TRIALS=10``.
The resolved settings are saved beside the outputs (``name.config.toml``) and in the HDF5 ``data`` attrs.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import toml

from mimicforge.errors import ConfigError
from mimicforge.tasks import SELECTION_STRATEGIES

DEFAULT_INPUT = Path("datasets/annotated_dataset.hdf5")
DEFAULT_OUTPUT = Path("datasets/generated.hdf5")
ENGINES = ("auto", "mujoco", "isaaclab")
STOP_RULES = ("successes", "attempts")
SOURCE_SELECTION = ("per_subtask", "per_trial")
ON_EXISTING = ("error", "resume", "overwrite")
MODALITIES = ("rgb", "depth", "semantic_segmentation", "normals")


@dataclass(frozen=True, kw_only=True)
class GenerationConfig:
    input_file: Path | None = None  # None: datasets/annotated_dataset.hdf5 if it exists
    output_file: Path = DEFAULT_OUTPUT
    num_trials: int = 10
    stop_on: str = "successes"  # "successes": Isaac's generation_guarantee; "attempts": stop after N attempts
    seed: int = 1
    keep_failed: bool = False
    select_source: str = "per_subtask"  # MimicGen paper / Isaac Lab <= 2.0; "per_trial": Isaac Lab 2.3
    selection_strategy: str | None = None  # None: the task's (nearest_neighbor_object for the Franka stack)
    nn_k: int | None = None
    action_noise: float | None = None
    num_interpolation_steps: int | None = None
    max_consecutive_failures: int = 100
    # Refined execution (mimic/execution.py); isaac_parity turns all of it off: exactly Isaac Lab Mimic.
    isaac_parity: bool = False
    settle_steps: int = 30
    noise_free_steps: int = 10
    held_object_correction: bool = True
    transit_clearance: float = 0.05
    lead_gain: float = 5.0
    engine: str = "auto"
    task: str | None = None  # env name; None: from the input file's env_args
    num_envs: int = 1  # Isaac Lab engine: parallel envs in one process


@dataclass(frozen=True, kw_only=True)
class CameraConfig:
    cameras: tuple[str, ...] = ()
    modalities: tuple[str, ...] = ("rgb",)
    width: int = 320
    height: int = 176  # Isaac Lab's 704 x 1280 cameras at a quarter of the size
    mesh_detail: float = 0.2  # twin only: share of the Panda's mesh triangles drawn (1.0: all)
    output_dir: Path = Path("output")


@dataclass(frozen=True, kw_only=True)
class WorkerConfig:
    workers: int = 1
    ray: bool = False
    ray_address: str | None = None  # None with ray: start a local Ray
    max_restarts: int = 3  # per worker


@dataclass(frozen=True, kw_only=True)
class RandomizationConfig:
    """The task's reset event for the cubes (Isaac Lab's ``randomize_cube_positions``): uniform x, y (m) and
    yaw (rad) per cube, with a minimum distance between cube centres. Defaults are Isaac Lab's."""

    cube_x: tuple[float, float] = (0.4, 0.6)
    cube_y: tuple[float, float] = (-0.10, 0.10)
    cube_yaw: tuple[float, float] = (-1.0, 1.0)
    min_separation: float = 0.1


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    cameras: CameraConfig = field(default_factory=CameraConfig)
    workers: WorkerConfig = field(default_factory=WorkerConfig)
    randomization: RandomizationConfig = field(default_factory=RandomizationConfig)
    on_existing: str = "error"  # what to do when the output exists: error | resume | overwrite


# --------------------------------------------------------------------------------------------- parsers
Parser = Callable[[Any], Any]


def _int(lo: int, hi: int | None = None, what: str = "") -> Parser:
    desc = what or (f"an integer >= {lo}" if hi is None else f"an integer in [{lo}, {hi}]")

    def parse(v: Any) -> int:
        if isinstance(v, bool):
            raise ValueError(desc)
        if isinstance(v, str):
            v = v.strip()
            if not v.lstrip("+-").isdigit():
                raise ValueError(desc)
        elif not isinstance(v, int):
            raise ValueError(desc)
        n = int(v)
        if n < lo or (hi is not None and n > hi):
            raise ValueError(desc)
        return n

    parse.desc = desc  # type: ignore[attr-defined]
    return parse


def _float(lo: float, hi: float) -> Parser:
    desc = f"a number in [{lo}, {hi}]"

    def parse(v: Any) -> float:
        if isinstance(v, bool):
            raise ValueError(desc)
        try:
            x = float(v)
        except (TypeError, ValueError):
            raise ValueError(desc) from None
        if not lo <= x <= hi:
            raise ValueError(desc)
        return x

    parse.desc = desc  # type: ignore[attr-defined]
    return parse


def _choice(options: tuple[str, ...]) -> Parser:
    desc = "one of " + ", ".join(options)

    def parse(v: Any) -> str:
        s = str(v).strip().lower() if isinstance(v, str) else v
        if s not in options:
            raise ValueError(desc)
        return s

    parse.desc = desc  # type: ignore[attr-defined]
    return parse


def _bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    s = str(v).strip().lower()
    if s in ("1", "true", "yes", "on"):
        return True
    if s in ("0", "false", "no", "off"):
        return False
    raise ValueError(_bool.desc)  # type: ignore[attr-defined]


_bool.desc = "a boolean (1/0, true/false, yes/no)"  # type: ignore[attr-defined]


def _path(v: Any) -> Path:
    if not isinstance(v, (str, os.PathLike)) or not str(v).strip():
        raise ValueError(_path.desc)  # type: ignore[attr-defined]
    return Path(str(v).strip()).expanduser()


_path.desc = "a file path"  # type: ignore[attr-defined]


def _text(v: Any) -> str:
    if not isinstance(v, str) or not v.strip():
        raise ValueError(_text.desc)  # type: ignore[attr-defined]
    return v.strip()


_text.desc = "a non-empty string"  # type: ignore[attr-defined]


def _names(allowed: tuple[str, ...] | None = None) -> Parser:
    desc = "a comma-separated list" + (f" of {', '.join(allowed)}" if allowed else " of names")

    def parse(v: Any) -> tuple[str, ...]:
        items = v.split(",") if isinstance(v, str) else v
        if not isinstance(items, (list, tuple)):
            raise ValueError(desc)
        out = tuple(str(x).strip() for x in items if str(x).strip())
        if allowed is not None and any(x not in allowed for x in out):
            raise ValueError(desc)
        if len(set(out)) != len(out):
            raise ValueError(desc + " without repeats")
        return out

    parse.desc = desc  # type: ignore[attr-defined]
    return parse


def _range(lo: float, hi: float) -> Parser:
    desc = f"two numbers low,high with {lo} <= low <= high <= {hi}"

    def parse(v: Any) -> tuple[float, float]:
        items = v.split(",") if isinstance(v, str) else v
        if not isinstance(items, (list, tuple)) or len(items) != 2 or any(isinstance(x, bool) for x in items):
            raise ValueError(desc)
        try:
            a, b = (float(x) for x in items)
        except (TypeError, ValueError):
            raise ValueError(desc) from None
        if not lo <= a <= b <= hi:
            raise ValueError(desc)
        return (a, b)

    parse.desc = desc  # type: ignore[attr-defined]
    return parse


@dataclass(frozen=True)
class Setting:
    section: str  # "generation" | "cameras" | "workers" | "run"
    key: str  # dataclass field, TOML key, and flag --key-with-dashes
    env: str | None
    parse: Parser
    example: str


SETTINGS: tuple[Setting, ...] = (
    Setting("generation", "input_file", "INPUT_FILE", _path, "datasets/annotated_dataset.hdf5"),
    Setting("generation", "output_file", "OUTPUT_FILE", _path, "datasets/generated.hdf5"),
    Setting("generation", "num_trials", "NUM_TRIALS", _int(1, what="a positive integer"), "10"),
    Setting("generation", "stop_on", "STOP_ON", _choice(STOP_RULES), "successes"),
    Setting("generation", "seed", "SEED", _int(0, 2**63 - 1), "1"),
    Setting("generation", "keep_failed", "KEEP_FAILED", _bool, "1"),
    Setting("generation", "select_source", "SELECT_SOURCE", _choice(SOURCE_SELECTION), "per_subtask"),
    Setting("generation", "selection_strategy", "SELECTION_STRATEGY", _choice(SELECTION_STRATEGIES),
            "nearest_neighbor_object"),
    Setting("generation", "nn_k", "NN_K", _int(1, what="a positive integer"), "3"),
    Setting("generation", "action_noise", "ACTION_NOISE", _float(0.0, 1.0), "0.03"),
    Setting("generation", "num_interpolation_steps", "NUM_INTERPOLATION_STEPS", _int(0, 1000), "5"),
    Setting("generation", "max_consecutive_failures", "MAX_CONSECUTIVE_FAILURES",
            _int(1, what="a positive integer"), "100"),
    Setting("generation", "isaac_parity", "ISAAC_PARITY", _bool, "1"),
    Setting("generation", "settle_steps", "SETTLE_STEPS", _int(0, 1000), "30"),
    Setting("generation", "noise_free_steps", "NOISE_FREE_STEPS", _int(0, 1000), "10"),
    Setting("generation", "held_object_correction", "HELD_OBJECT_CORRECTION", _bool, "1"),
    Setting("generation", "transit_clearance", "TRANSIT_CLEARANCE", _float(0.0, 0.5), "0.05"),
    Setting("generation", "lead_gain", "LEAD_GAIN", _float(1.0, 20.0), "5"),
    Setting("generation", "engine", "ENGINE", _choice(ENGINES), "mujoco"),
    Setting("generation", "task", "TASK", _text, "Isaac-Stack-Cube-Franka-IK-Rel-Mimic-v0"),
    Setting("generation", "num_envs", "NUM_ENVS", _int(1, 4096), "1"),
    Setting("cameras", "cameras", "CAMERAS", _names(), "table_cam,table_high_cam"),
    Setting("cameras", "modalities", "MODALITIES", _names(MODALITIES), "rgb,semantic_segmentation"),
    Setting("cameras", "width", "CAMERA_WIDTH", _int(16, 4096), "320"),
    Setting("cameras", "height", "CAMERA_HEIGHT", _int(16, 4096), "176"),
    Setting("cameras", "mesh_detail", "CAMERA_MESH_DETAIL", _float(0.01, 1.0), "0.5"),
    Setting("cameras", "output_dir", "OUTPUT_DIR", _path, "output"),
    Setting("workers", "workers", "WORKERS", _int(1, 1024, "an integer in [1, 1024]"), "2"),
    Setting("workers", "ray", "RAY", _bool, "1"),
    Setting("workers", "ray_address", "RAY_ADDRESS", _text, "auto"),
    Setting("workers", "max_restarts", "MAX_RESTARTS", _int(0, 1000), "3"),
    Setting("randomization", "cube_x", "CUBE_X", _range(-1.5, 1.5), "0.4,0.6"),
    Setting("randomization", "cube_y", "CUBE_Y", _range(-1.5, 1.5), "-0.1,0.1"),
    Setting("randomization", "cube_yaw", "CUBE_YAW", _range(-3.1416, 3.1416), "-1.0,1.0"),
    Setting("randomization", "min_separation", "MIN_SEPARATION", _float(0.0, 1.0), "0.1"),
    Setting("run", "on_existing", "ON_EXISTING", _choice(ON_EXISTING), "resume"),
)
_BY_SECTION: dict[str, dict[str, Setting]] = {}
for _s in SETTINGS:
    _BY_SECTION.setdefault(_s.section, {})[_s.key] = _s


def _apply(values: dict[str, dict[str, Any]], setting: Setting, raw: Any, origin: str) -> None:
    try:
        value = setting.parse(raw)
    except ValueError as exc:
        if origin == "environment":
            where = f"{setting.env}={raw!r}"
            example = f"{setting.env}={setting.example}"
        elif origin == "flag":
            where = f"--{setting.key.replace('_', '-')} {raw!r}"
            example = f"--{setting.key.replace('_', '-')} {setting.example}"
        else:
            where = f"{origin} [{setting.section}] {setting.key} = {raw!r}"
            example = f"{setting.key} = {setting.example!r}"
        raise ConfigError(f"{where}: expected {exc}, e.g. {example}") from None
    values[setting.section][setting.key] = value


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        return toml.loads(path.read_text(encoding="utf-8"))
    except (toml.TomlDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid TOML ({' '.join(str(exc).split())})") from None


def _merge_toml(values: dict[str, dict[str, Any]], doc: Mapping[str, Any], origin: str) -> None:
    for section, body in doc.items():
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
    base = base or RunConfig()
    values: dict[str, dict[str, Any]] = {
        "generation": dataclasses.asdict(base.generation),
        "cameras": dataclasses.asdict(base.cameras),
        "workers": dataclasses.asdict(base.workers),
        "randomization": dataclasses.asdict(base.randomization),
        "run": {"on_existing": base.on_existing},
    }
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
        matches = [s for s in SETTINGS if s.key == key]
        if not matches:
            raise ValueError(f"unknown setting {key!r}")
        _apply(values, matches[0], raw, "flag")
    cfg = RunConfig(
        generation=GenerationConfig(**values["generation"]),
        cameras=CameraConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in values["cameras"].items()}),
        workers=WorkerConfig(**values["workers"]),
        randomization=RandomizationConfig(**{k: tuple(v) if isinstance(v, list) else v
                                            for k, v in values["randomization"].items()}),
        on_existing=values["run"]["on_existing"],
    )
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
def to_toml(cfg: RunConfig) -> str:
    """The resolved settings as TOML (None values omitted: TOML has no null)."""

    def section(obj: Any) -> dict[str, Any]:
        out = {}
        for k, v in dataclasses.asdict(obj).items():
            if v is None:
                continue
            out[k] = str(v) if isinstance(v, Path) else list(v) if isinstance(v, tuple) else v
        return out

    doc = {
        "generation": section(cfg.generation),
        "cameras": section(cfg.cameras),
        "workers": section(cfg.workers),
        "randomization": section(cfg.randomization),
    }
    return toml.dumps(doc)


def from_toml_text(text: str, origin: str) -> RunConfig:
    """Settings saved by ``to_toml`` (used to resume a run with the settings it started with)."""
    try:
        doc = toml.loads(text)
    except toml.TomlDecodeError as exc:
        raise ConfigError(f"{origin} is not valid TOML ({' '.join(str(exc).split())})") from None
    values: dict[str, dict[str, Any]] = {"generation": {}, "cameras": {}, "workers": {}, "randomization": {},
                                         "run": {}}
    _merge_toml(values, doc, origin)
    return RunConfig(
        generation=GenerationConfig(**values["generation"]),
        cameras=CameraConfig(**values["cameras"]),
        workers=WorkerConfig(**values["workers"]),
        randomization=RandomizationConfig(**values["randomization"]),
    )


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
