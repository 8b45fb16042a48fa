"""The twin's per-step and per-frame loops compiled with Numba, each equal to its numpy version bit for bit.

- ``physics`` and ``stage``: one env step's physics steps and its observations' staging;
- ``relative_action``: the generator's target pose as an IK-Rel action, once per step;
- ``optical_normals`` and ``segment_colours``: the cameras' normals (before the rotation to the world
  frame, which stays numpy's product) and segmentation colours, one pass over the pixels each.

An env step is ``decimation`` physics steps, each ``mj_step1``, the differential IK on the new
kinematics, the servo targets, ``mj_step2``, then the held substeps (``DifferentialIK`` describes the
controller). Run from Python, the controller's two dozen small calls per physics step cost about as much
as MuJoCo's own stepping. Here the same calls run in one compiled function: MuJoCo's C functions
(``mj_step1``, ``mj_jacSite``, ``mju_mulMatMatT``, ``mju_cholFactor`` ...) are called directly from the
shared library the ``mujoco`` package ships, and the few element-wise operations numpy did are written out
in the same order, so every number equals the interpreted path's bit for bit (``tests`` compares them).

Numba (``pip install 'mimicforge[sim]'``) is optional: without it ``deps.physics_kernel()`` returns None
and the twin steps through ``DifferentialIK`` and renders with numpy. Compiled code is cached beside this
file (or in ``NUMBA_CACHE_DIR``), so a new process loads it instead of compiling.
"""

from __future__ import annotations

import glob
import os

import llvmlite.binding as llvm
import mujoco
import numpy as np
from numba import njit, types

from mimicforge import geometry

_LIBRARY = sorted(glob.glob(os.path.join(os.path.dirname(mujoco.__file__), "libmujoco.so*")) +
                  glob.glob(os.path.join(os.path.dirname(mujoco.__file__), "libmujoco*.dylib")))
if not _LIBRARY:
    raise ImportError("MuJoCo's shared library is not beside the mujoco package")
llvm.load_library_permanently(_LIBRARY[-1])  # MuJoCo's C functions, by name, for the compiled code

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


# The scalar rotation conversions of ``geometry`` (plain float arithmetic), compiled as they are written.
_quat_of = njit(cache=True, nogil=True)(geometry._quat_of)
_axis_angle_of = njit(cache=True, nogil=True)(geometry._axis_angle_of)


@njit(cache=True, nogil=True)
def relative_action(target, eef_pos, eef_rot, noise, scale, gripper, out):  # pragma: no cover
    """``FrankaStackTwin.target_eef_pose_to_action`` into ``out``: the target's offset from the end effector, the
    rotation vector of ``target_rot @ eef_rot.T`` (``geometry.relative_axis_angle_rows``, the same products in
    the same order), plus ``scale * noise`` clamped to [-1, 1] where ``noise`` has entries, then the gripper."""
    a, b = target, eef_rot
    w, x, y, z = _quat_of(
        a[0, 0] * b[0, 0] + a[0, 1] * b[0, 1] + a[0, 2] * b[0, 2],
        a[0, 0] * b[1, 0] + a[0, 1] * b[1, 1] + a[0, 2] * b[1, 2],
        a[0, 0] * b[2, 0] + a[0, 1] * b[2, 1] + a[0, 2] * b[2, 2],
        a[1, 0] * b[0, 0] + a[1, 1] * b[0, 1] + a[1, 2] * b[0, 2],
        a[1, 0] * b[1, 0] + a[1, 1] * b[1, 1] + a[1, 2] * b[1, 2],
        a[1, 0] * b[2, 0] + a[1, 1] * b[2, 1] + a[1, 2] * b[2, 2],
        a[2, 0] * b[0, 0] + a[2, 1] * b[0, 1] + a[2, 2] * b[0, 2],
        a[2, 0] * b[1, 0] + a[2, 1] * b[1, 1] + a[2, 2] * b[1, 2],
        a[2, 0] * b[2, 0] + a[2, 1] * b[2, 1] + a[2, 2] * b[2, 2])
    rx, ry, rz = _axis_angle_of(w, x, y, z)
    for i in range(3):
        out[i] = target[i, 3] - eef_pos[i]
    out[3], out[4], out[5] = rx, ry, rz
    if noise.shape[0] > 0:
        for i in range(6):
            v = out[i] + scale * noise[i]
            out[i] = -1.0 if v < -1.0 else 1.0 if v > 1.0 else v
    out[6] = gripper


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


@njit(cache=True, nogil=True)
def optical_normals(depth, ray_x, ray_y):  # pragma: no cover
    """``CameraRig._normals`` up to its rotation to the world frame, in one pass over the pixels: the unit
    normals in the optical frame (turned to face the camera) as an (H, W, 3) float64 array, and the mask of
    pixels whose four neighbours were hit. The same operations in the same order as the numpy version (the
    rays' z component is 1, so the points' z is the depth itself)."""
    h, w = depth.shape
    d = np.empty((h, w))
    hit = np.empty((h, w), dtype=np.bool_)
    for i in range(h):
        for j in range(w):
            v = np.float64(depth[i, j])
            hit[i, j] = np.isfinite(v)
            d[i, j] = v if hit[i, j] else 0.0
    p = np.empty((3, h, w))
    for i in range(h):
        for j in range(w):
            p[0, i, j] = ray_x[i, j] * d[i, j]
            p[1, i, j] = ray_y[i, j] * d[i, j]
            p[2, i, j] = d[i, j]
    du = np.empty((3, h, w))
    dv = np.empty((3, h, w))
    for c in range(3):
        for i in range(h):
            du[c, i, 0] = p[c, i, 1] - p[c, i, 0]
            for j in range(1, w - 1):
                du[c, i, j] = (p[c, i, j + 1] - p[c, i, j - 1]) / 2.0
            du[c, i, w - 1] = p[c, i, w - 1] - p[c, i, w - 2]
        for j in range(w):
            dv[c, 0, j] = p[c, 1, j] - p[c, 0, j]
            dv[c, h - 1, j] = p[c, h - 1, j] - p[c, h - 2, j]
        for i in range(1, h - 1):
            for j in range(w):
                dv[c, i, j] = (p[c, i + 1, j] - p[c, i - 1, j]) / 2.0
    n = np.empty((h, w, 3))
    inside = np.empty((h, w), dtype=np.bool_)
    for i in range(h):
        for j in range(w):
            n0 = du[1, i, j] * dv[2, i, j] - du[2, i, j] * dv[1, i, j]
            n1 = du[2, i, j] * dv[0, i, j] - du[0, i, j] * dv[2, i, j]
            n2 = du[0, i, j] * dv[1, i, j] - du[1, i, j] * dv[0, i, j]
            norm = np.sqrt(n0 * n0 + n1 * n1 + n2 * n2)
            if norm > 1e-12:
                n0, n1, n2 = n0 / norm, n1 / norm, n2 / norm
            else:
                n0, n1, n2 = 0.0, 0.0, 0.0
            if (n0 * p[0, i, j] + n1 * p[1, i, j]) + n2 * p[2, i, j] > 0.0:
                n0, n1, n2 = -n0, -n1, -n2
            n[i, j, 0], n[i, j, 1], n[i, j, 2] = n0, n1, n2
            ok = hit[i, j]
            if i > 0:
                ok = ok and hit[i - 1, j]
            if i < h - 1:
                ok = ok and hit[i + 1, j]
            if j > 0:
                ok = ok and hit[i, j - 1]
            if j < w - 1:
                ok = ok and hit[i, j + 1]
            inside[i, j] = ok
    return n, inside


@njit(cache=True, nogil=True)
def segment_colours(ids, lut, colours):  # pragma: no cover
    """``colours[lut[r + (g << 8) + (b << 16)]]`` for each pixel's id colour: ``CameraRig._id_pass``'s mapping
    in one pass. An id past the table is the background."""
    h, w = ids.shape[0], ids.shape[1]
    out = np.empty((h, w, colours.shape[1]), dtype=np.uint8)
    background = colours.shape[0] - 1
    for i in range(h):
        for j in range(w):
            code = np.int64(ids[i, j, 0]) + (np.int64(ids[i, j, 1]) << 8) + (np.int64(ids[i, j, 2]) << 16)
            k = lut[code] if code < lut.shape[0] else background
            for c in range(colours.shape[1]):
                out[i, j, c] = colours[k, c]
    return out
