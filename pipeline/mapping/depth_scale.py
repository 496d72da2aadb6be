"""Per-frame depth scale against the map.

A network's depth is metric only roughly: its scale flickers by a few % from frame to frame, so frames fused as
they come disagree by centimetres at a few metres and blur the map. After a frame is placed, its depth is
compared with the map seen from the same pose (the TSDF raycast) on the pixels fusion would use (static,
away from edges), and scaled by the robust ratio: the median of map / frame depth, refined on the ratios within
``INLIER_BAND`` of it. The first frames set the map's scale; every later frame is brought to it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

INLIER_BAND = 0.1  # ratios within 10 % of the first median refine it


@dataclass(frozen=True)
class ScaleFit:
    """Multiply the frame's depth by ``scale`` to agree with the map; fitted on ``pixels`` pixels. ``error``: the
    median relative difference |scale * depth - map| / map over them, after the fit (how well the frame's shape
    agrees with the map, not only its scale)."""

    scale: float
    pixels: int
    error: float


def fit_depth_scale(depth_m: np.ndarray, map_depth_m: np.ndarray, min_pixels: int,
                    max_change: float) -> ScaleFit | None:
    """The robust scale of (H, W) ``depth_m`` onto (H, W) ``map_depth_m`` (m, 0 = none) over the pixels where
    both have depth; None with fewer than ``min_pixels`` of them, or a scale beyond ``1 / max_change`` ..
    ``max_change`` (then the map, not the frame, is more likely wrong there)."""
    both = (depth_m > 0) & (map_depth_m > 0)
    count = int(both.sum())
    if count < min_pixels:
        return None
    ratio = map_depth_m[both].astype(np.float64) / depth_m[both]
    scale = float(np.median(ratio))
    inliers = np.abs(ratio / scale - 1) <= INLIER_BAND
    if inliers.sum() >= min_pixels:
        scale = float(np.median(ratio[inliers]))
    if not 1 / max_change <= scale <= max_change:
        return None
    return ScaleFit(scale, count, float(np.median(np.abs(scale / ratio - 1))))
