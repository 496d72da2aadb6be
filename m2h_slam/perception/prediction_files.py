"""Writing a ``Prediction`` as image files: depth (16-bit mm + colour), semantic labels
and overlay, normals, edges, and a 2x2 preview."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from m2h_slam.core.labels import colourize
from m2h_slam.core.records import Prediction
from m2h_slam.formats import image_io
from m2h_slam.viz.contact_sheet import colourize_depth, colourize_normals

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
    top = np.hstack([panels["depth_color"], panels["overlay"]])
    bottom = np.hstack([panels["normals"], panels["edges"]])
    image_io.write_rgb(out / f"{stem}_preview.png", np.vstack([top, bottom]))
