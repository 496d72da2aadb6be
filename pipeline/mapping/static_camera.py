"""A camera that does not move: most of the image unchanged since the last measured pose, people masked out.

Odometry on predicted depth drifts even when the camera stands still (a tripod over a street, a parked robot):
each frame's depth differs a little and the photometric alignment follows people walking. Before odometry, the
frame is compared with the anchor, the frame whose pose was last measured: on its textured pixels (where any
motion changes the intensity) outside the dynamic classes, the share still within ``MAX_DIFF`` grey levels. When
that share is at least ``min_share`` the pose is held. Comparing with the anchor, not the previous frame, means
a slow pan is caught once it adds up to a pixel, and odometry then measures the whole motion.
"""

from __future__ import annotations

import cv2
import numpy as np

from m2h_slam.core.labels import IS_DYNAMIC

MAX_DIFF = 6.0  # grey levels (0-255) after a 3x3 blur: noise and compression, not motion
MIN_GRADIENT = 3.0  # grey levels per pixel: where a shift of a pixel changes the intensity by more than noise
MIN_TEXTURED_SHARE = 0.02  # fewer textured pixels than this share of the image: no judgement (odometry decides)


def grey(rgb: np.ndarray) -> np.ndarray:
    """(H, W) float32 grey levels of (H, W, 3) uint8 RGB, blurred 3x3 against pixel noise."""
    return cv2.blur(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32), (3, 3))


def unchanged_share(anchor: np.ndarray, current: np.ndarray, semantics: np.ndarray) -> float | None:
    """Share of the anchor's textured, static pixels that ``current`` shows unchanged (both (H, W) from ``grey``;
    ``semantics`` (H, W) NYU40 of the current frame, whose dynamic classes are left out, grown by a few pixels);
    None when too few pixels are textured to tell."""
    gx, gy = cv2.Sobel(anchor, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(anchor, cv2.CV_32F, 0, 1, ksize=3)
    textured = np.hypot(gx, gy) / 8 > MIN_GRADIENT  # 3x3 Sobel of a ramp of g levels per pixel is 8 g
    dynamic = IS_DYNAMIC[semantics].astype(np.uint8)
    textured &= cv2.dilate(dynamic, np.ones((9, 9), np.uint8)) == 0
    if textured.sum() < MIN_TEXTURED_SHARE * anchor.size:
        return None
    return float((np.abs(current[textured] - anchor[textured]) <= MAX_DIFF).mean())


class StaticCamera:
    """Tells whether a frame shows the anchor's view unchanged (``min_share`` of its textured static pixels)."""

    def __init__(self, min_share: float):
        self.min_share = min_share
        self.anchor: np.ndarray | None = None  # (H, W) float32 grey of the frame whose pose was last measured

    def still(self, rgb: np.ndarray, semantics: np.ndarray) -> bool:
        """Whether the camera has not moved since the anchor (False without an anchor or of another size)."""
        if self.anchor is None or self.anchor.shape != rgb.shape[:2]:
            return False
        share = unchanged_share(self.anchor, grey(rgb), semantics)
        return share is not None and share >= self.min_share

    def anchor_at(self, rgb: np.ndarray) -> None:
        """This frame's pose was measured: later frames are compared with it."""
        self.anchor = grey(rgb)
