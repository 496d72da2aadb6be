"""The gravity-aligned map frame: z up, the floor at z = 0, walls along x and y.

From the fused floor voxels (NYU40 ``floor``) and their normals: the up direction is the
floor plane's normal (a least-squares plane through the floor voxels, refitted on its inliers,
oriented like the fused normals, which face the camera and so point up); the floor height is
the median height of the inliers. Walls then fix the yaw: their horizontal normals, folded
modulo 90 deg (Manhattan world), give the smallest turn that puts them on x and y.

    map_T_world = estimate_map_frame(points, labels, normals)   # None until enough floor is seen
    map_T_world = camera_up_frame(first_world_T_camera)       # without a floor: upright, not gravity-aligned
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from m2h_slam.core.config import GraphConfig
from m2h_slam.core.labels import class_id

FLOOR, WALL = class_id("floor"), class_id("wall")
_DEFAULTS = GraphConfig()


@dataclass(frozen=True)
class MapFrame:
    """map_T_world (4, 4): world -> gravity-aligned map frame. up_world: (3,) unit up in the world frame."""

    map_T_world: np.ndarray
    up_world: np.ndarray
    floor_height_m: float  # along up_world, in the world frame
    floor_voxels: int
    floor_rms_m: float  # spread of the floor inliers about their plane
    yaw_from_walls: bool


def _rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation (3, 3) that turns unit vector ``a`` onto unit vector ``b``."""
    v, c = np.cross(a, b), float(np.dot(a, b))
    if c < -1 + 1e-9:  # opposite: turn half way about any axis perpendicular to a
        axis = np.cross(a, [1.0, 0.0, 0.0] if abs(a[0]) < 0.9 else [0.0, 1.0, 0.0])
        axis /= np.linalg.norm(axis)
        return 2 * np.outer(axis, axis) - np.eye(3)
    vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + vx + vx @ vx / (1 + c)


def _rot_z(angle_rad: float) -> np.ndarray:
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def estimate_map_frame(points: np.ndarray, labels: np.ndarray, normals: np.ndarray,
                       min_floor_voxels: int = _DEFAULTS.map_frame_min_floor_voxels,
                       inlier_m: float = 0.05) -> MapFrame | None:
    """The map frame from labelled voxels: points (N, 3) m and normals (N, 3) (any length) in the world
    frame, labels (N,) NYU40. None while fewer than ``min_floor_voxels`` floor voxels are mapped."""
    floor = labels == FLOOR
    if floor.sum() < min_floor_voxels:
        return None
    p, n = points[floor], normals[floor]
    mean_normal = n.sum(axis=0)
    if np.linalg.norm(mean_normal) < 1e-9:
        return None
    mean_normal /= np.linalg.norm(mean_normal)
    keep = np.ones(len(p), bool)
    for _ in range(3):  # plane fit, then refit on the points near the plane
        centre = p[keep].mean(axis=0)
        _, _, vt = np.linalg.svd(p[keep] - centre, full_matrices=False)
        up = vt[2] if np.dot(vt[2], mean_normal) > 0 else -vt[2]
        if abs(np.dot(up, mean_normal)) < 0.7:  # a floor patch too thin to fix a plane: trust the normals
            up = mean_normal
        distance = (p - centre) @ up
        keep = np.abs(distance) < inlier_m
        if keep.sum() < min_floor_voxels // 2:
            return None
    height = float(np.median(p[keep] @ up))
    rms = float(np.sqrt(np.mean(((p[keep] @ up) - height) ** 2)))
    R = _rotation_between(up, np.array([0.0, 0.0, 1.0]))
    walls = labels == WALL
    yaw_known = False
    if walls.sum() >= min_floor_voxels // 2:
        horizontal = (normals[walls] @ R.T)[:, :2]
        length = np.linalg.norm(horizontal, axis=1)
        good = length > 1e-6
        if good.any():
            angles = np.arctan2(horizontal[good, 1], horizontal[good, 0])
            folded = np.angle(np.sum(length[good] * np.exp(4j * angles))) / 4  # Manhattan: modulo 90 deg
            R = _rot_z(-folded) @ R
            yaw_known = True
    map_T_world = np.eye(4)
    map_T_world[:3, :3] = R
    map_T_world[2, 3] = -height
    return MapFrame(map_T_world, up, height, int(keep.sum()), rms, yaw_known)


def camera_up_frame(world_T_camera: np.ndarray) -> np.ndarray:
    """map_T_world (4, 4) when no floor fixes the map frame: the camera's own frame (``world_T_camera`` (4, 4), the
    first frame's), turned so that its up (OpenCV: -y) is z and its view direction lies along x. Not gravity-aligned
    where the camera was tilted; z = 0 is the camera's height, not the floor."""
    R = world_T_camera[:3, :3]
    turn = _rotation_between(-R[:, 1], np.array([0.0, 0.0, 1.0]))
    forward = turn @ R[:, 2]
    turn = _rot_z(-np.arctan2(forward[1], forward[0])) @ turn
    map_T_world = np.eye(4)
    map_T_world[:3, :3] = turn
    map_T_world[:3, 3] = -turn @ world_T_camera[:3, 3]
    return map_T_world
