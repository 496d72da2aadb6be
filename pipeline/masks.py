"""Which pixels may enter the map: valid depth in range, not a dynamic class (dilated),
not on a predicted edge or a depth discontinuity (flying pixels), not seen at a grazing
angle. Also the per-pixel evidence weight for semantics (cosine of the view angle)."""

from __future__ import annotations

import functools

import cv2
import numpy as np

from m2h_slam.core.config import FusionConfig
from m2h_slam.core.intrinsics import Intrinsics
from m2h_slam.core.labels import IS_DYNAMIC
from m2h_slam.core.records import Prediction


def dynamic_mask(semantics: np.ndarray, dilation_px: int) -> np.ndarray:
    """(H, W) bool: pixels of dynamic classes (people), grown by ``dilation_px``."""
    mask = IS_DYNAMIC[semantics].astype(np.uint8)
    if dilation_px > 0 and mask.any():
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilation_px + 1, 2 * dilation_px + 1))
        mask = cv2.dilate(mask, kernel)
    return mask.astype(bool)


def discontinuity_mask(depth_m: np.ndarray, ratio: float) -> np.ndarray:
    """(H, W) bool: pixels whose 3x3 neighbourhood spans a relative depth jump above ``ratio`` (depth 0 = invalid)."""
    filled = np.asarray(depth_m, np.float32)
    high = cv2.dilate(filled, np.ones((3, 3), np.uint8))
    low = cv2.erode(np.where(filled > 0, filled, np.float32(1e6)), np.ones((3, 3), np.uint8))
    return (high - low) > ratio * np.maximum(filled, 1e-6)


@functools.lru_cache(maxsize=8)
def _unit_rays(K: Intrinsics) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Components (H, W) of each pixel's unit viewing ray, computed once per camera."""
    u, v = np.meshgrid(np.arange(K.width, dtype=np.float32), np.arange(K.height, dtype=np.float32))
    x, y = (u - K.cx) / K.fx, (v - K.cy) / K.fy
    inverse_length = 1.0 / np.sqrt(x * x + y * y + 1.0)
    return x * inverse_length, y * inverse_length, inverse_length


def view_cosine(normals: np.ndarray, K: Intrinsics) -> np.ndarray:
    """(H, W) |cos| of the angle between each pixel's ray and its (camera-frame) normal."""
    rx, ry, rz = _unit_rays(K)
    return np.abs(rx * normals[..., 0] + ry * normals[..., 1] + rz * normals[..., 2])


def fusion_mask(prediction: Prediction, K: Intrinsics, config: FusionConfig,
                extra: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """(mask of pixels to fuse, view cosine, pixel counts removed by each reason)."""
    depth = prediction.depth_m
    valid = np.isfinite(depth) & (depth >= config.depth_min_m) & (depth <= config.depth_max_m)
    dynamic = dynamic_mask(prediction.semantics, config.dynamic_dilation_px)
    if extra is not None:
        dynamic |= extra
    flying = (prediction.edges > config.edge_threshold) | discontinuity_mask(np.where(valid, depth, 0), config.discontinuity_ratio)
    cosine = view_cosine(prediction.normals, K)
    grazing = cosine < config.min_view_cos
    mask = valid & ~dynamic & ~flying & ~grazing
    counts = {"invalid_depth": int((~valid).sum()), "dynamic": int((valid & dynamic).sum()),
              "edges": int((valid & ~dynamic & flying).sum()), "grazing": int((valid & ~dynamic & ~flying & grazing).sum())}
    return mask, cosine, counts
