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
    """The controller of one ``MjData`` (``data``): it keeps views into that data's arrays (hand pose, the
    ``HAND_SITES`` frames, the arm's ``qpos`` and ``ctrl``), valid for the data's lifetime."""

    def __init__(self, mujoco: ModuleType, model: Any, data: Any, params: ControlParams,
                 arm_ctrl: slice = slice(0, len(ARM_JOINTS))) -> None:
        self._mj = mujoco
        self._model = model
        self._data = data
        self.hand = h = model.body("panda_hand").id
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
            self._dq_min = -self._dq_max
        self.scale = params.action_scale
        # Views into the data (the hand's pose, the sites' positions, the arm's joints and servo targets).
        self._rot = data.xmat[h].reshape(3, 3)
        self._xquat = data.xquat[h]
        self._site = model.site("jacobian_reference").id
        self._frame = data.site_xpos[model.site("ik_frame").id]
        self._qpos = data.qpos[self._q]
        self._ctrl = data.ctrl[arm_ctrl]
        if self._ctrl.shape != self._qpos.shape:
            raise ValueError("arm_ctrl must select one servo per arm joint")
        # Preallocated work arrays: the Jacobian as MuJoCo writes it, the 6 x 7 one the DLS uses, the
        # pose error, the damped Gram matrix (and its diagonal), the DLS solution and the increment.
        self._jacp = np.zeros((3, model.nv))
        self._jacr = np.zeros((3, model.nv))
        self._jacp_arm = self._jacp[:, self._v]
        self._jacr_arm = self._jacr[:, self._v]
        self._jac = np.zeros((6, len(joints)))
        self._jac_lin, self._jac_ang = self._jac[:3], self._jac[3:]
        self._shift = np.zeros((3, len(joints)))
        self._err = np.zeros(6)
        self._err_pos, self._err_rot = self._err[:3], self._err[3:]
        self._gram = np.zeros((6, 6))
        self._gram_diag = self._gram.reshape(-1)[::7]
        self._sol = np.zeros(6)
        self._qtmp = np.zeros(4)
        self._qerr = np.zeros(4)
        self._dq = np.zeros(len(joints))
        self.desired_pos = np.zeros(3)
        self.desired_quat = np.array([1.0, 0.0, 0.0, 0.0])
        self._params = params
        self._compiled: Any = None
        self._bound = False

    @property
    def compiled(self) -> Any:
        """``_compiled_loop``, bound on first use: a process that never steps (a settings check) does not
        import Numba."""
        if not self._bound:
            self._compiled, self._bound = self._compiled_loop(self._params), True
        return self._compiled

    def _compiled_loop(self, params: ControlParams) -> Any:
        """The compiled physics loop (``kernel.physics``: the physics steps, then ``mj_kinematics``) bound to
        this controller's arrays; None where it is off, Numba is missing, or its arithmetic would not be the
        interpreted path's: it forms ``-skew(offset) @ J_w`` as a plain sum, which equals numpy's product
        when each row of the skew matrix has at most one non-zero entry (an offset along one axis, as Isaac's)."""
        if not (params.compiled and self.unrotated and np.count_nonzero(self.offset) <= 1):
            return None
        from mimicforge.backends.mujoco.deps import physics_kernel

        module = physics_kernel()
        if module is None or not hasattr(self._data, "_address"):  # older bindings do not expose the C struct
            return None
        kernel = module.physics
        m, d = self._model._address, self._data._address  # noqa: SLF001 (the C structs the kernel steps)
        site = self._site
        limited = self._dq_max is not None
        dq_max = self._dq_max if limited else np.zeros(len(self._dq))
        dq_min = -dq_max
        arrays = (self._frame, self._xquat, self._qpos, self._ctrl, self.desired_pos, self.desired_quat,
                  self._offset_skew, dq_max, dq_min, self._jacp, self._jacr, self._jac, self._shift, self._err,
                  self._gram, self._sol, self._qtmp, self._qerr, self._dq)
        v0, lambda2 = self._v.start, self._lambda2

        def run(decimation: int, held: int, free: int) -> None:
            kernel(m, d, decimation, held, free, site, v0, lambda2, limited, *arrays)

        return run

    def frame_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """Current IK-frame pose (position, quaternion) from the data's kinematics."""
        return self._frame.copy(), self._xquat.copy()

    def command(self, delta: np.ndarray) -> np.ndarray:
        """Set the desired pose from a raw 6-D relative action; returns the scaled (processed) action."""
        processed = self.scale * np.asarray(delta, dtype=np.float64)
        np.add(self._frame, processed[:3], out=self.desired_pos)
        self.desired_quat[:] = quat_mul(quat_from_axis_angle(processed[3:6]), self._xquat)
        return processed

    def hold(self) -> None:
        """Desired pose = current pose (what a zero action commands)."""
        np.copyto(self.desired_pos, self._frame)
        np.copyto(self.desired_quat, self._xquat)

    def jacobian(self) -> np.ndarray:
        """6x7 Jacobian of the IK frame as Isaac Lab 2.x computes it (needs current kinematics)."""
        self._mj.mj_jacSite(self._model, self._data, self._jacp, self._jacr, self._site)
        jac = self._jac
        np.copyto(self._jac_ang, self._jacr_arm)
        if self.unrotated:
            np.matmul(self._offset_skew, self._jac_ang, out=self._shift)
        else:
            np.matmul(-skew(self._rot @ (self.offset - self.reference)), self._jac_ang, out=self._shift)
        np.add(self._jacp_arm, self._shift, out=self._jac_lin)
        return jac

    @property
    def arm_q(self) -> slice:
        """The arm joints' slice of ``qpos``."""
        return self._q

    def joint_increment(self) -> np.ndarray:
        """One DLS step ``dq`` from the current joints towards the desired pose (servo target = q + dq).

        Runs at every physics step, so it uses MuJoCo's small C helpers on preallocated arrays rather
        than numpy's general (and, at 6 x 7, overhead-dominated) routines: the Gram matrix
        ``J J^T + lambda^2 I`` is factored (Cholesky) and solved, never inverted. The returned array is
        the controller's own, overwritten by the next call.
        """
        mj = self._mj
        np.subtract(self.desired_pos, self._frame, out=self._err_pos)
        mj.mju_negQuat(self._qtmp, self._xquat)
        mj.mju_mulQuat(self._qerr, self.desired_quat, self._qtmp)
        mj.mju_quat2Vel(self._err_rot, self._qerr, 1.0)  # axis * angle, angle in (-pi, pi]
        jac = self.jacobian()
        gram = self._gram
        mj.mju_mulMatMatT(gram, jac, jac)
        np.add(self._gram_diag, self._lambda2, out=self._gram_diag)
        mj.mju_cholFactor(gram, 0.0)
        mj.mju_cholSolve(self._sol, gram, self._err)
        dq = self._dq
        mj.mju_mulMatTVec(dq, jac, self._sol)
        if self._dq_max is not None:
            np.minimum(dq, self._dq_max, out=dq)
            np.maximum(dq, self._dq_min, out=dq)
        return dq

    def servo(self) -> np.ndarray:
        """The physics step's controller in one pass: ``joint_increment`` on the current kinematics, then the
        arm's servo targets ``q + dq``. Returns ``dq`` (for ``hold_target`` on later substeps)."""
        dq = self.joint_increment()
        np.add(self._qpos, dq, out=self._ctrl)
        return dq

    def hold_target(self, dq: np.ndarray) -> None:
        """Servo targets ``q + dq`` on the current joints, the increment kept (a MuJoCo substep)."""
        np.add(self._qpos, dq, out=self._ctrl)
