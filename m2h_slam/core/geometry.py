"""Camera maths: back-projection, projection, rigid transforms, quaternions, depth kinds.

Poses are 4x4 float64 ``a_T_b`` mapping points in frame b to frame a; cameras use
OpenCV axes (x right, y down, z forward). Quaternions are (qx, qy, qz, qw), as TUM.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from m2h_slam.core.intrinsics import Intrinsics


def pixel_grid(width: int, height: int, dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
    """(u, v) arrays of shape (height, width) and type ``dtype`` holding pixel-centre coordinates."""
    return np.meshgrid(np.arange(width, dtype=dtype), np.arange(height, dtype=dtype))


def backproject_pixels(u: np.ndarray, v: np.ndarray, depth_m: np.ndarray, K: Intrinsics) -> np.ndarray:
    """Points (..., 3) in the camera frame for pixels (u, v) with planar depth in metres."""
    z = np.asarray(depth_m, dtype=np.float64)
    x = (np.asarray(u, dtype=np.float64) - K.cx) / K.fx * z
    y = (np.asarray(v, dtype=np.float64) - K.cy) / K.fy * z
    return np.stack([x, y, z], axis=-1)


def backproject(depth_m: np.ndarray, K: Intrinsics) -> np.ndarray:
    """(H, W, 3) float64 camera-frame points of a (H, W) planar depth map (0 depth gives the origin)."""
    if depth_m.shape != (K.height, K.width):
        raise ValueError(f"depth shape {depth_m.shape} does not match intrinsics {K.width}x{K.height}")
    u, v = pixel_grid(K.width, K.height)
    return backproject_pixels(u, v, depth_m, K)


def normals_from_depth(depth_m: np.ndarray, K: Intrinsics) -> np.ndarray:
    """(H, W, 3) float32 unit normals (camera frame, facing the camera) from the cross product of the central
    differences of the back-projected depth; zero at the border and where a neighbour has no depth."""
    points = backproject(depth_m, K)
    du, dv = points[1:-1, 2:] - points[1:-1, :-2], points[2:, 1:-1] - points[:-2, 1:-1]
    derived = np.cross(du, dv)
    derived /= np.maximum(np.linalg.norm(derived, axis=-1, keepdims=True), 1e-12)
    derived *= np.where(np.sum(derived * points[1:-1, 1:-1], axis=-1, keepdims=True) > 0, -1.0, 1.0)
    measured = depth_m > 0
    valid = measured[1:-1, 1:-1] & measured[1:-1, 2:] & measured[1:-1, :-2] & measured[2:, 1:-1] & measured[:-2, 1:-1]
    normals = np.zeros((*depth_m.shape, 3), np.float32)
    normals[1:-1, 1:-1] = np.where(valid[..., None], derived, 0.0)
    return normals


def project(points_camera: np.ndarray, K: Intrinsics) -> tuple[np.ndarray, np.ndarray]:
    """Project (..., 3) camera-frame points; returns pixel coordinates (..., 2) and depth z (...).

    Points with z <= 0 get NaN pixel coordinates.
    """
    p = np.asarray(points_camera, dtype=np.float64)
    z = p[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        safe_z = np.where(z > 0, z, np.nan)
        u = K.fx * p[..., 0] / safe_z + K.cx
        v = K.fy * p[..., 1] / safe_z + K.cy
    return np.stack([u, v], axis=-1), z


def transform_points(a_T_b: np.ndarray, points_b: np.ndarray) -> np.ndarray:
    """Map (..., 3) points from frame b to frame a."""
    points_b = np.asarray(points_b, dtype=np.float64)
    return points_b @ a_T_b[:3, :3].T + a_T_b[:3, 3]


def invert_transform(a_T_b: np.ndarray) -> np.ndarray:
    """``b_T_a`` from ``a_T_b`` (rigid, exact inverse)."""
    R, t = a_T_b[:3, :3], a_T_b[:3, 3]
    b_T_a = np.eye(4)
    b_T_a[:3, :3] = R.T
    b_T_a[:3, 3] = -R.T @ t
    return b_T_a


#: Largest camera translation a pose may hold (m): 1000 km, far beyond any mapped scene; larger is a broken file.
MAX_TRANSLATION_M = 1e6
#: Largest deviation of a pose's R^T R from the identity (a rotation stored with a few decimals stays far below).
ROTATION_TOLERANCE = 1e-2


def pose_problem(a_T_b: np.ndarray) -> str | None:
    """Why the 4x4 ``a_T_b`` is no rigid camera pose, in words (non-finite, translation beyond
    ``MAX_TRANSLATION_M`` m, rotation not orthonormal or a reflection, last row not 0 0 0 1); None for a good one."""
    T = np.asarray(a_T_b, dtype=np.float64)
    if T.shape != (4, 4):
        return f"pose has shape {T.shape}, not 4x4"
    if not np.isfinite(T).all():
        return "pose holds NaN or infinite numbers"
    offset_m = float(np.abs(T[:3, 3]).max())
    if offset_m > MAX_TRANSLATION_M:
        return f"camera position has a coordinate of {offset_m:.3g} m (more than {MAX_TRANSLATION_M:g} m)"
    R = T[:3, :3]
    if np.abs(R).max() > 1 + ROTATION_TOLERANCE:  # (R^T R would overflow for huge entries)
        return (f"rotation is not orthonormal with determinant +1 (it holds {float(np.abs(R).max()):.3g}; a "
                "rotation's entries lie in [-1, 1])")
    deviation, det = float(np.abs(R.T @ R - np.eye(3)).max()), float(np.linalg.det(R))
    if deviation > ROTATION_TOLERANCE or det <= 0:
        return f"rotation is not orthonormal with determinant +1 (|R^T R - I| up to {deviation:.3g}, det {det:.3g})"
    if not np.allclose(T[3], [0.0, 0.0, 0.0, 1.0], atol=1e-6):
        return f"last row is {T[3].tolist()}, not 0 0 0 1"
    return None


def transform_from_quaternion(translation: np.ndarray, quaternion_xyzw: np.ndarray) -> np.ndarray:
    """4x4 transform from a translation (3,) and a quaternion (qx, qy, qz, qw); the quaternion is normalised."""
    T = np.eye(4)
    T[:3, :3] = Rotation.from_quat(np.asarray(quaternion_xyzw, dtype=np.float64)).as_matrix()
    T[:3, 3] = translation
    return T


def quaternion_from_transform(a_T_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(translation (3,), quaternion (qx, qy, qz, qw) with qw >= 0) of a 4x4 rigid transform."""
    q = Rotation.from_matrix(a_T_b[:3, :3]).as_quat()
    if q[3] < 0:
        q = -q
    return a_T_b[:3, 3].copy(), q


def ray_directions(K: Intrinsics, dtype=np.float64) -> np.ndarray:
    """(H, W, 3) camera-frame rays through each pixel centre, scaled to z = 1 (so a ray's parameter at a
    surface is its planar depth), computed in ``dtype``."""
    u, v = pixel_grid(K.width, K.height, dtype)
    return np.stack([(u - K.cx) / K.fx, (v - K.cy) / K.fy, np.ones_like(u)], axis=-1)


def unit_rays(K: Intrinsics, dtype=np.float64) -> np.ndarray:
    """(H, W, 3) unit-length camera-frame viewing rays through each pixel centre, computed in ``dtype``."""
    rays = ray_directions(K, dtype)
    return rays / np.linalg.norm(rays, axis=-1, keepdims=True)


def rotation_angle_deg(a_T_b: np.ndarray) -> float:
    """Angle (deg, 0..180) of the rotation of a 4x4 transform or a 3x3 rotation matrix."""
    R = np.asarray(a_T_b, np.float64)[:3, :3]
    return float(np.degrees(np.arccos(np.clip((np.trace(R) - 1) / 2, -1.0, 1.0))))


def ray_distance_to_planar_depth(distance_m: np.ndarray, K: Intrinsics) -> np.ndarray:
    """Planar z-depth (H, W) float32 from Euclidean distance along each pixel's ray."""
    norm = np.linalg.norm(ray_directions(K), axis=-1)
    return (np.asarray(distance_m, dtype=np.float64) / norm).astype(np.float32)


def planar_depth_to_ray_distance(depth_m: np.ndarray, K: Intrinsics) -> np.ndarray:
    """Euclidean distance along each pixel's ray (H, W) float32 from planar z-depth."""
    norm = np.linalg.norm(ray_directions(K), axis=-1)
    return (np.asarray(depth_m, dtype=np.float64) * norm).astype(np.float32)
