"""The twin's physics loop compiled with Numba: one env step's physics steps without the interpreter.

An env step is ``decimation`` physics steps, each ``mj_step1``, the differential IK on the new
kinematics, the servo targets, ``mj_step2``, then the held substeps (``DifferentialIK`` describes the
controller). Run from Python, the controller's two dozen small calls per physics step cost about as much
as MuJoCo's own stepping. Here the same calls run in one compiled function: MuJoCo's C functions
(``mj_step1``, ``mj_jacSite``, ``mju_mulMatMatT``, ``mju_cholFactor`` ...) are called directly from the
shared library the ``mujoco`` package ships, and the few element-wise operations numpy did are written out
in the same order, so every number equals the interpreted path's bit for bit (``tests`` compares them).

Numba (``pip install 'mimicforge[sim]'``) is optional: without it ``load()`` returns None and the twin
steps through ``DifferentialIK`` in Python. Compiled code is cached beside this file (or in
``NUMBA_CACHE_DIR``), so a new process loads it instead of compiling.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import mujoco
import llvmlite.binding as llvm
from numba import njit, types

llvm.load_library_permanently(os.path.join(os.path.dirname(mujoco.__file__), f"libmujoco.so.{mujoco.__version__}"))

_P, _I, _D, _V = types.uintp, types.intc, types.float64, types.void  # pointers passed as addresses
mj_step = types.ExternalFunction("mj_step", _V(_P, _P))
mj_step1 = types.ExternalFunction("mj_step1", _V(_P, _P))
mj_step2 = types.ExternalFunction("mj_step2", _V(_P, _P))
mj_jacSite = types.ExternalFunction("mj_jacSite", _V(_P, _P, _P, _P, _I))
mju_negQuat = types.ExternalFunction("mju_negQuat", _V(_P, _P))
mju_mulQuat = types.ExternalFunction("mju_mulQuat", _V(_P, _P, _P))
mju_quat2Vel = types.ExternalFunction("mju_quat2Vel", _V(_P, _P, _D))
mju_mulMatMatT = types.ExternalFunction("mju_mulMatMatT", _V(_P, _P, _P, _I, _I, _I))
mju_cholFactor = types.ExternalFunction("mju_cholFactor", _I(_P, _I, _D))
mju_cholSolve = types.ExternalFunction("mju_cholSolve", _V(_P, _P, _P, _I))
mju_mulMatTVec = types.ExternalFunction("mju_mulMatTVec", _V(_P, _P, _P, _I, _I))
mj_kinematics = types.ExternalFunction("mj_kinematics", _V(_P, _P))


@njit(cache=True, nogil=True)
def physics(m, d, decimation, held, free, site, v0, lambda2, limited, frame, xquat, qpos, ctrl, desired_pos,
            desired_quat, skew, dq_max, dq_min, jacp, jacr, jac, shift, err, gram, sol, qtmp, qerr, dq):  # pragma: no cover
    n = dq.shape[0]
    for _ in range(decimation):
        mj_step1(m, d)
        # pose error: position, then the rotation desired * conj(current) as axis * angle
        for i in range(3):
            err[i] = desired_pos[i] - frame[i]
        mju_negQuat(qtmp.ctypes.data, xquat.ctypes.data)
        mju_mulQuat(qerr.ctypes.data, desired_quat.ctypes.data, qtmp.ctypes.data)
        mju_quat2Vel(err.ctypes.data + 3 * 8, qerr.ctypes.data, 1.0)
        # Isaac Lab 2.x's Jacobian: linear rows at the reference site, shifted by -skew(offset) @ J_w
        mj_jacSite(m, d, jacp.ctypes.data, jacr.ctypes.data, site)
        for i in range(3):
            for j in range(n):
                jac[3 + i, j] = jacr[i, v0 + j]
        for i in range(3):
            for j in range(n):
                shift[i, j] = skew[i, 0] * jac[3, j] + skew[i, 1] * jac[4, j] + skew[i, 2] * jac[5, j]
        for i in range(3):
            for j in range(n):
                jac[i, j] = jacp[i, v0 + j] + shift[i, j]
        # damped least squares: dq = J^T (J J^T + lambda^2 I)^-1 e, by Cholesky
        mju_mulMatMatT(gram.ctypes.data, jac.ctypes.data, jac.ctypes.data, 6, n, 6)
        for i in range(6):
            gram[i, i] = gram[i, i] + lambda2
        mju_cholFactor(gram.ctypes.data, 6, 0.0)
        mju_cholSolve(sol.ctypes.data, gram.ctypes.data, err.ctypes.data, 6)
        mju_mulMatTVec(dq.ctypes.data, jac.ctypes.data, sol.ctypes.data, 6, n)
        if limited:
            for i in range(n):
                dq[i] = min(dq[i], dq_max[i])
                dq[i] = max(dq[i], dq_min[i])
        for i in range(n):
            ctrl[i] = qpos[i] + dq[i]
        mj_step2(m, d)
        for _ in range(held):
            for i in range(n):
                ctrl[i] = qpos[i] + dq[i]
            mj_step(m, d)
        for _ in range(free):
            mj_step(m, d)
    mj_kinematics(m, d)


@njit(cache=True, nogil=True)
def stage(action, qpos_robot, default_q, qvel_robot, cubes, eef_site, hand_quat, hand_rot, cube_xmat, st_actions,
          st_joint_pos, st_joint_vel, st_cubes, st_rel_eef, st_rel_chain, st_rel_ends, st_cube_pos, st_cube_quat,
          st_eef, st_eef_quat, st_gripper, fingers, eef_rot, cube_rot):  # pragma: no cover
    """``FrankaStackTwin._update``'s staging (copies and differences of the new state), element by element."""
    for i in range(3):
        st_eef[i] = eef_site[i]
    for i in range(st_actions.shape[0]):
        st_actions[i] = action[i]
    for i in range(qpos_robot.shape[0]):
        st_joint_pos[i] = qpos_robot[i] - default_q[i]
        st_joint_vel[i] = qvel_robot[i]
    for k in range(cubes.shape[0]):
        for i in range(7):
            st_cubes[k, i] = cubes[k, i]
        for i in range(3):
            st_rel_eef[k, i] = cubes[k, i] - st_eef[i]
            st_cube_pos[k, i] = cubes[k, i]
        for i in range(4):
            st_cube_quat[k, i] = cubes[k, 3 + i]
        for i in range(3):
            for j in range(3):
                cube_rot[k, i, j] = cube_xmat[k, i, j]
    for k in range(2):
        for i in range(3):
            st_rel_chain[k, i] = cubes[k, i] - cubes[k + 1, i]
    for i in range(3):
        st_rel_ends[i] = cubes[0, i] - cubes[2, i]
    for i in range(4):
        st_eef_quat[i] = hand_quat[i]
    fingers[0] = qpos_robot[7]
    fingers[1] = qpos_robot[8]
    st_gripper[0] = fingers[0]
    st_gripper[1] = -fingers[1]
    for i in range(3):
        for j in range(3):
            eef_rot[i, j] = hand_rot[i, j]


def load() -> Callable[..., Any]:
    return physics
