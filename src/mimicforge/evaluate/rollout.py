"""Closed-loop rollouts of a policy in the twin, and what they measure.

Every policy is rolled out from the same seeded resets (episode ``i`` starts from ``reset(seed + i)``), so two
checkpoints are compared on the same initial states. An episode ends at success (as MimicGen's evaluation does)
or at the horizon. Per policy: success with a 95 % Wilson interval, the share of episodes in which each subtask
signal of the task registry fired at least once, and the final ``stacked`` (success), and episode lengths.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from mimicforge.tasks import FRANKA_STACK

STAGES = (*FRANKA_STACK.signals, "stacked")  # grasp_1, stack_1, grasp_2 (the registry's signals), then success
VIDEO_CAMERA = "table_cam"


class Policy(Protocol):
    def start_episode(self, seed: int) -> None: ...

    def act(self, obs: dict[str, Any]) -> Any: ...


def wilson(k: int, n: int, z: float = 1.96) -> list[float]:
    """The Wilson score interval of ``k`` successes in ``n`` trials (95 % by default), rounded to 4 places."""
    if n <= 0:
        return [0.0, 1.0]
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4)]


@dataclass
class Episode:
    seed: int
    success: bool
    length: int
    reached: set[str] = field(default_factory=set)  # stages reached at least once


@dataclass
class Evaluation:
    """One policy's episodes and their summary."""

    name: str
    epoch: int | None
    episodes: list[Episode]
    videos: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def successes(self) -> int:
        return sum(e.success for e in self.episodes)

    def stage_counts(self) -> dict[str, int]:
        return {s: sum(s in e.reached for e in self.episodes) for s in STAGES}

    def ranking(self) -> tuple[int, ...]:
        """Most successes first, then the furthest progress (later stages weigh first)."""
        counts = self.stage_counts()
        return tuple(counts[s] for s in reversed(STAGES))

    def summary(self) -> dict[str, Any]:
        n = len(self.episodes)
        lengths = [e.length for e in self.episodes]
        won = [e.length for e in self.episodes if e.success]
        return {
            "checkpoint": self.name, "epoch": self.epoch, "episodes": n, "successes": self.successes,
            "success_rate": round(self.successes / n, 4) if n else 0.0, "interval_95": wilson(self.successes, n),
            "progress": {s: {"rate": round(k / n, 4) if n else 0.0, "interval_95": wilson(k, n)}
                         for s, k in self.stage_counts().items()},
            "mean_length": round(float(np.mean(lengths)), 1) if lengths else None,
            "mean_length_success": round(float(np.mean(won)), 1) if won else None,
            "seeds": [self.episodes[0].seed, self.episodes[-1].seed] if n else [],
            "videos": self.videos, "seconds": round(self.seconds, 1),
        }


def observe(env: Any, low_dim: Sequence[str], rgb: Sequence[str]) -> dict[str, Any]:
    """The policy's observation dict from the twin: its cached low-dim terms and freshly rendered cameras."""
    obs = env.observations()
    out: dict[str, Any] = {k: obs[k] for k in low_dim}
    for key in rgb:
        out[key] = env.render_visuomotor(key, ["rgb"])["rgb"]
    return out


def run_episode(env: Any, policy: Policy, seed: int, horizon: int, low_dim: Sequence[str], rgb: Sequence[str],
                frames: list[np.ndarray] | None = None) -> Episode:
    env.reset(seed=seed)
    policy.start_episode(seed)
    episode = Episode(seed=seed, success=False, length=horizon)
    for t in range(horizon):
        if frames is not None:
            frames.append(env.render(VIDEO_CAMERA, "rgb"))
        action = np.asarray(policy.act(observe(env, low_dim, rgb)), dtype=np.float64).reshape(-1)
        env.step(action)
        episode.reached.update(k for k, v in env.get_subtask_term_signals().items() if v)
        if env.is_success():
            episode.success = True
            episode.reached.add("stacked")
            episode.length = t + 1
            break
    if frames is not None:
        frames.append(env.render(VIDEO_CAMERA, "rgb"))
    return episode


def rollouts(env: Any, policy: Policy, *, episodes: int, seed: int, horizon: int, low_dim: Sequence[str],
             rgb: Sequence[str] = (), video: int = 0, video_path: Callable[[int], Path] | None = None,
             on_episode: Callable[[Episode], None] | None = None) -> tuple[list[Episode], list[str]]:
    """``episodes`` rollouts from ``reset(seed + i)``; the first ``video`` are written as MP4 to ``video_path(i)``."""
    done: list[Episode] = []
    videos: list[str] = []
    for i in range(episodes):
        frames: list[np.ndarray] | None = [] if i < video and video_path is not None else None
        ep = run_episode(env, policy, seed + i, horizon, low_dim, rgb, frames)
        if frames is not None and video_path is not None:
            from mimicforge.media.video import write_video

            out = video_path(i)
            write_video(iter(frames), out)
            videos.append(str(out))
        done.append(ep)
        if on_episode is not None:
            on_episode(ep)
    return done, videos


def best(evaluations: Sequence[Evaluation]) -> Evaluation | None:
    """The evaluation with the most successes (then the furthest progress; the earliest on a tie)."""
    return max(evaluations, key=lambda e: e.ranking(), default=None)


def table(rows: Sequence[Mapping[str, Any]], best_name: str | None) -> Iterator[str]:
    """A plain-text table of summaries, the best marked with ``*``."""
    head = f"{'checkpoint':<36} {'epoch':>5}  {'success (95 % CI)':<24}" + "".join(f"{s:>9}" for s in STAGES) + \
        f"{'length':>8}"
    yield head
    for r in rows:
        lo, hi = r["interval_95"]
        name = Path(r["checkpoint"]).name
        ci = f"{r['successes']}/{r['episodes']} {100 * r['success_rate']:.0f}% [{100 * lo:.0f}, {100 * hi:.0f}]"
        stages = "".join(f"{100 * r['progress'][s]['rate']:>8.0f}%" for s in STAGES)
        mark = "*" if r["checkpoint"] == best_name else " "
        epoch = "" if r["epoch"] is None else r["epoch"]
        yield f"{mark}{name[-35:]:<35} {epoch:>5}  {ci:<24}{stages}{r['mean_length']:>8}"
