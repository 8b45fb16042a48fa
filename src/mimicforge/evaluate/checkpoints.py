"""robomimic checkpoints: find them (files, globs, training run folders), read what each observes, and load
them as rollout policies with robomimic's own loader (``policy_from_checkpoint``).

robomimic (and torch, torchvision) are imported only here, and only when a checkpoint is loaded.
"""

from __future__ import annotations

import contextlib
import glob
import io
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mimicforge.datasets.image_obs import SOURCES as IMAGE_SOURCES
from mimicforge.errors import ConfigError
from mimicforge.extras import require

log = logging.getLogger(__name__)
ROBOMIMIC_HINT = ("evaluating policies needs robomimic 0.3.0 with torch and torchvision: run "
                  "'bash scripts/setup-train.sh' (a .venv-train with torch==2.14.1 torchvision==0.29.1 and "
                  "'pip install --no-deps robomimic==0.3.0' plus pip install 'mimicforge[evaluate]')")
SUFFIX = ".pth"
# Observation keys of the twin (the stack task's policy group, as Isaac Lab names them) a low-dim policy may read.
LOW_DIM_KEYS = ("actions", "joint_pos", "joint_vel", "object", "cube_positions", "cube_orientations", "eef_pos",
                "eef_quat", "gripper_pos")
# Image keys: the Visuomotor task's rgb cameras, rendered by the twin at the size the checkpoint was trained on.
RGB_KEYS = tuple(k for k, (_, modality) in IMAGE_SOURCES.items() if modality == "rgb")


def epoch_of(path: Path) -> int | None:
    """The epoch in robomimic's checkpoint names (``model_epoch_50.pth``, ``model_epoch_50_best_...pth``)."""
    m = re.search(r"epoch_(\d+)", path.name)
    return int(m.group(1)) if m else None


def _order(path: Path) -> tuple[str, int, str]:
    epoch = epoch_of(path)
    return (str(path.parent), -1 if epoch is None else epoch, path.name)


def find_checkpoints(specs: Sequence[str]) -> list[Path]:
    """Checkpoint files from files, glob patterns and folders (a training run: every ``*.pth`` below it), each
    folder's sorted by epoch; duplicates dropped. A spec that names nothing is a ``ConfigError``."""
    found: list[Path] = []
    for spec in specs:
        path = Path(spec)
        if path.is_dir():
            hits = sorted(path.rglob(f"*{SUFFIX}"), key=_order)
            if not hits:
                raise ConfigError(f"{spec}: no robomimic checkpoints (*{SUFFIX}) below this folder; pass a training "
                                  "run's folder, its models/ folder, or checkpoint files")
        elif path.is_file():
            hits = [path]
        elif glob.has_magic(spec):
            hits = sorted((Path(p) for p in glob.glob(spec, recursive=True) if Path(p).is_file()), key=_order)
            if not hits:
                raise ConfigError(f"{spec}: the pattern matches no checkpoint files")
        else:
            raise ConfigError(f"{spec}: no such checkpoint file or folder")
        found += hits
    return list(dict.fromkeys(p.resolve() for p in found))


@dataclass(frozen=True)
class ObsSpec:
    """What a policy observes: low-dim keys, and rgb keys with their (height, width)."""

    low_dim: tuple[str, ...]
    rgb: dict[str, tuple[int, int]]

    def image_size(self) -> tuple[int, int] | None:
        """The one (height, width) every camera renders at; the twin draws all Visuomotor cameras at one size."""
        sizes = set(self.rgb.values())
        if len(sizes) > 1:
            raise ConfigError(f"the policy's cameras have different sizes {sorted(sizes)}; the twin renders "
                              "its Visuomotor cameras at one size")
        return next(iter(sizes), None)


def obs_spec(name: str, modalities: dict[str, list[str]], shapes: dict[str, Sequence[int]]) -> ObsSpec:
    """The observations a checkpoint's config asks for, checked against what the twin provides (one line naming
    the first key it cannot)."""
    low_dim = tuple(modalities.get("low_dim", []))
    rgb = tuple(modalities.get("rgb", []))
    for key in low_dim:
        if key not in LOW_DIM_KEYS:
            raise ConfigError(f"{name}: the policy observes low-dim {key!r}, which the twin does not provide; it "
                              f"provides {', '.join(LOW_DIM_KEYS)}")
    for key in rgb:
        if key not in RGB_KEYS:
            raise ConfigError(f"{name}: the policy observes rgb {key!r}, which the twin does not render; it renders "
                              f"{', '.join(RGB_KEYS)} (Isaac Lab's Visuomotor cameras)")
    for modality, keys in modalities.items():
        if modality not in ("low_dim", "rgb") and keys:
            raise ConfigError(f"{name}: the policy observes {modality} ({', '.join(keys)}); the twin evaluates "
                              "low_dim and rgb observations")
    sizes = {}
    for key in rgb:
        shape = tuple(int(s) for s in shapes.get(key, ()))
        if len(shape) != 3:
            raise ConfigError(f"{name}: the checkpoint records no (channels, height, width) shape for {key!r}")
        sizes[key] = (shape[1], shape[2])
    return ObsSpec(low_dim, sizes)


@dataclass
class LoadedPolicy:
    """A checkpoint loaded for rollouts: ``start_episode()``, then ``act(obs) -> action``."""

    path: Path
    epoch: int | None
    spec: ObsSpec
    policy: Any  # robomimic RolloutPolicy
    _process: Any  # robomimic.utils.obs_utils.process_obs
    _torch: Any

    def start_episode(self, seed: int) -> None:
        """Reset the policy's memory; its sampling (a GMM's mode, say) is seeded per episode, so a checkpoint's
        rollouts are reproducible."""
        self._torch.manual_seed(seed)
        self.policy.start_episode()

    def act(self, obs: dict[str, Any]) -> Any:
        ob = {k: obs[k] for k in self.spec.low_dim}
        for key in self.spec.rgb:  # as robomimic's env wrappers hand images to a policy: CHW floats in [0, 1]
            ob[key] = self._process(obs=obs[key], obs_key=key)
        return self.policy(ob=ob)


def load_policy(path: Path) -> LoadedPolicy:
    """Load ``path`` with robomimic's ``policy_from_checkpoint`` on the CPU; one-line ``ConfigError`` when the file
    is not a robomimic checkpoint or its observations are not the twin's.

    robomimic prints notices on stdout (a macro-file warning at import, obs-key shapes while loading); they are
    logged at debug level instead (``-v`` shows them), so ``--json`` prints one object and errors stay one line."""
    notices = io.StringIO()
    try:
        with contextlib.redirect_stdout(notices):
            return _load_policy(path)
    finally:
        if notices.getvalue().strip():
            log.debug("robomimic: %s", notices.getvalue().strip())


def _load_policy(path: Path) -> LoadedPolicy:
    require("torchvision", ROBOMIMIC_HINT)
    torch = require("torch", ROBOMIMIC_HINT)
    file_utils = require("robomimic.utils.file_utils", ROBOMIMIC_HINT)
    obs_utils = require("robomimic.utils.obs_utils", ROBOMIMIC_HINT)
    try:
        ckpt = file_utils.maybe_dict_from_checkpoint(ckpt_path=str(path))
    except Exception as exc:  # torch.load's errors differ by what the file is; all mean "not a checkpoint"
        first = (str(exc).strip().splitlines() or [""])[0]
        raise ConfigError(f"{path}: not a readable robomimic checkpoint ({type(exc).__name__}: {first}); pass the "
                          f"*{SUFFIX} files robomimic's train script saves under <run>/models/") from None
    if not isinstance(ckpt, dict) or not {"algo_name", "config", "shape_metadata", "model"} <= set(ckpt):
        raise ConfigError(f"{path}: a torch file but not a robomimic checkpoint (it lacks algo_name, config, "
                          "shape_metadata or model)")
    try:
        config = json.loads(ckpt["config"])
        modalities = config["observation"]["modalities"]["obs"]
        shapes = ckpt["shape_metadata"]["all_shapes"]
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: the checkpoint's config has no observation modalities ({exc})") from None
    spec = obs_spec(str(path), modalities, shapes)
    try:
        policy, _ = file_utils.policy_from_checkpoint(ckpt_dict=ckpt, device=torch.device("cpu"), verbose=False)
    except Exception as exc:  # robomimic raises many kinds for configs it cannot build
        first = (str(exc).strip().splitlines() or [""])[0]
        raise ConfigError(f"{path}: robomimic could not build the policy ({type(exc).__name__}: {first})") from None
    return LoadedPolicy(path, epoch_of(path), spec, policy, obs_utils.process_obs, torch)
