"""Frame-to-model RGB-D odometry on (predicted) metric depth.

Each frame is aligned with Open3D's tensor multi-scale RGB-D odometry (photometric for
predicted depth, photometric + geometric for measured depth) against the last keyframe,
the previous frame or a raycast of the map, starting from a constant-velocity prediction. A
tracking-quality test (fitness, inlier RMSE, motion bounds) accepts or rejects it.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass

import cv2
import numpy as np

from m2h_slam.core.config import OdometryConfig
from m2h_slam.core.geometry import rotation_angle_deg
from m2h_slam.core.intrinsics import Intrinsics
from m2h_slam.core.o3d import open3d


@dataclass(frozen=True)
class TrackingResult:
    """Outcome of aligning one frame. prev_T_current: (4, 4) motion since the previous pose."""

    ok: bool
    prev_T_current: np.ndarray
    fitness: float
    inlier_rmse_m: float
    reason: str = ""  # why tracking failed


def _message(error: Exception) -> str:
    """Open3D's error text without colour codes and source location."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error)).strip()
    return text.rsplit(": ", 1)[-1].strip().rstrip(".")[:80]


def per_frame_motion(motion: np.ndarray, frames: int) -> np.ndarray:
    """The constant per-frame motion (4, 4) that adds up to ``motion`` (4, 4) over ``frames`` >= 1 frames
    (rotation angle and translation divided evenly: exact for 1 frame, close for the small motions between
    video frames)."""
    if frames == 1:
        return motion.copy()
    from scipy.spatial.transform import Rotation

    step = np.eye(4)
    step[:3, :3] = Rotation.from_rotvec(Rotation.from_matrix(motion[:3, :3]).as_rotvec() / frames).as_matrix()
    step[:3, 3] = motion[:3, 3] / frames
    return step


def rgbd_image(rgb: np.ndarray, depth_m: np.ndarray, device):
    """Open3D tensor RGB-D image (colour in [0, 1], depth in metres)."""
    o3d = open3d()
    core = o3d.core
    color = o3d.t.geometry.Image(core.Tensor(np.ascontiguousarray(rgb, dtype=np.float32) / 255.0, device=device))
    depth = o3d.t.geometry.Image(core.Tensor(np.ascontiguousarray(depth_m, dtype=np.float32)[..., None], device=device))
    return o3d.t.geometry.RGBDImage(color, depth)


def block_mean(rgb: np.ndarray, depth_m: np.ndarray, factor: int) -> tuple[np.ndarray, np.ndarray]:
    """Images shrunk by an integer ``factor`` (the last rows / columns that do not fill a block dropped):
    colour (H, W, 3) averaged per block (float32), depth (H, W) m averaged where the whole block has depth, else 0.
    OpenCV's area resize at an integer factor is the block mean (20x faster than numpy's)."""
    h, w = depth_m.shape[0] // factor, depth_m.shape[1] // factor
    rgb, depth_m = rgb[: h * factor, : w * factor], depth_m[: h * factor, : w * factor]

    def shrink(image: np.ndarray) -> np.ndarray:
        return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)

    complete = shrink((depth_m > 0).astype(np.float32)) == 1
    return shrink(rgb.astype(np.float32)), np.where(complete, shrink(depth_m), np.float32(0))


class RgbdOdometry:
    """Aligns frames (source) to keyframes, frames or model raycasts (target)."""

    def __init__(self, config: OdometryConfig, K: Intrinsics, device):
        """``config``: with its automatic settings fixed for the depth (``OdometryConfig.for_depth``)."""
        if config.method == "auto" or config.depth_outlier_m is None:
            raise ValueError("RgbdOdometry needs OdometryConfig.for_depth(...): method or depth_outlier_m is automatic")
        o3d = open3d()
        odometry = o3d.t.pipelines.odometry
        self.config, self.device = config, device
        self.factor = f = math.ceil(K.width / config.max_width_px) if config.max_width_px else 1
        w, h = K.width // f, K.height // f  # block_mean drops the rows / columns that do not fill a block
        small = dataclasses.replace(K, width=w * f, height=h * f).rescaled(w, h)
        self.K = o3d.core.Tensor(small.matrix, o3d.core.float64)
        self.method = {"hybrid": odometry.Method.Hybrid, "intensity": odometry.Method.Intensity,
                       "point_to_plane": odometry.Method.PointToPlane}[config.method]
        self.criteria = [odometry.OdometryConvergenceCriteria(n) for n in config.iterations]
        self.loss = odometry.OdometryLossParams(depth_outlier_trunc=config.depth_outlier_m)

    def image(self, rgb: np.ndarray, depth_m: np.ndarray):
        """The Open3D RGB-D image that odometry aligns: the frame (H, W, 3) uint8 / (H, W) m, shrunk by
        ``self.factor`` (from ``config.max_width_px``)."""
        if self.factor > 1:
            rgb, depth_m = block_mean(rgb, depth_m, self.factor)
        return rgbd_image(rgb, depth_m, self.device)

    def motion_problem(self, prev_T_current: np.ndarray, predicted: np.ndarray | None, fitness: float = 1.0) -> str:
        """Why a per-frame motion is implausible ('' if it is not): too large, or too far from the
        constant-velocity prediction ``predicted`` (prev_T_current; None: no trusted prediction); below
        ``full_trust_fitness`` the bounds on the distance from the prediction shrink with the alignment's ``fitness``."""
        c = self.config
        if np.linalg.norm(prev_T_current[:3, 3]) > c.max_translation_m:
            return f"jump of {np.linalg.norm(prev_T_current[:3, 3]):.2f} m"
        if rotation_angle_deg(prev_T_current) > c.max_rotation_deg:
            return f"turn of {rotation_angle_deg(prev_T_current):.1f} deg"
        if predicted is None:
            return ""
        surprise = np.linalg.inv(predicted) @ prev_T_current
        trust = min(1.0, fitness / c.full_trust_fitness)  # a poor fit may only confirm the prediction
        if np.linalg.norm(surprise[:3, 3]) > c.max_prediction_error_m * trust:
            return f"{np.linalg.norm(surprise[:3, 3]):.2f} m off the constant-velocity prediction"
        if rotation_angle_deg(surprise) > c.max_prediction_error_deg * trust:
            return f"{rotation_angle_deg(surprise):.1f} deg off the constant-velocity prediction"
        return ""

    def track(self, source, target, init_prev_T_current: np.ndarray, check_motion: bool = True,
              trust_prediction: bool = True) -> TrackingResult:
        """Align ``source`` (current frame) to ``target``; ``check_motion``: apply the per-frame motion bounds,
        and with ``trust_prediction`` the bound on the distance from the prediction ``init_prev_T_current``."""
        o3d = open3d()
        c = self.config
        try:
            result = o3d.t.pipelines.odometry.rgbd_odometry_multi_scale(
                source, target, self.K, o3d.core.Tensor(init_prev_T_current, o3d.core.float64), 1.0, c.depth_max_m,
                self.criteria, self.method, self.loss)
        except RuntimeError as error:  # e.g. "Singular 6x6 linear system": no usable correspondences
            return TrackingResult(False, init_prev_T_current, 0.0, float("inf"), f"solver failed: {_message(error)}")
        T = result.transformation.cpu().numpy()
        fitness, rmse = float(result.fitness), float(result.inlier_rmse)
        reason = ""
        if not np.all(np.isfinite(T)):
            reason = "non-finite pose"
        elif fitness < c.min_fitness:
            reason = f"fitness {fitness:.2f} < {c.min_fitness}"
        elif rmse > c.max_inlier_rmse_m:
            reason = f"inlier RMSE {rmse:.3f} m > {c.max_inlier_rmse_m}"
        elif check_motion:
            reason = self.motion_problem(T, init_prev_T_current if trust_prediction else None, fitness)
        return TrackingResult(not reason, T if not reason else init_prev_T_current, fitness, rmse, reason)
