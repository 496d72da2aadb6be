"""Contact sheets: one row per frame, one column per kind (rgb, depth, semantics, normals, edges), tiles
scaled so the sheet fits ``max_width_px``, and a legend below: the depth colour bar in metres and the
NYU40 classes shown."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

import cv2
import numpy as np

from m2h_slam.core.labels import NYU40, PALETTE, colourize
from m2h_slam.core.records import Frame
from m2h_slam.formats.image_io import write_png_within

#: Widest sheet (px) and largest preview file (bytes) the run and ``predict`` write.
MAX_WIDTH_PX = 1280
MAX_PREVIEW_BYTES = 1_000_000

_FONT, _SCALE = cv2.FONT_HERSHEY_SIMPLEX, 0.55  # text about 11 px high
_ROW_PX, _SWATCH_PX, _MARGIN_PX = 24, 16, 10
_LEGEND_MIN_WIDTH_PX = 480


def depth_top_m(depths: Iterable[np.ndarray | None]) -> float:
    """Far end (m) of the depth colour map shared by several (H, W) depth maps: their largest valid depth."""
    tops = [float(d.max()) for d in depths if d is not None and (d > 0).any()]
    return max(tops) if tops else 1.0


def colourize_depth(depth_m: np.ndarray, max_m: float | None = None) -> np.ndarray:
    """(H, W, 3) uint8 RGB turbo colour map of depth over [0, ``max_m``] m (default: its largest valid depth);
    invalid (0) is black."""
    valid = depth_m > 0
    top = max_m or depth_top_m([depth_m])
    codes = np.clip(depth_m / top * 255, 0, 255).astype(np.uint8)
    rgb = cv2.applyColorMap(codes, cv2.COLORMAP_TURBO)[..., ::-1].copy()
    rgb[~valid] = 0
    return rgb


def colourize_normals(normals: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8: components mapped from [-1, 1] to [0, 255]; zero normals black."""
    rgb = np.clip((normals + 1.0) * 127.5, 0, 255).astype(np.uint8)
    rgb[np.all(normals == 0, axis=-1)] = 0
    return rgb


def frame_panels(frame: Frame, depth_max_m: float | None = None) -> list[np.ndarray]:
    """The RGB image and a picture of each per-pixel ground truth the frame has (depth over [0, depth_max_m] m)."""
    panels = [frame.rgb]
    if frame.depth_m is not None:
        panels.append(colourize_depth(frame.depth_m, depth_max_m))
    if frame.semantics is not None:
        panels.append(colourize(frame.semantics))
    if frame.normals is not None:
        panels.append(colourize_normals(frame.normals))
    if frame.edges is not None:
        panels.append(np.repeat(frame.edges[..., None] * np.uint8(255), 3, axis=2))
    return panels


def contact_sheet(frames: list[Frame], gap_px: int = 4, max_width_px: int = MAX_WIDTH_PX,
                  legend: bool = True) -> np.ndarray:
    """(H, W, 3) uint8 grid: a row per frame, a column per kind, white gaps, at most ``max_width_px`` wide
    (tiles shrunk, never enlarged); below it the legend for the depth and semantics shown."""
    depths = [f.depth_m for f in frames]
    top = depth_top_m(depths) if any(d is not None for d in depths) else None
    grid = tile_grid([frame_panels(f, top) for f in frames], gap_px, max_width_px)
    if not legend:
        return grid
    labels = [f.semantics for f in frames if f.semantics is not None]
    classes = sorted(set().union(*(np.unique(s).tolist() for s in labels))) if labels else None
    no_depth = any(d is not None and not (d > 0).all() for d in depths)
    return with_legend(grid, top, classes, no_depth)


def tile_grid(rows: list[list[np.ndarray]], gap_px: int = 4, max_width_px: int | None = None) -> np.ndarray:
    """(H, W, 3) uint8: rows of RGB tiles side by side with white ``gap_px`` gaps, one scale for all tiles
    (area-averaged) so the widest row fits ``max_width_px``."""
    widths = [sum(t.shape[1] for t in row) for row in rows]
    gaps = [gap_px * (len(row) - 1) for row in rows]
    scale = 1.0
    if max_width_px is not None:
        scale = min([1.0] + [max(max_width_px - g, 1) / w for w, g in zip(widths, gaps)])
    if scale < 1.0:
        rows = [[cv2.resize(t, (max(1, int(t.shape[1] * scale)), max(1, int(t.shape[0] * scale))),
                            interpolation=cv2.INTER_AREA) for t in row] for row in rows]
    lines = []
    for row in rows:
        h = max(t.shape[0] for t in row)
        row = [np.pad(t, ((0, h - t.shape[0]), (0, 0), (0, 0)), constant_values=255) for t in row]
        spacer = np.full((h, gap_px, 3), 255, np.uint8)
        lines.append(np.hstack([p for tile in row for p in (tile, spacer)][:-1]))
    width = max(line.shape[1] for line in lines)
    lines = [np.pad(line, ((0, 0), (0, width - line.shape[1]), (0, 0)), constant_values=255) for line in lines]
    spacer = np.full((gap_px, width, 3), 255, np.uint8)
    return np.vstack([p for line in lines for p in (line, spacer)][:-1])


def with_legend(grid: np.ndarray, depth_max_m: float | None, class_ids: Iterable[int] | None,
                no_depth: bool = False) -> np.ndarray:
    """``grid`` (H, W, 3) uint8 with ``legend_panel`` below it (both padded white to the wider)."""
    if depth_max_m is None and not class_ids:
        return grid
    width = max(grid.shape[1], _LEGEND_MIN_WIDTH_PX)
    panel = legend_panel(width, depth_max_m, class_ids, no_depth)
    grid = np.pad(grid, ((0, 0), (0, width - grid.shape[1]), (0, 0)), constant_values=255)
    return np.vstack([grid, panel])


def legend_panel(width_px: int, depth_max_m: float | None, class_ids: Iterable[int] | None,
                 no_depth: bool = False) -> np.ndarray:
    """(H, width_px, 3) uint8 white panel: a turbo colour bar over [0, ``depth_max_m``] m with ticks in metres
    (and a black "no depth" swatch if ``no_depth``), then a swatch and name for each NYU40 id in ``class_ids``."""
    parts = []
    if depth_max_m is not None:
        parts.append(_depth_bar(width_px, depth_max_m, no_depth))
    if class_ids:
        parts.append(_class_rows(width_px, sorted({int(c) for c in class_ids})))
    panel = np.vstack(parts) if parts else np.zeros((0, width_px, 3), np.uint8)
    return np.pad(panel, ((0, _MARGIN_PX // 2), (0, 0), (0, 0)), constant_values=255)


def write_preview(path: str | os.PathLike, draw: Callable[[int], np.ndarray], max_bytes: int = MAX_PREVIEW_BYTES,
                  max_width_px: int = MAX_WIDTH_PX) -> Path:
    """Write ``draw(width_px)`` (an RGB sheet at most that wide) as a PNG of at most ``max_bytes``, drawing it
    narrower only when the file would be larger (the legend keeps its size)."""
    return write_png_within(path, draw, max_bytes, max_width_px)


def _text(image: np.ndarray, text: str, x: int, y: int) -> int:
    """Draw black ``text`` with its baseline at (x, y) px; the x just after it."""
    cv2.putText(image, text, (x, y), _FONT, _SCALE, (0, 0, 0), 1, cv2.LINE_AA)
    return x + cv2.getTextSize(text, _FONT, _SCALE, 1)[0][0]


def _depth_bar(width_px: int, top_m: float, no_depth: bool) -> np.ndarray:
    """White strip: "depth (m)", the turbo bar from 0 to ``top_m`` with labelled ticks, a "no depth" swatch."""
    strip = np.full((2 * _ROW_PX + _MARGIN_PX, width_px, 3), 255, np.uint8)
    y0 = _MARGIN_PX
    x0 = _text(strip, "depth (m)", _MARGIN_PX, y0 + _SWATCH_PX - 3) + _MARGIN_PX
    tail = _MARGIN_PX + (cv2.getTextSize("no depth", _FONT, _SCALE, 1)[0][0] + _SWATCH_PX + 3 * _MARGIN_PX
                         if no_depth else 0)
    bar_w = max(64, min(512, width_px - x0 - tail - _MARGIN_PX))
    codes = np.linspace(0, 255, bar_w).astype(np.uint8)[None, :]
    bar = cv2.applyColorMap(codes, cv2.COLORMAP_TURBO)[..., ::-1]
    strip[y0:y0 + _SWATCH_PX, x0:x0 + bar_w] = bar
    step = _tick_step(top_m)
    for tick in np.arange(0.0, top_m + 1e-9, step):
        x = x0 + round(tick / top_m * (bar_w - 1))
        strip[y0 + _SWATCH_PX:y0 + _SWATCH_PX + 4, x] = 0
        label = f"{tick:g}"
        w = cv2.getTextSize(label, _FONT, _SCALE, 1)[0][0]
        _text(strip, label, min(max(x - w // 2, 0), width_px - w), y0 + _SWATCH_PX + 20)
    if no_depth:
        x = x0 + bar_w + 3 * _MARGIN_PX
        strip[y0:y0 + _SWATCH_PX, x:x + _SWATCH_PX] = 0
        _text(strip, "no depth", x + _SWATCH_PX + 5, y0 + _SWATCH_PX - 3)
    return strip


def _tick_step(top_m: float, most: int = 8) -> float:
    """A round tick spacing (m) giving at most ``most`` intervals over [0, top_m]."""
    for step in (0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0, 20.0, 25.0, 50.0):
        if top_m / step <= most:
            return step
    return float(10 ** np.ceil(np.log10(top_m / most)))


def _class_rows(width_px: int, class_ids: list[int]) -> np.ndarray:
    """White block of class swatches (palette colour, black outline) with names, flowing left to right."""
    entries = [(c, NYU40[c].name if 0 <= c < len(NYU40) else f"id {c}") for c in class_ids]
    cell_w = max(cv2.getTextSize(name, _FONT, _SCALE, 1)[0][0] for _, name in entries) + _SWATCH_PX + 3 * _MARGIN_PX
    per_row = max(1, (width_px - _MARGIN_PX) // cell_w)
    n_rows = -(-len(entries) // per_row)
    block = np.full((n_rows * _ROW_PX + _MARGIN_PX, width_px, 3), 255, np.uint8)
    for k, (c, name) in enumerate(entries):
        x, y = _MARGIN_PX + (k % per_row) * cell_w, _MARGIN_PX + (k // per_row) * _ROW_PX
        block[y - 1:y + _SWATCH_PX + 1, x - 1:x + _SWATCH_PX + 1] = 0
        block[y:y + _SWATCH_PX, x:x + _SWATCH_PX] = PALETTE[c] if 0 <= c < len(PALETTE) else 0
        _text(block, name, x + _SWATCH_PX + 6, y + _SWATCH_PX - 3)
    return block
