"""Small real samples built from data that PyPI packages ship (nothing is downloaded).

``motorcycle``: the Middlebury 2014 "Motorcycle" stereo pair shipped by
scikit-image (quarter resolution), with metric depth from its disparity:
depth = f * B / (disparity + doffs).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from m2h_slam.core.intrinsics import Intrinsics
from m2h_slam.core.records import Frame
from m2h_slam.sources.sequence_folder import SequenceWriter

#: Calibration of scikit-image's stereo_motorcycle (Middlebury, quarter size).
MOTORCYCLE_FOCAL_PX = 994.978
MOTORCYCLE_CX_PX = 311.193
MOTORCYCLE_CY_PX = 254.877
MOTORCYCLE_BASELINE_M = 0.193001
MOTORCYCLE_DOFFS_PX = 31.086


def motorcycle_frame() -> Frame:
    """The left view with metric depth (0 where the disparity is unknown) and an identity pose."""
    from skimage import data

    left, _, disparity = data.stereo_motorcycle()
    height, width = disparity.shape
    K = Intrinsics(MOTORCYCLE_FOCAL_PX, MOTORCYCLE_FOCAL_PX, MOTORCYCLE_CX_PX, MOTORCYCLE_CY_PX, width, height)
    valid = np.isfinite(disparity) & (disparity > -MOTORCYCLE_DOFFS_PX)
    depth = np.zeros(disparity.shape, np.float32)
    depth[valid] = MOTORCYCLE_FOCAL_PX * MOTORCYCLE_BASELINE_M / (disparity[valid] + MOTORCYCLE_DOFFS_PX)
    return Frame(0, 0.0, np.ascontiguousarray(left), K, depth_m=depth, world_T_camera=np.eye(4))


SAMPLES = {"motorcycle": "real indoor RGB-D frame (Middlebury Motorcycle, scikit-image)"}


def write_sample(name: str, out: str | os.PathLike) -> Path:
    """Write the named sample as an m2h sequence folder at ``out``."""
    if name != "motorcycle":
        raise KeyError(f"unknown sample {name!r}; choose from {', '.join(SAMPLES)}")
    frame = motorcycle_frame()
    with SequenceWriter(out, frame.intrinsics, name="motorcycle") as writer:
        writer.write(frame)
    return Path(out)
