"""Simple 2-D polygons (room footprints): area and point-in-polygon. A polygon is (K, 2) float vertices in
order, not repeated at the end; coordinates in metres (any unit works)."""

from __future__ import annotations

import numpy as np


def polygon_area(polygon: np.ndarray) -> float:
    """Signed area (shoelace formula) of a (K, 2) polygon: positive when its vertices run counter-clockwise
    (x right, y up)."""
    p = np.asarray(polygon, np.float64)
    x, y = p[:, 0], p[:, 1]
    return float(0.5 * np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


def points_in_polygon(polygon: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(N,) bool: which of the (N, 2) points lie inside the (K, 2) polygon (even-odd rule; a point on a left
    or bottom edge counts as inside, on a right or top edge as outside, so polygons that tile the plane
    share no point)."""
    p = np.asarray(polygon, np.float64)
    xy = np.asarray(points, np.float64).reshape(-1, 2)
    x, y = xy[:, 0], xy[:, 1]
    inside = np.zeros(len(xy), bool)
    for (x0, y0), (x1, y1) in zip(p, np.roll(p, -1, axis=0)):
        crosses = (y0 > y) != (y1 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            at = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
        inside ^= crosses & (x < at)
    return inside
