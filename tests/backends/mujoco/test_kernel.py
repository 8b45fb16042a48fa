"""The compiled physics loop (``kernel``, Numba) steps the twin exactly as the interpreted loop does.

Both twins replay NVIDIA's demos and a noisy closed-loop episode from the same states; after every step the
whole MuJoCo state, the servo targets, the observations, poses and signals must be equal bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest

from mimicforge.backends.mujoco import deps
from mimicforge.backends.mujoco.env import FrankaStackTwin
from mimicforge.backends.mujoco.params import ControlParams, TwinParams
from mimicforge.datasets import DatasetReader

pytestmark = pytest.mark.skipif(deps.physics_kernel() is None, reason="numba is not installed (mimicforge[sim])")


def _same_step(fast: FrankaStackTwin, slow: FrankaStackTwin, a: np.ndarray, b: np.ndarray) -> None:
    for name in ("qpos", "qvel", "qacc_warmstart", "ctrl", "act", "xpos", "xmat"):
        assert np.array_equal(getattr(fast.data, name), getattr(slow.data, name)), name
    assert list(a) == list(b)
    for key in a:
        assert a[key].dtype == b[key].dtype and np.array_equal(a[key], b[key]), key
    assert np.array_equal(fast.get_robot_eef_pose(), slow.get_robot_eef_pose())
    assert all(np.array_equal(p, slow.get_object_poses()[k]) for k, p in fast.get_object_poses().items())
    assert fast.get_subtask_term_signals() == slow.get_subtask_term_signals()
    assert fast.is_success() == slow.is_success()
    assert np.array_equal(fast.processed_action(), slow.processed_action())


def test_compiled_loop_equals_the_interpreted_one(source_path) -> None:
    with FrankaStackTwin(seed=0) as fast, \
            FrankaStackTwin(TwinParams(control=ControlParams(compiled=False)), seed=0) as slow:
        assert fast._ik.compiled is not None and slow._ik.compiled is None
        with DatasetReader(source_path) as r:
            names = r.demo_names[:3]
            demos = [r.demo(n, parts=("actions", "initial_state")) for n in names]
        steps = 0
        for demo in demos:
            _same_step(fast, slow, fast.reset_to(demo.initial_state), slow.reset_to(demo.initial_state))
            for action in demo.actions:
                _same_step(fast, slow, fast.step(action), slow.step(action))
                steps += 1
        rng = np.random.default_rng(7)  # closed loop with noise and both gripper commands, from a fresh reset
        _same_step(fast, slow, fast.reset(11), slow.reset(11))
        for t in range(120):
            target = fast.get_robot_eef_pose()
            target[:3, 3] += rng.normal(0.0, 0.03, 3)
            a = fast.target_eef_pose_to_action({"franka": target}, {"franka": np.array([1.0 if t < 60 else -1.0])},
                                               {"franka": 0.05}, rng)
            _same_step(fast, slow, fast.step(a), slow.step(a))
        assert steps > 300


def test_numba_is_loaded_at_the_first_step_not_when_the_twin_is_built() -> None:
    """A process that only builds the twin (a supervisor checking settings) does not pay for Numba."""
    import subprocess
    import sys

    code = ("import sys, numpy as np\n"
            "from mimicforge.backends.mujoco.env import FrankaStackTwin\n"
            "env = FrankaStackTwin(seed=0)\n"
            "print('numba' in sys.modules)\n"
            "env.step(np.zeros(7))\n"
            "print('numba' in sys.modules, env._ik.compiled is not None)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.split() == ["False", "True", "True"], out.stdout + out.stderr


def test_compiled_action_conversion_equals_the_interpreted_one() -> None:
    """``target_eef_pose_to_action`` on the compiled twin (``kernel.relative_action``) and on the interpreted one:
    the same action to the last bit and the same draws from the generator, for targets turned up to pi (every
    branch of the quaternion conversion), near the current pose (the small-angle expansion), with noise large
    enough to be clamped, and without noise."""
    from mimicforge.geometry import axis_angle_to_matrix, make_pose

    with FrankaStackTwin(seed=0) as fast, \
            FrankaStackTwin(TwinParams(control=ControlParams(compiled=False)), seed=0) as slow:
        fast.step(np.zeros(7))
        slow.step(np.zeros(7))
        assert fast._action_compiled is not None and slow._action_compiled is None
        eef = fast.get_robot_eef_pose()
        assert np.array_equal(eef, slow.get_robot_eef_pose())
        pick = np.random.default_rng(3)
        clamped = 0
        for i in range(600):
            turn = pick.normal(size=3)
            turn *= [1e-8, 1e-3, 0.5, np.pi][i % 4] / np.linalg.norm(turn)
            target = make_pose(eef[:3, 3] + pick.normal(0.0, 0.3, 3), axis_angle_to_matrix(turn) @ eef[:3, :3])
            gripper = np.array([(-1.0, 1.0)[i % 2]])
            noise = None if i % 3 == 0 else {"franka": (0.05, 2.0)[i % 2]}
            ra, rb = np.random.default_rng(i), np.random.default_rng(i)
            a = fast.target_eef_pose_to_action({"franka": target}, {"franka": gripper}, noise, ra)
            b = slow.target_eef_pose_to_action({"franka": target}, {"franka": gripper}, noise, rb)
            assert a.dtype == b.dtype and a.shape == b.shape == (7,)
            assert a.tobytes() == b.tobytes(), (i, a, b)
            assert ra.random() == rb.random()  # the same draws were taken
            clamped += bool(np.any(np.abs(a[:6]) == 1.0))
        assert clamped > 50
