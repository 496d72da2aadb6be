"""Moving objects: segments of movable classes that appear where the map saw free space.

A pixel violates free space when the map's voxel at its back-projected point was observed
(weight >= ``moving_min_weight``) more than the truncation distance in front of a surface
(TSDF near +1): something now stands where the camera saw through before. (The map
allocates voxels only in blocks near surfaces, so this is known for objects near walls,
floors and furniture, where moved objects stand.) A connected segment of one object class
(``IS_OBJECT``; people are masked anyway) moves when at least ``moving_free_space_ratio``
of its known samples violate free space and the map holds no voxels of its class there.
Only frames whose structure (walls, floors, ...) agrees with the map's free space can
reveal new movers (with poor depth everything seems to move). Moving segments become
tracks (class, world centroid); in later frames segments of the same class within
``moving_track_radius_m`` of a track are masked too, even where the map knows nothing.
Masked pixels are never fused, so the moved object does not enter the map.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from m2h_slam.core.config import FusionConfig
from m2h_slam.core.geometry import backproject_pixels, transform_points
from m2h_slam.core.intrinsics import Intrinsics
from m2h_slam.core.labels import IS_DYNAMIC, IS_OBJECT, IS_STRUCTURE, NYU40
from pipeline.mapping.fusion import SemanticTSDF

_MOVABLE = IS_OBJECT & ~IS_DYNAMIC
_FREE_TSDF = 0.95  # truncation units: observed this far in front of any surface
_STATIC_DISAGREEMENT = 0.02  # frames whose structure violates free space more often than this detect nothing,
_STATIC_MEDIAN_TSDF = 0.2  # and those whose structure lies further from the map's surfaces (truncation units)
_MAPPED_SHARE = 0.1  # segments with more samples than this next to voxels of their class are not new there
_MIN_SAMPLES = 10  # fewer sampled pixels (or ones the map has seen) decide nothing
_NEIGHBOURS = np.array([[0, 0, 0], [1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], np.float64)


@dataclass
class MovingResult:
    """mask (H, W) bool pixels of moving objects; new: descriptions of objects first seen moving."""

    mask: np.ndarray
    new: list[str]


def find_moving(semantics: np.ndarray, depth_m: np.ndarray, K: Intrinsics, world_T_camera: np.ndarray,
                volume: SemanticTSDF, tracks: list[list[float]], config: FusionConfig) -> MovingResult:
    """Segments of movable classes that violate the map's free space or continue a track.

    semantics (H, W) classes; depth_m (H, W) m, 0 = invalid; tracks: [class, x, y, z] per tracked
    object (world m), updated in place.
    """
    H, W = depth_m.shape
    mask = np.zeros((H, W), bool)
    new: list[str] = []
    if config.moving_free_space_ratio <= 0:
        return MovingResult(mask, new)
    min_area = max(4, int(config.moving_min_area * H * W))
    stride = max(1, W // 160)  # about 160 x 120 samples at any resolution
    # Whether the frame agrees with the map: computed once, when a new segment needs it.
    agrees = functools.cache(lambda: _agrees_with_map(semantics, depth_m, K, world_T_camera, volume, config, stride))
    classes, counts = np.unique(semantics[::stride, ::stride], return_counts=True)
    for cls in classes[_MOVABLE[classes] & (counts * stride * stride >= min_area)]:
        _, components, stats, _ = cv2.connectedComponentsWithStats((semantics == cls).view(np.uint8), connectivity=4)
        for c in np.flatnonzero(stats[1:, cv2.CC_STAT_AREA] >= min_area) + 1:
            x, y, w, h = stats[c, :4]
            segment = (components[y:y + h, x:x + w] == c) & (depth_m[y:y + h, x:x + w] > 0)
            vv, uu = np.nonzero(segment[::stride, ::stride])
            vv, uu = vv * stride + y, uu * stride + x
            if len(vv) < _MIN_SAMPLES:
                continue
            points = _to_world(uu, vv, depth_m, K, world_T_camera)
            centroid = np.median(points, axis=0)
            track = _nearest_track(tracks, int(cls), centroid, config.moving_track_radius_m)
            if track is not None:
                track[1:] = centroid.tolist()  # follow it
            elif _stands_in_free_space(points, volume, int(cls), config) and agrees():
                tracks.append([float(cls), *centroid.tolist()])
                new.append(f"{NYU40[int(cls)].name} at ({centroid[0]:.2f}, {centroid[1]:.2f}, {centroid[2]:.2f}) m "
                           "stands in free space")
            else:
                continue
            mask |= components == c
    if mask.any() and config.dynamic_dilation_px > 0:
        size = 2 * config.dynamic_dilation_px + 1
        mask = cv2.dilate(mask.view(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))).view(bool)
    return MovingResult(mask, new)


def _to_world(uu, vv, depth_m, K, world_T_camera) -> np.ndarray:
    return transform_points(world_T_camera, backproject_pixels(uu, vv, depth_m[vv, uu], K))


def _stands_in_free_space(points: np.ndarray, volume: SemanticTSDF, cls: int, config: FusionConfig) -> bool:
    """Whether a segment's (N, 3) world points lie in the map's seen free space, where the map holds
    no object of their class (thin parts of a mapped object share voxels with the free space beside them)."""
    tsdf, weight = volume.sample(points, "tsdf", "weight")
    known = weight >= config.moving_min_weight
    violating = known & (tsdf >= _FREE_TSDF)
    return (known.sum() >= _MIN_SAMPLES and violating.sum() >= config.moving_free_space_ratio * known.sum()
            and _mapped_here(volume, points, cls) <= _MAPPED_SHARE)


def _nearest_track(tracks: list[list[float]], cls: int, centroid: np.ndarray, radius_m: float) -> list[float] | None:
    best, best_distance = None, radius_m
    for track in tracks:
        distance = float(np.linalg.norm(np.asarray(track[1:]) - centroid))
        if int(track[0]) == cls and distance <= best_distance:
            best, best_distance = track, distance
    return best


def _mapped_here(volume: SemanticTSDF, points: np.ndarray, cls: int) -> float:
    """Share of points with a voxel of class ``cls`` at or next to them in the map."""
    offsets = _NEIGHBOURS * volume.config.voxel_size_m
    label, evidence = volume.sample((points[:, None, :] + offsets).reshape(-1, 3), "label", "evidence")
    return float(((label == cls) & (evidence > 0)).reshape(len(points), -1).any(axis=1).mean())


def _agrees_with_map(semantics, depth_m, K, world_T_camera, volume, config, stride) -> bool:
    """Whether the frame's structure (walls, floors, ..., which never move) lies on the map's surfaces
    and stays out of its free space: with poor depth or a drifted pose nothing can be called moving."""
    vv, uu = np.mgrid[0:depth_m.shape[0]:stride, 0:depth_m.shape[1]:stride]
    keep = IS_STRUCTURE[semantics[vv, uu]] & (depth_m[vv, uu] > 0)
    vv, uu = vv[keep], uu[keep]
    tsdf, weight = volume.sample(_to_world(uu, vv, depth_m, K, world_T_camera), "tsdf", "weight")
    tsdf = tsdf[weight >= config.moving_min_weight]
    return (len(tsdf) >= 20 and np.sum(tsdf >= _FREE_TSDF) <= _STATIC_DISAGREEMENT * len(tsdf)
            and float(np.median(np.abs(tsdf))) <= _STATIC_MEDIAN_TSDF)
