"""Revisits: a keyframe that sees again a place an older keyframe saw, found by ORB features and verified in 3D,
and the drift odometry gathered in between (``RevisitFinder``; run.json's ``revisits``). The mapper closes the
loop with them (``pipeline.mapping.pose_graph``).

Every keyframe keeps its ORB keypoints that have depth: pixel positions, binary descriptors and the points they
back-project to (camera frame, m). A new keyframe is matched against the keyframes at least ``min_gap`` keyframes
older (ratio test on Hamming distances); the best candidate with ``min_matches`` matches is verified by PnP with
RANSAC: the old keyframe's points against the new keyframe's pixels must give ``min_inliers`` inliers within
``reprojection_px``, and the PnP pose is the closure (one keyframe's depth, as the photometric odometry uses it:
to back-project). A closure whose correction is larger than the drift the walk in between
can explain (``max_drift_share`` of the path plus ``max_drift_m``) is refused: two rooms that look alike are
further apart than drift.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from m2h_slam.core.geometry import backproject_pixels, invert_transform, project, transform_points
from m2h_slam.core.intrinsics import Intrinsics

ORB_FEATURES = 500
RATIO = 0.75  # Lowe's ratio test on the two nearest descriptors
FAST_THRESHOLD = 7  # grey levels; ORB's default 20 finds about 50 corners in a flat-textured synthetic room


@dataclass(frozen=True)
class KeyframeFeatures:
    """ORB keypoints with depth of one keyframe: pixels (N, 2), descriptors (N, 32) uint8, points (N, 3) m in the
    camera frame."""

    index: int  # the frame's index in the run
    pixels: np.ndarray
    descriptors: np.ndarray
    points: np.ndarray


@dataclass(frozen=True)
class Closure:
    """``new`` sees what ``old`` saw: old_T_new (4, 4) from ``inliers`` matched points."""

    old: int  # keyframe numbers (in the order the finder got them)
    new: int
    old_T_new: np.ndarray
    correction_m: float  # how far the closure moves the new keyframe from where odometry put it
    points: np.ndarray  # (inliers, 3) m the inlier points in the old keyframe's camera frame
    pixels: np.ndarray  # (inliers, 2) px where the new keyframe sees them

    @property
    def inliers(self) -> int:
        return len(self.points)

    def agreeing(self, old_T_new: np.ndarray, K: Intrinsics, reprojection_px: float) -> int:
        """How many of the inlier points project within ``reprojection_px`` of their pixels under ``old_T_new``
        (another estimate of the same closure, e.g. a dense alignment)."""
        uv, _ = project(transform_points(invert_transform(old_T_new), self.points), K)  # NaN behind the camera
        return int((np.linalg.norm(uv - self.pixels, axis=1) <= reprojection_px).sum())


_ORB = None


def features(index: int, rgb: np.ndarray, depth_m: np.ndarray, K: Intrinsics) -> KeyframeFeatures:
    """ORB keypoints of (H, W, 3) uint8 ``rgb`` where (H, W) ``depth_m`` > 0, with their 3D points."""
    global _ORB
    if _ORB is None:
        _ORB = cv2.ORB_create(ORB_FEATURES, fastThreshold=FAST_THRESHOLD)
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    keypoints, descriptors = _ORB.detectAndCompute(grey, None)
    if descriptors is None or not keypoints:
        return KeyframeFeatures(index, np.zeros((0, 2)), np.zeros((0, 32), np.uint8), np.zeros((0, 3)))
    pixels = np.array([k.pt for k in keypoints])
    cols = np.clip(np.round(pixels[:, 0]).astype(int), 0, depth_m.shape[1] - 1)
    rows = np.clip(np.round(pixels[:, 1]).astype(int), 0, depth_m.shape[0] - 1)
    z = depth_m[rows, cols].astype(np.float64)
    keep = z > 0
    points = backproject_pixels(pixels[keep, 0], pixels[keep, 1], z[keep], K)
    return KeyframeFeatures(index, pixels[keep], descriptors[keep], points)


def match(a: KeyframeFeatures, b: KeyframeFeatures) -> np.ndarray:
    """(M, 2) indices (into a, into b) of the matches that pass the ratio test."""
    if len(a.descriptors) < 2 or len(b.descriptors) < 2:
        return np.zeros((0, 2), int)
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(a.descriptors, b.descriptors, k=2)
    good = [(m.queryIdx, m.trainIdx) for m, n in (p for p in pairs if len(p) == 2) if m.distance < RATIO * n.distance]
    return np.array(good, int).reshape(-1, 2)


def verify(old: KeyframeFeatures, new: KeyframeFeatures, K: Intrinsics, min_inliers: int,
           reprojection_px: float) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(old_T_new (4, 4), the inliers' points (N, 3) m in ``old``'s camera frame, their pixels (N, 2) in ``new``)
    when ``new`` sees at least ``min_inliers`` of ``old``'s points where PnP puts them, else None."""
    pairs = match(old, new)
    if len(pairs) < min_inliers:
        return None
    ok, rvec, tvec, inliers = cv2.solvePnPRansac(old.points[pairs[:, 0]].astype(np.float64),
                                                 new.pixels[pairs[:, 1]].astype(np.float64), K.matrix, None,
                                                 reprojectionError=reprojection_px, iterationsCount=200,
                                                 flags=cv2.SOLVEPNP_EPNP)
    if not ok or inliers is None or len(inliers) < min_inliers:
        return None
    new_T_old = np.eye(4)
    new_T_old[:3, :3], new_T_old[:3, 3] = cv2.Rodrigues(rvec)[0], tvec.ravel()
    kept = pairs[inliers.ravel()]
    return np.linalg.inv(new_T_old), old.points[kept[:, 0]], new.pixels[kept[:, 1]]


def plausible(correction_m: float, path_m: float, max_drift_share: float, max_drift_m: float) -> bool:
    """Whether odometry could have drifted by ``correction_m`` over ``path_m`` of walk since the old keyframe (a
    larger correction is a place that only looks the same)."""
    return correction_m <= max_drift_m + max_drift_share * path_m


@dataclass
class _Keyframe:
    features: KeyframeFeatures
    world_T_camera: np.ndarray
    path_m: float  # camera path walked up to this keyframe


class RevisitFinder:
    """Keyframes in order; each new one is checked against the older ones it may be seeing again.

    Candidates are keyframes at least ``min_gap`` keyframes older whose camera is within the drift the walk since
    then allows (``max_drift_m`` + ``max_drift_share`` x path) and looks the same way (optical axes within 60 deg);
    the nearest ``max_candidates`` are ranked by how many features they share with the new keyframe (drifted
    positions make the nearest one a poor guess: on a 1,500-frame walk with the demo weights, nearest-first found 8
    revisits where ranking finds 40), and the best ``max_checks`` with ``min_inliers`` matches are verified.

    Inliers within 4 px, not 2: the old keyframe's points carry the network's depth error (at 2 px half of the true
    revisits of that walk fail); the mapper refines each closure by dense alignment before it is used."""

    def __init__(self, K: Intrinsics, min_gap: int = 10, min_inliers: int = 20, reprojection_px: float = 4.0,
                 max_drift_share: float = 0.1, max_drift_m: float = 0.5, max_checks: int = 3,
                 max_candidates: int = 20):
        self.K, self.min_gap, self.min_inliers, self.reprojection_px = K, min_gap, min_inliers, reprojection_px
        self.max_drift_share, self.max_drift_m, self.max_checks = max_drift_share, max_drift_m, max_checks
        self.max_candidates = max_candidates
        self.keyframes: list[_Keyframe] = []

    def add(self, index: int, rgb: np.ndarray, depth_m: np.ndarray, world_T_camera: np.ndarray) -> Closure | None:
        """Add keyframe ``index`` (frame number in the run); the closure it makes with an older one, if any."""
        path = self.keyframes[-1].path_m + float(np.linalg.norm(world_T_camera[:3, 3] - self.keyframes[-1]
                                                                .world_T_camera[:3, 3])) if self.keyframes else 0.0
        new = _Keyframe(features(index, rgb, depth_m, self.K), np.asarray(world_T_camera, np.float64), path)
        closure = self._closure(new)
        self.keyframes.append(new)
        return closure

    def _closure(self, new: _Keyframe) -> Closure | None:
        older = self.keyframes[: max(0, len(self.keyframes) - self.min_gap + 1)]
        if not older:
            return None
        poses = np.array([k.world_T_camera for k in older])
        distance = np.linalg.norm(poses[:, :3, 3] - new.world_T_camera[:3, 3], axis=1)
        reach = self.max_drift_m + self.max_drift_share * (new.path_m - np.array([k.path_m for k in older]))
        facing = poses[:, :3, 2] @ new.world_T_camera[:3, 2]
        near = np.flatnonzero((distance <= reach) & (facing > 0.5))
        nearest = near[np.argsort(distance[near], kind="stable")][: self.max_candidates]
        shared = [(len(match(self.keyframes[number].features, new.features)), int(number)) for number in nearest]
        for count, number in sorted(shared, reverse=True)[: self.max_checks]:
            if count < self.min_inliers:
                break
            old = self.keyframes[number]
            found = verify(old.features, new.features, self.K, self.min_inliers, self.reprojection_px)
            if found is None:
                continue
            old_T_new, points, pixels = found
            where = old.world_T_camera @ old_T_new  # the new keyframe's pose as the old one's view says
            correction = float(np.linalg.norm(where[:3, 3] - new.world_T_camera[:3, 3]))
            if plausible(correction, new.path_m - old.path_m, self.max_drift_share, self.max_drift_m):
                return Closure(number, len(self.keyframes), old_T_new, correction, points, pixels)
        return None

    def move(self, poses: list[np.ndarray]) -> None:
        """Take the keyframes' corrected world_T_camera (a loop closure moved them), in order."""
        for keyframe, pose in zip(self.keyframes, poses):
            keyframe.world_T_camera = np.asarray(pose, np.float64)

    # -- snapshots ---------------------------------------------------------------------------
    def arrays(self) -> dict[str, np.ndarray]:
        """The keyframes as a few flat arrays (``revisit_*``), for the mapper's snapshot."""
        kfs = self.keyframes
        return {"revisit_frames": np.array([k.features.index for k in kfs], np.int64),
                "revisit_poses": np.array([k.world_T_camera for k in kfs], np.float64).reshape(-1, 4, 4),
                "revisit_paths": np.array([k.path_m for k in kfs], np.float64),
                "revisit_counts": np.array([len(k.features.pixels) for k in kfs], np.int64),
                "revisit_pixels": np.concatenate([k.features.pixels for k in kfs]).reshape(-1, 2) if kfs
                else np.zeros((0, 2)),
                "revisit_descriptors": np.concatenate([k.features.descriptors for k in kfs]).reshape(-1, 32)
                if kfs else np.zeros((0, 32), np.uint8),
                "revisit_points": np.concatenate([k.features.points for k in kfs]).reshape(-1, 3) if kfs
                else np.zeros((0, 3))}

    def load_arrays(self, data) -> None:
        """Restore what ``arrays`` gave (``data``: a mapping of those names; none of them: no keyframes)."""
        self.keyframes = []
        if "revisit_frames" not in data:
            return
        ends = np.cumsum(data["revisit_counts"])
        for k, (index, pose, path) in enumerate(zip(data["revisit_frames"], data["revisit_poses"],
                                                    data["revisit_paths"])):
            rows = slice(int(ends[k] - data["revisit_counts"][k]), int(ends[k]))
            found = KeyframeFeatures(int(index), data["revisit_pixels"][rows], data["revisit_descriptors"][rows],
                                     data["revisit_points"][rows])
            self.keyframes.append(_Keyframe(found, np.array(pose), float(path)))
