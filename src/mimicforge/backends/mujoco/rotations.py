"""The twin's rotation helpers: the scalar paths of ``mimicforge.geometry`` (one set of rules for the
generator and the twin), under the names the twin's modules import."""

from mimicforge.geometry import (  # noqa: F401 (re-exported)
    axis_angle_from_quat,
    axis_angle_to_mat,
    mat_to_axis_angle,
    mat_to_quat,
    pose_matrix,
    quat_conj,
    quat_from_axis_angle,
    quat_mul,
    quat_to_mat,
    skew,
    yaw_quat,
)
