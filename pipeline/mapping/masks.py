"""Which pixels may enter the map, and with what weight: valid depth in range, not a
dynamic class (dilated) or moving object, not on a predicted edge or a depth
discontinuity (flying pixels), not seen at a grazing angle; weight = |cos| of the angle
between the pixel's ray and its predicted normal."""

from __future__ import annotations

import functools

import cv2
import numpy as np

from m2h_slam.core import geometry
from m2h_slam.core.config import FusionConfig
from m2h_slam.core.discontinuities import valid_depth
from m2h_slam.core.intrinsics import Intrinsics
from m2h_slam.core.labels import IS_DYNAMIC
from m2h_slam.core.records import Prediction
from pipeline.mapping.kernels import REASONS, pixel_weights

_DYNAMIC_LUT = np.zeros(256, np.uint8)
_DYNAMIC_LUT[: len(IS_DYNAMIC)] = IS_DYNAMIC


def dynamic_mask(semantics: np.ndarray, dilation_px: int) -> np.ndarray:
    """(H, W) bool: pixels of dynamic classes (people), grown by ``dilation_px``."""
    mask = cv2.LUT(np.ascontiguousarray(semantics, np.uint8), _DYNAMIC_LUT)
    if dilation_px > 0 and mask.any():
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilation_px + 1, 2 * dilation_px + 1))
        mask = cv2.dilate(mask, kernel)
    return mask.view(bool)


@functools.lru_cache(maxsize=8)
def unit_rays(K: Intrinsics) -> np.ndarray:
    """(H, W, 3) float32 unit viewing ray of each pixel, computed once per camera."""
    rays = geometry.unit_rays(K, np.float32)
    rays.setflags(write=False)
    return rays


def fusion_mask(prediction: Prediction, K: Intrinsics, config: FusionConfig,
                extra: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """(masked depth (H, W) m: 0 where not fused, fusion weight (H, W) = view cosine there, pixel counts
    removed by each reason). ``extra`` (H, W) bool: further pixels to exclude (moving objects)."""
    excluded = dynamic_mask(prediction.semantics, config.dynamic_dilation_px)
    if extra is not None:
        excluded |= extra
    depth = np.ascontiguousarray(prediction.depth_m, np.float32)
    valid = valid_depth(depth, config.depth_min_m, config.depth_max_m)
    weight, masked, counts = pixel_weights(depth, valid.view(np.uint8), excluded.view(np.uint8),
                                           np.ascontiguousarray(prediction.edges, np.float32),
                                           np.ascontiguousarray(prediction.normals, np.float32), unit_rays(K),
                                           config.edge_threshold, config.discontinuity_ratio, config.min_view_cos)
    return masked, weight, {name: int(n) for name, n in zip(REASONS[1:], counts[1:])}
