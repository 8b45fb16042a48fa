"""Closed-loop evaluation of trained policies (robomimic checkpoints) in the twin.

``evaluate(["run/models"], episodes=50)`` loads every checkpoint with robomimic's own loader, checks that the twin
provides the observations its config names (low-dim keys, Isaac Lab's Visuomotor rgb cameras at the checkpoint's
image size), then rolls each out from the same seeded resets and returns one summary per checkpoint and the best.
The twin's observations are Isaac Lab's (same keys, frames, units), so a policy trained on Isaac Lab's own data
is evaluated the same way as one trained on the twin's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mimicforge.evaluate.checkpoints import ROBOMIMIC_HINT, find_checkpoints, load_policy
from mimicforge.evaluate.rollout import STAGES, Episode, Evaluation, best, rollouts, table, wilson

__all__ = ["ROBOMIMIC_HINT", "STAGES", "Episode", "Evaluation", "best", "evaluate", "find_checkpoints", "table",
           "wilson"]
DEFAULT_SEED = 10_000


def _twin(size: tuple[int, int] | None) -> Any:
    from mimicforge.backends.mujoco import make_env
    from mimicforge.backends.mujoco.params import CameraParams, TwinParams

    params = TwinParams() if size is None else TwinParams(image_obs=CameraParams(height=size[0], width=size[1]))
    return make_env(params)


def evaluate(specs: Sequence[str], *, episodes: int = 50, seed: int = DEFAULT_SEED, horizon: int = 400,
             video: int = 0, video_dir: str | Path = "output/evaluate",
             threads: int | None = 1, on_start: Callable[[Path, int], None] | None = None,
             on_episode: Callable[[Episode], None] | None = None) -> dict[str, Any]:
    """Evaluate the checkpoints ``specs`` name (files, globs, run folders); every one is loaded and checked before
    the first rollout. ``threads``: torch's CPU threads (one by default: a policy acts on a batch of one, and
    on two cores that ran 4x faster than two threads; None leaves torch's setting).
    Returns ``{"episodes", "seed", "horizon", "checkpoints": [summary, ...], "best": name}``."""
    paths = find_checkpoints(specs)
    policies = [load_policy(p) for p in paths]
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    results: list[Evaluation] = []
    envs: dict[tuple[int, int] | None, Any] = {}
    try:
        for n, pol in enumerate(policies):
            size = pol.spec.image_size()
            if size not in envs:
                envs[size] = _twin(size)
            if on_start is not None:
                on_start(pol.path, n)
            stem = f"{pol.path.parent.parent.name}_{pol.path.stem}" if pol.path.parent.name == "models" \
                else pol.path.stem
            t0 = time.perf_counter()
            eps, videos = rollouts(envs[size], pol, episodes=episodes, seed=seed, horizon=horizon,
                                   low_dim=pol.spec.low_dim, rgb=tuple(pol.spec.rgb), video=video,
                                   video_path=lambda i, s=stem: Path(video_dir) / f"{s}_episode_{i}.mp4",
                                   on_episode=on_episode)
            results.append(Evaluation(str(pol.path), pol.epoch, eps, videos, time.perf_counter() - t0))
    finally:
        for env in envs.values():
            env.close()
    top = best(results)
    return {"episodes": episodes, "seed": seed, "horizon": horizon, "stages": list(STAGES),
            "checkpoints": [r.summary() for r in results], "best": top.name if top else None}
