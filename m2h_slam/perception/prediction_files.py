"""Writing a ``Prediction`` as image files: depth (16-bit mm + colour), semantic labels
and overlay, normals, edges, and a 2x2 preview with a legend (at most 1 MB)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from m2h_slam.core.labels import colourize
from m2h_slam.core.records import Prediction
from m2h_slam.formats import image_io
from m2h_slam.viz.contact_sheet import (
    MAX_WIDTH_PX,
    colourize_depth,
    colourize_normals,
    depth_top_m,
    tile_grid,
    with_legend,
    write_preview,
)

PANELS = ("depth_color", "overlay", "normals", "edges")
#: Name patterns of everything ``write_prediction`` writes.
PREDICTION_OUTPUTS = tuple(f"*_{kind}.png" for kind in ("depth", "semantics", *PANELS, "preview"))


def prediction_panels(rgb: np.ndarray, prediction: Prediction) -> dict[str, np.ndarray]:
    """Named RGB pictures of a prediction."""
    semantics = colourize(prediction.semantics)
    return {
        "depth_color": colourize_depth(prediction.depth_m),
        "overlay": (0.5 * rgb + 0.5 * semantics).astype(np.uint8),
        "normals": colourize_normals(prediction.normals),
        "edges": np.repeat((np.clip(prediction.edges, 0, 1) * 255).astype(np.uint8)[..., None], 3, axis=2),
    }


def write_prediction(out: str | os.PathLike, stem: str, rgb: np.ndarray, prediction: Prediction) -> None:
    """OUT/STEM_{depth,depth_color,semantics,overlay,normals,edges,preview}.png."""
    out = Path(out)
    panels = prediction_panels(rgb, prediction)
    image_io.write_depth(out / f"{stem}_depth.png", prediction.depth_m, 1000.0)
    image_io.write_labels(out / f"{stem}_semantics.png", prediction.semantics)
    for name, picture in panels.items():
        image_io.write_rgb(out / f"{stem}_{name}.png", picture)
    write_preview(out / f"{stem}_preview.png", lambda width_px: preview_sheet(panels, prediction, width_px))


def preview_sheet(panels: dict[str, np.ndarray], prediction: Prediction, max_width_px: int = MAX_WIDTH_PX
                  ) -> np.ndarray:
    """(H, W, 3) uint8: depth and overlay above normals and edges, at most ``max_width_px`` wide, with the
    legend below (depth colour bar in metres, the classes in ``prediction.semantics``)."""
    grid = tile_grid([[panels["depth_color"], panels["overlay"]], [panels["normals"], panels["edges"]]],
                     gap_px=4, max_width_px=max_width_px)
    return with_legend(grid, depth_top_m([prediction.depth_m]), np.unique(prediction.semantics).tolist(),
                       no_depth=not (prediction.depth_m > 0).all())
