"""Evaluation metrics: evo ATE with and without alignment, mesh precision / recall."""

import numpy as np
import pytest

from m2h_slam.core.geometry import transform_from_quaternion
from m2h_slam.eval import mesh_score, trajectory_error


def _trajectory(n=50, seed=0):
    rng = np.random.default_rng(seed)
    positions = np.cumsum(rng.normal(0, 0.05, (n, 3)), axis=0)
    poses = np.array([transform_from_quaternion(p, np.array([0, 0, np.sin(0.01 * k), np.cos(0.01 * k)]))
                      for k, p in enumerate(positions)])
    return np.arange(n) * 0.1, poses


def test_ate_offset_alignment_and_scale():
    stamps, poses = _trajectory()
    shifted = poses.copy()
    shifted[:, :3, 3] += [0.3, 0.0, 0.4]
    raw = trajectory_error(stamps, poses, stamps, shifted, align=False)
    assert raw.rmse_m == pytest.approx(0.5) and raw.matched == 50
    assert trajectory_error(stamps, poses, stamps, shifted).rmse_m < 1e-6
    scaled = poses.copy()
    scaled[:, :3, 3] *= 0.5
    rigid = trajectory_error(stamps, poses, stamps, scaled)
    sim3 = trajectory_error(stamps, poses, stamps, scaled, correct_scale=True)
    assert sim3.rmse_m < 1e-6 < rigid.rmse_m and sim3.scale == pytest.approx(2.0)
    assert rigid.path_length_m > 1.0 and rigid.rmse_percent_of_path > 1.0


def test_ate_refuses_a_static_estimate():
    stamps, poses = _trajectory()
    with pytest.raises(ValueError, match="does not move enough"):
        trajectory_error(stamps, poses, stamps, np.repeat(np.eye(4)[None], len(poses), axis=0), correct_scale=True)


def test_mesh_score():
    from m2h_slam.core.o3d import open3d

    box = open3d().geometry.TriangleMesh.create_box(2, 2, 2)
    vertices, triangles = np.asarray(box.vertices), np.asarray(box.triangles)
    samples = np.asarray(box.sample_points_uniformly(2000).points)
    same = mesh_score(vertices, triangles, vertices, triangles, samples)
    assert same.precision == 1.0 and same.recall == 1.0 and same.f1 == 1.0
    moved = mesh_score(vertices + 0.2, triangles, vertices, triangles, samples)
    assert moved.precision == 0.0 and moved.recall < 0.9 and moved.f1 == 0.0
