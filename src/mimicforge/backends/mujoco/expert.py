"""A scripted demonstrator for the stack task that acts like a teleoperator: IK-Rel actions, 20 Hz.

It stacks cube_2 (red) on cube_1 (blue), then cube_3 (green) on cube_2, as NVIDIA's human demos do.
Each phase steers the end effector towards a target computed from the *current* scene (closed loop, so
cubes nudged during a grasp are still picked up cleanly), with the pose action proportional to the
error and capped, as a person pushing a space-mouse further for larger moves.

Human-like variation comes from an ``ExpertStyle`` drawn per episode from the episode's Generator:
speed, approach heights, grasp depth, dwell times before and after the gripper acts, a curved transfer
path, short hesitations, and smooth (Ornstein-Uhlenbeck) noise on the actions. The same Generator
state gives the same episode, bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from mimicforge.geometry import relative_axis_angle
from mimicforge.tasks import FRANKA_STACK

CUBE_EDGE = FRANKA_STACK.object_size
OPEN, CLOSE = 1.0, -1.0
_DOWN = np.diag([1.0, -1.0, -1.0])  # hand pointing down, hand x along world x (Isaac's start pose)
_NOISE_MEMORY = 0.7  # per-step correlation of the action noise (a hand drifts, it does not jitter)
_NOISE_FRESH = math.sqrt(1.0 - _NOISE_MEMORY**2)  # keeps the noise's standard deviation at sigma
_YAW_LIMIT = 1.9  # rad of hand heading either side of the start pose that joint 7 allows with margin
_HAND_HALF = (0.035 + 0.033, 0.105 + 0.033)  # hand half-extent along its x and y, plus a cube's half diagonal


def yaw_of(rot: np.ndarray) -> float:
    """Heading of a rotation's x axis in the world xy plane."""
    return math.atan2(rot[1, 0], rot[0, 0])


def cube_yaw(rot: np.ndarray) -> float:
    """Heading of a cube about the vertical, from whichever of its axes lies most horizontal.

    A cube tipped in the hand has no meaningful "x axis heading"; its face directions still do.
    """
    vertical = int(np.argmax(np.abs(rot[2, :])))
    axis = rot[:, (vertical + 1) % 3]
    return math.atan2(axis[1], axis[0])


def wrap_quarter(angle: float) -> float:
    """Angle modulo pi/2 into [-pi/4, pi/4): a cube looks the same every quarter turn."""
    q = 0.5 * math.pi
    return (angle + 0.5 * q) % q - 0.5 * q


def wrap_half(angle: float) -> float:
    """Angle modulo pi into [-pi/2, pi/2): the hand is symmetric under a half turn about its axis."""
    return (angle + 0.5 * math.pi) % math.pi - 0.5 * math.pi


def hand_down(yaw: float) -> np.ndarray:
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]) @ _DOWN


@dataclass(frozen=True)
class ExpertStyle:
    """How one episode is demonstrated; every field is drawn by ``sample``."""

    speed: float  # cap on the position action per step
    rot_speed: float  # cap on the rotation action per step
    gain: float  # action per metre (and per radian) of error
    hover: float  # height of the eef above a cube's origin before descending
    carry: float  # eef height while carrying a cube
    grasp_dz: float  # eef height above the cube origin when closing
    place_gap: float  # gap left under a placed cube before opening
    dwell_close: int  # steps of stillness before closing
    dwell_open: int  # steps of stillness before opening
    settle: int  # extra steps after the fingers finished moving
    via: tuple[float, float]  # lateral bulge of the two transfer paths (m)
    noise_pos: float  # OU noise std on position actions
    noise_rot: float
    hesitate: float  # probability of a short zero-action pause at a phase change

    @classmethod
    def sample(cls, rng: np.random.Generator) -> ExpertStyle:
        return cls(
            speed=float(rng.uniform(0.1, 0.18)), rot_speed=float(rng.uniform(0.35, 0.5)),
            gain=float(rng.uniform(2.0, 3.0)), hover=float(rng.uniform(0.07, 0.12)),
            carry=float(rng.uniform(0.12, 0.17)), grasp_dz=float(rng.uniform(-0.008, 0.004)),
            place_gap=float(rng.uniform(0.001, 0.004)), dwell_close=int(rng.integers(0, 3)),
            dwell_open=int(rng.integers(0, 3)), settle=int(rng.integers(1, 4)),
            via=(float(rng.normal(0.0, 0.03)), float(rng.normal(0.0, 0.03))),
            noise_pos=float(rng.uniform(0.002, 0.006)), noise_rot=float(rng.uniform(0.005, 0.015)),
            hesitate=float(rng.uniform(0.0, 0.4)),
        )


@dataclass
class _Phase:
    name: str
    target: Callable[[], tuple[np.ndarray, float]] | None  # -> (eef position, hand yaw); None: hold still
    gripper: float
    tol: float = 0.004  # position tolerance (m) to finish a move
    yaw_tol: float = 0.05
    steps: int = 0  # fixed duration (gripper phases); 0: until within tolerance
    max_steps: int = 80
    latch: bool = False  # compute the target once, when the phase starts (via points)


class ScriptedExpert:
    """Drives a ``FrankaStackTwin`` through one stacking episode. Call ``act()`` once per step."""

    def __init__(self, env: Any, rng: np.random.Generator, style: ExpertStyle | None = None) -> None:
        self.env = env
        self.rng = rng
        self.style = style or ExpertStyle.sample(rng)
        self._noise = np.zeros(6)
        self._phases = self._plan()
        self._index = 0
        self._count = 0
        self._pause = 0
        self._gripper = OPEN
        self._latched: tuple[np.ndarray, float] | None = None
        self._turns: dict[str, float] = {}
        self.last_error = (0.0, 0.0)  # |position error| (m), |rotation error| (rad) of the last move step

    # ------------------------------------------------------------------------------ scene queries
    def _eef(self) -> tuple[np.ndarray, np.ndarray]:
        pose = self.env.get_robot_eef_pose("franka")
        return pose[:3, 3], pose[:3, :3]

    def _cube(self, name: str) -> tuple[np.ndarray, float]:
        pose = self.env.get_object_poses()[name]
        return pose[:3, 3], cube_yaw(pose[:3, :3])

    def _clearance(self, at: np.ndarray, yaw: float, skip: tuple[str, ...]) -> float:
        """How far the other cubes stay outside the hand's footprint (20 cm across the fingers, 7 cm along)."""
        c, s = math.cos(yaw), math.sin(yaw)
        worst = math.inf
        for name, pose in self.env.get_object_poses().items():
            if name in skip:
                continue
            d = pose[:2, 3] - at[:2]
            along, across = abs(c * d[0] + s * d[1]), abs(-s * d[0] + c * d[1])
            worst = min(worst, max(along - _HAND_HALF[0], across - _HAND_HALF[1]))
        return worst

    def _target_yaw(self, key: str, aligned: float, at: np.ndarray, skip: tuple[str, ...]) -> float:
        """Hand yaw for a quarter-turn-symmetric target: ``aligned`` (a yaw that aligns it) plus k quarter turns.

        Decided once per key and then held, so that a cube lagging in the hand while it turns cannot feed
        back into the target: the orientation that keeps the 20 cm wide hand clear of the other cubes,
        then the one nearest the start heading (joint 7 has about +-2.2 rad of room around it).
        """
        if key not in self._turns:
            quarter = 0.5 * math.pi
            options = [aligned + k * quarter for k in range(-4, 5) if abs(aligned + k * quarter) <= _YAW_LIMIT]
            self._turns[key] = max(options, key=lambda yaw: (
                round(min(self._clearance(at, yaw, skip), 0.02), 3), -abs(yaw)))
        return self._turns[key]

    def _grasp_yaw(self, cube: str) -> float:
        pos, yaw = self._cube(cube)
        return self._target_yaw(f"grasp {cube}", yaw, pos, (cube,))

    def _place_yaw(self, held: str, lower: str) -> float:
        pos, yaw = self._cube(lower)
        _, rot = self._eef()
        return self._target_yaw(f"place {held}", yaw_of(rot) + yaw - self._cube(held)[1], pos, (held, lower))

    # ------------------------------------------------------------------------------ the plan
    def _plan(self) -> list[_Phase]:
        st = self.style
        phases: list[_Phase] = []
        for i, (held, lower) in enumerate((("cube_2", "cube_1"), ("cube_3", "cube_2"))):
            phases += self._pick(held)
            phases += self._place(held, lower, st.via[i])
        return phases

    def _above_eef(self, dz: float) -> tuple[np.ndarray, float]:
        pos, rot = self._eef()
        return pos + np.array([0.0, 0.0, dz]), yaw_of(rot)

    def _pick(self, cube: str) -> list[_Phase]:
        st = self.style

        def above() -> tuple[np.ndarray, float]:
            pos, _ = self._cube(cube)
            return pos + np.array([0.0, 0.0, st.hover]), self._grasp_yaw(cube)

        def down() -> tuple[np.ndarray, float]:
            pos, _ = self._cube(cube)
            return pos + np.array([0.0, 0.0, st.grasp_dz]), self._grasp_yaw(cube)

        return [
            _Phase(f"above {cube}", above, OPEN, tol=0.006, yaw_tol=0.04),
            _Phase(f"descend {cube}", down, OPEN, tol=0.003, yaw_tol=0.04),
            _Phase("still", None, OPEN, steps=st.dwell_close),
            _Phase(f"close on {cube}", None, CLOSE, steps=3 + st.settle),
        ]

    def _place(self, held: str, lower: str, bulge: float) -> list[_Phase]:
        st = self.style

        def lift() -> tuple[np.ndarray, float]:
            pos, rot = self._eef()
            return np.array([pos[0], pos[1], max(st.carry, pos[2])]), yaw_of(rot)

        def offset_to(goal: np.ndarray) -> np.ndarray:
            """Eef position that puts the held cube's origin at ``goal`` (the grasp need not be centred)."""
            eef, _ = self._eef()
            return eef + goal - self._cube(held)[0]

        def via() -> tuple[np.ndarray, float]:
            eef, _ = self._eef()
            goal = self._cube(lower)[0]
            mid = 0.5 * (eef[:2] + goal[:2])
            d = goal[:2] - eef[:2]
            n = np.array([-d[1], d[0]]) / max(np.linalg.norm(d), 1e-6)
            return np.array([*(mid + bulge * n), st.carry]), self._place_yaw(held, lower)

        def above() -> tuple[np.ndarray, float]:
            goal = self._cube(lower)[0] + np.array([0.0, 0.0, CUBE_EDGE + st.hover - 0.04])
            return offset_to(goal), self._place_yaw(held, lower)

        def down() -> tuple[np.ndarray, float]:
            goal = self._cube(lower)[0] + np.array([0.0, 0.0, CUBE_EDGE + st.place_gap])
            return offset_to(goal), self._place_yaw(held, lower)

        return [
            _Phase("lift", lift, CLOSE, tol=0.01),
            _Phase("transfer", via, CLOSE, tol=0.03, yaw_tol=0.3, latch=True),
            _Phase(f"above {lower}", above, CLOSE, tol=0.004, yaw_tol=0.04),
            _Phase(f"lower onto {lower}", down, CLOSE, tol=0.002, yaw_tol=0.04),
            _Phase("still", None, CLOSE, steps=st.dwell_open),
            _Phase(f"release {held}", None, OPEN, steps=6 + st.settle),
            _Phase("rise", lambda: self._above_eef(st.hover - 0.02), OPEN, tol=0.01, max_steps=30, latch=True),
        ]

    # ------------------------------------------------------------------------------ acting
    @property
    def done(self) -> bool:
        return self._index >= len(self._phases)

    @property
    def phase(self) -> str:
        return "done" if self.done else self._phases[self._index].name

    def act(self) -> np.ndarray:
        """The next 7-D action (pose action, gripper)."""
        st = self.style
        action = np.zeros(7)
        if self.done:
            action[6] = self._gripper
            return action
        phase = self._phases[self._index]
        self._gripper = phase.gripper
        action[6] = phase.gripper
        if self._pause > 0:  # a hesitation: the operator lets go of the controller
            self._pause -= 1
            return action
        self._count += 1
        if phase.target is None:
            finished = self._count >= phase.steps
        else:
            if self._latched is None or not phase.latch:
                self._latched = phase.target()
            target, yaw = self._latched
            pos, rot = self._eef()
            err_p = target - pos
            err_r = np.array(relative_axis_angle(hand_down(yaw), rot))
            action[:3] = _cap(st.gain * err_p, st.speed)
            action[3:6] = _cap(st.gain * err_r, st.rot_speed)
            sigma = np.repeat([st.noise_pos, st.noise_rot], 3)
            self._noise = _NOISE_MEMORY * self._noise + _NOISE_FRESH * sigma * self.rng.standard_normal(6)
            action[:6] += self._noise
            self.last_error = (float(np.linalg.norm(err_p)), float(np.linalg.norm(err_r)))
            close = np.linalg.norm(err_p) < phase.tol and np.linalg.norm(err_r) < phase.yaw_tol
            finished = close or self._count >= phase.max_steps
        if finished:
            self._index += 1
            self._count = 0
            self._latched = None
            if self.rng.random() < st.hesitate:
                self._pause = int(self.rng.integers(1, 4))
        return action


def _cap(v: np.ndarray, limit: float) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v * (limit / n) if n > limit else v
