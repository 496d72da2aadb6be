"""Contact sheets: one row per frame, one column per kind (rgb, depth, semantics, normals, edges)."""

from __future__ import annotations

import cv2
import numpy as np

from m2h_slam.core.labels import colourize
from m2h_slam.core.records import Frame


def colourize_depth(depth_m: np.ndarray, max_m: float | None = None) -> np.ndarray:
    """(H, W, 3) uint8 RGB turbo colour map of depth; invalid (0) is black."""
    valid = depth_m > 0
    top = max_m or (float(depth_m[valid].max()) if valid.any() else 1.0)
    codes = np.clip(depth_m / top * 255, 0, 255).astype(np.uint8)
    rgb = cv2.applyColorMap(codes, cv2.COLORMAP_TURBO)[..., ::-1].copy()
    rgb[~valid] = 0
    return rgb


def colourize_normals(normals: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8: components mapped from [-1, 1] to [0, 255]; zero normals black."""
    rgb = np.clip((normals + 1.0) * 127.5, 0, 255).astype(np.uint8)
    rgb[np.all(normals == 0, axis=-1)] = 0
    return rgb


def frame_panels(frame: Frame) -> list[np.ndarray]:
    """The RGB image and a picture of each per-pixel ground truth the frame has."""
    panels = [frame.rgb]
    if frame.depth_m is not None:
        panels.append(colourize_depth(frame.depth_m))
    if frame.semantics is not None:
        panels.append(colourize(frame.semantics))
    if frame.normals is not None:
        panels.append(colourize_normals(frame.normals))
    if frame.edges is not None:
        panels.append(np.repeat(frame.edges[..., None] * np.uint8(255), 3, axis=2))
    return panels


def contact_sheet(frames: list[Frame], gap_px: int = 4) -> np.ndarray:
    """(H, W, 3) uint8 grid: a row per frame, a column per kind, white gaps."""
    rows = []
    for frame in frames:
        panels = frame_panels(frame)
        h = panels[0].shape[0]
        spacer = np.full((h, gap_px, 3), 255, np.uint8)
        rows.append(np.hstack([p for panel in panels for p in (panel, spacer)][:-1]))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    spacer = np.full((gap_px, width, 3), 255, np.uint8)
    return np.vstack([p for row in rows for p in (row, spacer)][:-1])
