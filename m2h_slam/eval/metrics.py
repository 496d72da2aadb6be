"""Metrics on arrays: absolute and relative trajectory error through evo (the reference implementation)
and mesh accuracy / completeness / F-score against a ground-truth surface."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from m2h_slam.core.o3d import open3d


@dataclass(frozen=True)
class TrajectoryError:
    """Absolute trajectory error (translation, m) after alignment; path length of the reference (m)."""

    rmse_m: float
    mean_m: float
    max_m: float
    path_length_m: float
    matched: int
    scale: float  # Sim(3) scale applied (1.0 without scale alignment)
    reference_T_estimate: np.ndarray  # the alignment, (4, 4) incl. scale in the rotation block

    @property
    def rmse_percent_of_path(self) -> float:
        return 100.0 * self.rmse_m / max(self.path_length_m, 1e-12)


def trajectory_error(ref_stamps: np.ndarray, ref_poses: np.ndarray, est_stamps: np.ndarray, est_poses: np.ndarray,
                     align: bool = True, correct_scale: bool = False, max_time_diff_s: float = 0.02) -> TrajectoryError:
    """evo's APE (translation part) between two TUM-style trajectories (poses (N, 4, 4) world_T_camera)."""
    from evo.core import metrics, sync
    from evo.core.trajectory import PoseTrajectory3D

    ref = PoseTrajectory3D(poses_se3=list(ref_poses), timestamps=np.asarray(ref_stamps, float))
    est = PoseTrajectory3D(poses_se3=list(est_poses), timestamps=np.asarray(est_stamps, float))
    ref, est = sync.associate_trajectories(ref, est, max_diff=max_time_diff_s)
    rotation, translation, scale = np.eye(3), np.zeros(3), 1.0
    if align:
        from evo.core.geometry import GeometryException

        try:
            rotation, translation, scale = est.align(ref, correct_scale=correct_scale)
        except GeometryException:
            raise ValueError("the estimated trajectory does not move enough to be aligned") from None
    ape = metrics.APE(metrics.PoseRelation.translation_part)
    ape.process_data((ref, est))
    stats = ape.get_all_statistics()
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = scale * rotation, translation
    return TrajectoryError(float(stats["rmse"]), float(stats["mean"]), float(stats["max"]), float(ref.path_length),
                           int(ref.num_poses), float(scale), T)


@dataclass(frozen=True)
class RelativeError:
    """Relative pose error (translation part, m) over pose pairs ``delta`` apart (in ``delta_unit``)."""

    rmse_m: float
    mean_m: float
    max_m: float
    pairs: int
    delta: float
    delta_unit: str


RPE_UNITS = ("frames", "meters", "seconds")


def relative_pose_error(ref_stamps: np.ndarray, ref_poses: np.ndarray, est_stamps: np.ndarray, est_poses: np.ndarray,
                        delta: float = 1, delta_unit: str = "frames", max_time_diff_s: float = 0.02) -> RelativeError:
    """evo's RPE (translation part, consecutive pairs ``delta`` apart) between two trajectories (poses (N, 4, 4)
    world_T_camera), as ``evo_rpe tum REF EST --delta D --delta_unit f|m|s`` prints it."""
    from evo.core import metrics, sync
    from evo.core.trajectory import PoseTrajectory3D

    if delta_unit not in RPE_UNITS:
        raise ValueError(f"delta_unit must be one of {', '.join(RPE_UNITS)}, got {delta_unit!r}")
    ref = PoseTrajectory3D(poses_se3=list(ref_poses), timestamps=np.asarray(ref_stamps, float))
    est = PoseTrajectory3D(poses_se3=list(est_poses), timestamps=np.asarray(est_stamps, float))
    ref, est = sync.associate_trajectories(ref, est, max_diff=max_time_diff_s)
    unit = {"frames": metrics.Unit.frames, "meters": metrics.Unit.meters, "seconds": metrics.Unit.seconds}[delta_unit]
    rpe = metrics.RPE(metrics.PoseRelation.translation_part, delta=int(delta) if delta_unit == "frames" else delta,
                      delta_unit=unit, all_pairs=False)
    try:
        rpe.process_data((ref, est))
    except metrics.MetricsException as error:
        raise ValueError(f"no pose pairs {delta:g} {delta_unit} apart ({error})") from None
    stats = rpe.get_all_statistics()
    return RelativeError(float(stats["rmse"]), float(stats["mean"]), float(stats["max"]), int(len(rpe.error)),
                         float(delta), delta_unit)


@dataclass(frozen=True)
class MeshScore:
    """precision: share of estimated vertices within ``threshold_m`` of the reference surface; recall: share of
    reference samples within ``threshold_m`` of the estimated surface; accuracy_m / completeness_m: the mean of
    those two distances (m), as NICE-SLAM and Hydra report them."""

    precision: float
    recall: float
    threshold_m: float
    accuracy_m: float = float("nan")
    completeness_m: float = float("nan")

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r > 0 else 0.0


def _distances(points: np.ndarray, vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """(N,) distance (m) of each point to the surface: to the triangles, or to the vertices of a point cloud."""
    if not len(points) or not len(vertices):
        return np.full(len(points), np.inf)
    if not len(triangles):
        from scipy.spatial import cKDTree

        return cKDTree(vertices).query(points, workers=-1)[0]
    o3d = open3d()
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.core.Tensor(vertices.astype(np.float32)), o3d.core.Tensor(triangles.astype(np.uint32)))
    return scene.compute_distance(o3d.core.Tensor(points.astype(np.float32))).numpy()


def mesh_score(estimate_vertices: np.ndarray, estimate_triangles: np.ndarray, reference_vertices: np.ndarray,
               reference_triangles: np.ndarray, reference_samples: np.ndarray, threshold_m: float = 0.05) -> MeshScore:
    """Precision and accuracy against the reference surface (a mesh, or points when ``reference_triangles`` is
    empty); recall and completeness of ``reference_samples`` (the observed reference surface, e.g. back-projected
    ground-truth depth, or points sampled on the reference mesh) against the estimated surface."""
    to_reference = _distances(estimate_vertices, reference_vertices, reference_triangles)
    to_estimate = _distances(reference_samples, estimate_vertices, estimate_triangles)
    mean = lambda d: float(np.mean(d)) if len(d) else float("nan")  # noqa: E731
    return MeshScore(float(np.mean(to_reference < threshold_m)) if len(to_reference) else 0.0,
                     float(np.mean(to_estimate < threshold_m)) if len(to_estimate) else 0.0,
                     threshold_m, mean(to_reference), mean(to_estimate))
