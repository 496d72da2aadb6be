"""Evaluation: trajectory error (evo), mesh accuracy and completeness, run evaluation."""

from m2h_slam.eval.metrics import (
                                   MeshScore,
                                   RelativeError,
                                   TrajectoryError,
                                   mesh_score,
                                   relative_pose_error,
                                   trajectory_error,
)

__all__ = ["MeshScore", "RelativeError", "TrajectoryError", "mesh_score", "relative_pose_error", "trajectory_error"]
