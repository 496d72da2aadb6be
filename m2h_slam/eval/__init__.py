"""Evaluation: trajectory error (evo), mesh accuracy and completeness, run evaluation."""

from m2h_slam.eval.metrics import MeshScore, TrajectoryError, mesh_score, trajectory_error

__all__ = ["MeshScore", "TrajectoryError", "mesh_score", "trajectory_error"]
