"""Property tests of the camera maths."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from m2h_slam.core import geometry as g
from m2h_slam.core.intrinsics import Intrinsics

finite = dict(allow_nan=False, allow_infinity=False)
intrinsics = st.builds(
    Intrinsics,
    fx=st.floats(50, 2000, **finite),
    fy=st.floats(50, 2000, **finite),
    cx=st.floats(0, 640, **finite),
    cy=st.floats(0, 480, **finite),
    width=st.integers(8, 1280),
    height=st.integers(8, 960),
)
quaternions = arrays(np.float64, 4, elements=st.floats(-1, 1, **finite)).filter(lambda q: np.linalg.norm(q) > 0.1)
translations = arrays(np.float64, 3, elements=st.floats(-100, 100, **finite))
points = arrays(np.float64, (7, 3), elements=st.floats(-50, 50, **finite))


@given(K=intrinsics, u=st.floats(-100, 1400, **finite), v=st.floats(-100, 1000, **finite), z=st.floats(0.01, 100, **finite))
def test_project_inverts_backproject(K, u, v, z):
    point = g.backproject_pixels(np.array([u]), np.array([v]), np.array([z]), K)
    uv, depth = g.project(point, K)
    np.testing.assert_allclose(uv[0], [u, v], atol=1e-6 * max(1.0, abs(u), abs(v)))
    np.testing.assert_allclose(depth, [z], rtol=1e-12)


@given(t=translations, q=quaternions, p=points)
def test_transform_round_trip(t, q, p):
    a_T_b = g.transform_from_quaternion(t, q)
    np.testing.assert_allclose(a_T_b[:3, :3] @ a_T_b[:3, :3].T, np.eye(3), atol=1e-9)
    back = g.transform_points(g.invert_transform(a_T_b), g.transform_points(a_T_b, p))
    np.testing.assert_allclose(back, p, atol=1e-9)
    np.testing.assert_allclose(g.invert_transform(a_T_b) @ a_T_b, np.eye(4), atol=1e-9)


@given(t=translations, q=quaternions)
def test_quaternion_round_trip(t, q):
    a_T_b = g.transform_from_quaternion(t, q)
    t2, q2 = g.quaternion_from_transform(a_T_b)
    expected = q / np.linalg.norm(q) * (1 if q[3] >= 0 else -1)
    assert q2[3] >= 0
    np.testing.assert_allclose(t2, t)
    np.testing.assert_allclose(g.transform_from_quaternion(t2, q2), a_T_b, atol=1e-9)
    if abs(expected[3]) > 1e-6:
        np.testing.assert_allclose(q2, expected, atol=1e-9)


@settings(max_examples=25)
@given(K=intrinsics.filter(lambda K: K.width * K.height < 200_000), scale=st.floats(0.1, 20, **finite))
def test_ray_distance_planar_depth_round_trip(K, scale):
    depth = np.full((K.height, K.width), scale, np.float32)
    distance = g.planar_depth_to_ray_distance(depth, K)
    assert np.all(distance >= depth * (1 - 1e-6))
    np.testing.assert_allclose(g.ray_distance_to_planar_depth(distance, K), depth, rtol=1e-5)


def test_ray_distance_at_principal_point_equals_depth():
    K = Intrinsics(100, 100, 10, 10, 21, 21)
    distance = g.planar_depth_to_ray_distance(np.full((21, 21), 2.0, np.float32), K)
    assert distance[10, 10] == pytest.approx(2.0)
    assert distance[0, 0] == pytest.approx(2.0 * math.sqrt(1 + 0.01 + 0.01), rel=1e-6)


@given(K=intrinsics, w=st.integers(8, 1280), h=st.integers(8, 960))
def test_rescale_round_trip_and_fov(K, w, h):
    back = K.rescaled(w, h).rescaled(K.width, K.height)
    np.testing.assert_allclose([back.fx, back.fy, back.cx, back.cy], [K.fx, K.fy, K.cx, K.cy], rtol=1e-9, atol=1e-9)
    # The field of view is a property of the camera, not of the image size.
    assert K.rescaled(w, K.height * w // K.width or 1).hfov_deg == pytest.approx(K.hfov_deg, rel=1e-9)


def test_from_fov_and_matrix():
    K = Intrinsics.from_fov(1024, 768, 60.0)
    assert K.fx == pytest.approx(886.81, abs=0.01)  # Hypersim's default focal length
    assert (K.cx, K.cy) == (511.5, 383.5)
    assert K.hfov_deg == pytest.approx(60.0)
    assert Intrinsics.from_matrix(K.matrix, 1024, 768) == K


def test_rescale_matches_cv2_resize_pixel_alignment():
    import cv2

    K = Intrinsics(100.0, 100.0, 63.5, 47.5, 128, 96)
    image = np.zeros((96, 128), np.float32)
    image[47, 63] = image[48, 64] = image[47, 64] = image[48, 63] = 1.0  # a blob around the principal point
    small = cv2.resize(image, (64, 48), interpolation=cv2.INTER_AREA)
    half = K.rescaled(64, 48)
    ys, xs = np.nonzero(small)
    assert (xs.mean(), ys.mean()) == pytest.approx((half.cx, half.cy))


def test_backproject_requires_matching_size():
    with pytest.raises(ValueError, match="does not match"):
        g.backproject(np.ones((10, 10), np.float32), Intrinsics(10, 10, 5, 5, 12, 10))


def test_project_behind_camera_is_nan():
    uv, z = g.project(np.array([[0.0, 0.0, -1.0]]), Intrinsics(10, 10, 5, 5, 10, 10))
    assert np.isnan(uv).all() and z[0] == -1.0


def test_normals_from_depth_of_a_tilted_plane():
    from m2h_slam.core.geometry import normals_from_depth

    K = Intrinsics(40.0, 40.0, 19.5, 14.5, 40, 30)
    normal = np.array([0.3, -0.2, -1.0]) / np.linalg.norm([0.3, -0.2, -1.0])  # facing the camera (-z)
    depth = (-2.0 / (g.ray_directions(K) @ normal)).astype(np.float32)  # the plane normal . X = -2 m
    depth[10, 10] = 0.0  # a hole: its neighbours get no normal
    normals = normals_from_depth(depth, K)
    assert normals.dtype == np.float32 and not normals[0].any() and not normals[:, -1].any()
    assert not normals[10, 11].any() and not normals[9, 10].any()
    inside = np.linalg.norm(normals, axis=-1) > 0
    assert inside.sum() == 28 * 38 - 5 and np.allclose(normals[inside], normal, atol=1e-4)


def test_rays_through_pixel_centres():
    K = Intrinsics(50.0, 40.0, 1.5, 0.5, 4, 2)
    rays = g.ray_directions(K)
    assert rays.shape == (2, 4, 3) and rays.dtype == np.float64
    assert np.allclose(rays[0, 0], [-1.5 / 50, -0.5 / 40, 1.0]) and np.allclose(rays[1, 3], [1.5 / 50, 0.5 / 40, 1.0])
    single = g.ray_directions(K, np.float32)
    assert single.dtype == np.float32 and np.allclose(single, rays)
    unit = g.unit_rays(K, np.float32)
    assert unit.dtype == np.float32 and np.allclose(np.linalg.norm(unit, axis=-1), 1.0)
    assert np.allclose(unit * rays[..., 2:] / unit[..., 2:], rays)  # the same directions
    # a point back-projected at planar depth z lies on its pixel's ray at parameter z
    assert np.allclose(g.backproject(np.full((2, 4), 3.0, np.float32), K), 3.0 * rays)


@pytest.mark.parametrize("angle_deg", [0.0, 0.5, 37.0, 90.0, 179.0])
def test_rotation_angle_of_a_transform(angle_deg):
    from scipy.spatial.transform import Rotation

    T = np.eye(4)
    T[:3, :3] = Rotation.from_rotvec(np.radians(angle_deg) * np.array([1.0, 2.0, -2.0]) / 3.0).as_matrix()
    T[:3, 3] = [4.0, -1.0, 2.0]  # the translation does not count
    assert g.rotation_angle_deg(T) == pytest.approx(angle_deg, abs=1e-5)
    assert g.rotation_angle_deg(T[:3, :3]) == pytest.approx(angle_deg, abs=1e-5)


def test_polygon_area_and_point_in_polygon_on_known_shapes():
    from m2h_slam.core.polygons import points_in_polygon, polygon_area

    square = np.array([[0.0, 0.0], [2.0, 0.0], [2.0, 2.0], [0.0, 2.0]])  # counter-clockwise
    ell = np.array([[0.0, 0.0], [3.0, 0.0], [3.0, 1.0], [1.0, 1.0], [1.0, 2.0], [0.0, 2.0]])
    assert polygon_area(square) == pytest.approx(4.0) and polygon_area(square[::-1]) == pytest.approx(-4.0)
    assert polygon_area(ell) == pytest.approx(4.0)
    probes = np.array([[0.5, 0.5], [2.5, 0.5], [2.5, 1.5], [0.5, 1.5], [-0.1, 0.5], [1.0, 3.0]])
    assert points_in_polygon(ell, probes).tolist() == [True, True, False, True, False, False]
    assert points_in_polygon(ell[::-1], probes).tolist() == [True, True, False, True, False, False]
    # two squares sharing an edge: every point is in exactly one of them, edge points included
    right = square + [2.0, 0.0]
    grid = np.stack(np.meshgrid(np.linspace(0.0, 3.5, 15), np.linspace(0.0, 1.5, 7)), -1).reshape(-1, 2)
    assert np.all(points_in_polygon(square, grid).astype(int) + points_in_polygon(right, grid) == 1)
    # area of a random polygon rasterised with the point test agrees with the shoelace area
    angles = np.sort(np.random.default_rng(1).uniform(0, 2 * np.pi, 9))
    star = np.stack([np.cos(angles), np.sin(angles)], 1) * np.random.default_rng(2).uniform(0.5, 1.0, (9, 1))
    cells = np.stack(np.meshgrid(*[np.arange(-1.0, 1.0, 0.005) + 0.0025] * 2), -1).reshape(-1, 2)
    assert points_in_polygon(star, cells).sum() * 0.005**2 == pytest.approx(polygon_area(star), rel=0.01)


@settings(max_examples=50, deadline=None)
@given(st.floats(-math.pi, math.pi), arrays(np.float64, 3, elements=st.floats(-1e6, 1e6, **finite)))
def test_rigid_poses_pass_the_pose_check(angle_rad, translation):
    from scipy.spatial.transform import Rotation

    pose = g.transform_from_quaternion(translation, Rotation.from_rotvec(np.array([0.3, -0.5, 0.8]) * angle_rad).as_quat())
    assert g.pose_problem(pose) is None


@pytest.mark.parametrize("change, problem", [
    (lambda T: T.__setitem__((0, 3), 1e308), "camera position has a coordinate of 1e+308 m"),
    (lambda T: T.__setitem__((1, 1), np.nan), "NaN or infinite"),
    (lambda T: T.__setitem__(slice(0, 3), T[:3] * 1.1), "not orthonormal"),
    (lambda T: T.__setitem__((2, 2), -1.0), "determinant +1"),  # a mirror
    (lambda T: T.__setitem__((0, 0), 1e300), "not orthonormal"),
    (lambda T: T.__setitem__((3, 0), 0.5), "last row"),
])
def test_broken_poses_are_named(change, problem):
    pose = np.eye(4)
    change(pose)
    assert problem in g.pose_problem(pose)
