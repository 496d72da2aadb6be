"""Evaluation metrics: evo ATE with and without alignment, mesh precision / recall."""

import numpy as np
import pytest

from m2h_slam.core.errors import InputError
from m2h_slam.core.geometry import transform_from_quaternion
from m2h_slam.eval import mesh_score, relative_pose_error, trajectory_error


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


def _evo_cli_rmse(tool: str, *args: str) -> float:
    """The rmse that evo's own command-line tool prints."""
    import re
    import subprocess
    import sys
    from pathlib import Path

    result = subprocess.run([str(Path(sys.executable).parent / tool), *args, "--no_warnings"], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return float(re.search(r"^\s*rmse\s+([0-9.eE+-]+)", result.stdout, re.MULTILINE).group(1))


def test_ate_and_rpe_equal_what_the_evo_tools_print(tmp_path):
    from m2h_slam.formats.trajectory_io import write_tum_trajectory

    stamps, poses = _trajectory(80, seed=3)
    rng = np.random.default_rng(4)
    estimate = poses.copy()
    estimate[:, :3, 3] = 0.8 * estimate[:, :3, 3] + rng.normal(0, 0.02, (80, 3)) + [1.0, -2.0, 0.5]
    ref, est = write_tum_trajectory(tmp_path / "ref.txt", stamps, poses), write_tum_trajectory(
        tmp_path / "est.txt", stamps, estimate)
    ours = trajectory_error(stamps, poses, stamps, estimate)
    assert ours.rmse_m == pytest.approx(_evo_cli_rmse("evo_ape", "tum", str(ref), str(est), "-a"), abs=2e-6)
    ours_sim3 = trajectory_error(stamps, poses, stamps, estimate, correct_scale=True)
    assert ours_sim3.rmse_m == pytest.approx(_evo_cli_rmse("evo_ape", "tum", str(ref), str(est), "-as"), abs=2e-6)
    assert ours_sim3.rmse_m < ours.rmse_m
    for delta, unit, flag in ((1, "frames", "f"), (5, "frames", "f"), (0.5, "meters", "m")):
        rpe = relative_pose_error(stamps, poses, stamps, estimate, delta=delta, delta_unit=unit)
        printed = _evo_cli_rmse("evo_rpe", "tum", str(ref), str(est), "--delta", str(delta), "--delta_unit", flag)
        assert rpe.rmse_m == pytest.approx(printed, abs=2e-6) and rpe.pairs > 0
    with pytest.raises(ValueError, match="delta_unit"):
        relative_pose_error(stamps, poses, stamps, estimate, delta_unit="furlongs")


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


def test_reference_surfaces_in_other_formats_and_point_clouds(tmp_path):
    from m2h_slam.core.o3d import open3d
    from m2h_slam.formats.ply_io import read_surface

    o3d = open3d()
    box = o3d.geometry.TriangleMesh.create_box(2, 2, 2)
    o3d.utility.random.seed(1)
    samples = np.asarray(box.sample_points_uniformly(3000).points)
    o3d.io.write_triangle_mesh(str(tmp_path / "box.obj"), box)
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(samples))
    o3d.io.write_point_cloud(str(tmp_path / "box_points.ply"), cloud)
    vertices, triangles = read_surface(tmp_path / "box.obj")
    assert len(triangles) == 12 and np.allclose(vertices.min(axis=0), 0) and np.allclose(vertices.max(axis=0), 2)
    points, none = read_surface(tmp_path / "box_points.ply")
    assert len(points) == 3000 and none.shape == (0, 3)
    box_v, box_t = np.asarray(box.vertices), np.asarray(box.triangles)
    shifted = mesh_score(box_v + [0.03, 0, 0], box_t, vertices, triangles, samples)  # 3 cm off: within 5 cm
    # the 4 corners moved off x = 0 stay on the faces y = 0 / z = 0 ...; the 4 moved off x = 2 are 3 cm out
    assert shifted.precision == 1.0 and shifted.accuracy_m == pytest.approx(0.015, abs=1e-6)
    assert 0.0 < shifted.completeness_m <= 0.03 + 1e-6 and shifted.f1 == 1.0
    far = mesh_score(box_v + [0.1, 0, 0], box_t, points, none, samples)  # against the point cloud: nearest point
    assert far.precision == 0.5 and 0.05 <= far.accuracy_m < 0.1  # 4 corners 10 cm out, 4 near a sample
    (tmp_path / "empty.ply").write_text("ply\nformat ascii 1.0\nelement vertex 0\nend_header\n")
    with pytest.raises(InputError, match="empty.ply: holds no triangles"):
        read_surface(tmp_path / "empty.ply")
