"""Isaac Lab's relative-pose differential IK (damped least squares) on MuJoCo data.

Isaac's ``DifferentialInverseKinematicsAction`` splits in two, and so does this class:

- ``command`` (once per env step, ``process_actions``): desired IK-frame pose = current pose plus the
  scaled action, the rotation delta pre-multiplied (a base-frame rotation);
- ``joint_increment`` (every physics step, ``apply_actions``): pose error against the current kinematics,
  one DLS step ``dq = J^T (J J^T + lambda^2 I)^-1 e``, servo targets ``q + dq``.

The Jacobian follows Isaac Lab 2.x including its approximation (see ``ControlParams``): linear rows at
a reference point on the hand, then shifted to the IK frame with the offset left in hand coordinates.
This is what the recorded human demos were driven by, so the twin reproduces their motion only with it.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from mimicforge.backends.mujoco.params import ARM_JOINTS, ControlParams
from mimicforge.geometry import quat_from_axis_angle, quat_mul, skew


class DifferentialIK:
    def __init__(self, mujoco: ModuleType, model: Any, data: Any, params: ControlParams) -> None:
        self._mj = mujoco
        self._mj_jac = mujoco.mj_jac
        self._model = model
        self._data = data
        self.hand = model.body("panda_hand").id
        joints = [model.joint(n).id for n in ARM_JOINTS]
        self.qadr = np.array([model.jnt_qposadr[j] for j in joints])
        self.dofs = np.array([model.jnt_dofadr[j] for j in joints])
        if not (np.all(np.diff(self.qadr) == 1) and np.all(np.diff(self.dofs) == 1)):
            raise ValueError("the arm joints must be consecutive in qpos and qvel")
        self._q = slice(int(self.qadr[0]), int(self.qadr[0]) + len(joints))
        self._v = slice(int(self.dofs[0]), int(self.dofs[0]) + len(joints))
        self.offset = np.asarray(params.ik_offset, dtype=np.float64)
        self.reference = np.asarray(params.jacobian_reference, dtype=np.float64)
        self.unrotated = params.jacobian_offset_unrotated
        self._offset_skew = -skew(self.offset)
        self._lambda2 = params.dls_lambda ** 2
        if params.arm_velocity_limit is None:
            self._dq_max: np.ndarray | None = None
        else:
            self._dq_max = np.asarray(params.arm_velocity_limit, dtype=np.float64) * params.arm_kv / params.arm_kp
        self.scale = params.action_scale
        self._jacp = np.zeros((3, model.nv))
        self._jacr = np.zeros((3, model.nv))
        self._jac = np.zeros((6, len(joints)))
        self._err = np.zeros(6)
        self._gram = np.zeros((6, 6))
        self._sol = np.zeros(6)
        self._qtmp = np.zeros(4)
        self._qerr = np.zeros(4)
        self._rot_err = np.zeros(3)
        self._dq_zero = np.zeros(len(joints))
        self.desired_pos = np.zeros(3)
        self.desired_quat = np.array([1.0, 0.0, 0.0, 0.0])

    def frame_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """Current IK-frame pose (position, quaternion) from the data's kinematics."""
        d = self._data
        rot = d.xmat[self.hand].reshape(3, 3)
        return d.xpos[self.hand] + rot @ self.offset, d.xquat[self.hand].copy()

    def command(self, delta: np.ndarray) -> np.ndarray:
        """Set the desired pose from a raw 6-D relative action; returns the scaled (processed) action."""
        processed = self.scale * np.asarray(delta, dtype=np.float64)
        pos, quat = self.frame_pose()
        self.desired_pos = pos + processed[:3]
        self.desired_quat = quat_mul(quat_from_axis_angle(processed[3:6]), quat)
        return processed

    def hold(self) -> None:
        """Desired pose = current pose (what a zero action commands)."""
        self.desired_pos, self.desired_quat = self.frame_pose()

    def jacobian(self) -> np.ndarray:
        """6x7 Jacobian of the IK frame as Isaac Lab 2.x computes it (needs current kinematics)."""
        d = self._data
        rot = d.xmat[self.hand].reshape(3, 3)
        point = d.xpos[self.hand] + rot @ self.reference
        self._mj_jac(self._model, d, self._jacp, self._jacr, point, self.hand)
        jac = self._jac
        jw = self._jacr[:, self._v]
        jac[3:] = jw
        if self.unrotated:
            jac[:3] = self._jacp[:, self._v] + self._offset_skew @ jw
        else:
            jac[:3] = self._jacp[:, self._v] - skew(rot @ (self.offset - self.reference)) @ jw
        return jac

    @property
    def arm_q(self) -> slice:
        """The arm joints' slice of ``qpos``."""
        return self._q

    def joint_increment(self) -> np.ndarray:
        """One DLS step ``dq`` from the current joints towards the desired pose (servo target = q + dq).

        Runs five times per env step, so it uses MuJoCo's small C helpers on preallocated arrays
        rather than numpy's general (and, at 6 x 7, overhead-dominated) routines.
        """
        d, mj = self._data, self._mj
        h = self.hand
        rot = d.xmat[h].reshape(3, 3)
        err = self._err
        err[:3] = self.desired_pos - (d.xpos[h] + rot @ self.offset)
        mj.mju_negQuat(self._qtmp, d.xquat[h])
        mj.mju_mulQuat(self._qerr, self.desired_quat, self._qtmp)
        mj.mju_quat2Vel(self._rot_err, self._qerr, 1.0)  # axis * angle, angle in (-pi, pi]
        err[3:] = self._rot_err
        jac = self.jacobian()
        gram = self._gram
        mj.mju_mulMatMatT(gram, jac, jac)
        gram.flat[::7] += self._lambda2
        mj.mju_cholFactor(gram, 0.0)
        mj.mju_cholSolve(self._sol, gram, err)
        dq = np.empty(len(self._dq_zero))
        mj.mju_mulMatTVec(dq, jac, self._sol)
        if self._dq_max is not None:
            np.clip(dq, -self._dq_max, self._dq_max, out=dq)
        return dq
