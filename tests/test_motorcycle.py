"""Real RGB-D data: the Middlebury Motorcycle stereo pair shipped by scikit-image."""

import numpy as np
import pytest
from skimage import data

from m2h_slam.core import geometry as g
from m2h_slam.sources import open_sequence
from m2h_slam.sources import samples as s


def test_depth_from_disparity_matches_calibration(motorcycle):
    _, _, disparity = data.stereo_motorcycle()
    valid = np.isfinite(disparity)
    expected_min = s.MOTORCYCLE_FOCAL_PX * s.MOTORCYCLE_BASELINE_M / (disparity[valid].max() + s.MOTORCYCLE_DOFFS_PX)
    expected_max = s.MOTORCYCLE_FOCAL_PX * s.MOTORCYCLE_BASELINE_M / (disparity[valid].min() + s.MOTORCYCLE_DOFFS_PX)
    depth = motorcycle.depth_m
    assert np.array_equal(depth > 0, valid)
    assert depth[valid].min() == pytest.approx(expected_min, rel=1e-5)
    assert depth[valid].max() == pytest.approx(expected_max, rel=1e-5)
    # An indoor scene: the motorcycle about 2 m from the camera, the back wall a few metres behind.
    assert 1.5 < expected_min < 3.0 and 3.0 < expected_max < 10.0
    assert valid.mean() > 0.9


def test_sequence_round_trip_backprojects_and_reprojects(tmp_path, motorcycle):
    s.write_sample("motorcycle", tmp_path / "moto")
    sequence = open_sequence(tmp_path / "moto")
    assert sequence.format == "m2h-sequence" and len(sequence) == 1
    assert sequence.ground_truth == ("depth_m", "world_T_camera")
    (frame,) = list(sequence)
    assert np.array_equal(frame.rgb, motorcycle.rgb)
    assert frame.intrinsics == motorcycle.intrinsics
    valid = motorcycle.depth_m > 0
    np.testing.assert_array_equal(frame.depth_m > 0, valid)
    assert np.abs(frame.depth_m[valid] - motorcycle.depth_m[valid]).max() <= 0.0005 + 1e-6  # mm PNG

    points = g.backproject(frame.depth_m, frame.intrinsics)[valid]
    world = g.transform_points(frame.world_T_camera, points)
    assert world[:, 2].min() == pytest.approx(motorcycle.depth_m[valid].min(), abs=1e-3)
    assert world[:, 2].max() == pytest.approx(motorcycle.depth_m[valid].max(), abs=1e-3)
    uv, z = g.project(points, frame.intrinsics)
    v, u = np.nonzero(valid)
    np.testing.assert_allclose(uv, np.stack([u, v], axis=1), atol=1e-9)
    np.testing.assert_allclose(z, frame.depth_m[valid], rtol=1e-6)


def test_resized_reading_keeps_geometry(tmp_path):
    s.write_sample("motorcycle", tmp_path / "moto")
    from m2h_slam.sources import ReadOptions

    full = next(iter(open_sequence(tmp_path / "moto")))
    (half,) = list(open_sequence(tmp_path / "moto", ReadOptions(resize=(370, 250))))
    assert half.rgb.shape == (250, 370, 3) and half.depth_m.shape == (250, 370)
    # A pixel of the small image sees the same 3D point as the matching pixel of the full one.
    K, Kf = half.intrinsics, full.intrinsics
    for v, u in [(60, 80), (125, 185), (200, 300)]:
        z = half.depth_m[v, u]
        point = g.backproject_pixels(np.array(u), np.array(v), np.array(z), K)
        uv_full, _ = g.project(point[None], Kf)
        uf, vf = np.round(uv_full[0]).astype(int)
        assert abs(full.depth_m[vf, uf] - z) < 0.05
