"""Perception from a frame's ground truth (``--gt-perception``): isolates the back end from the network."""

from __future__ import annotations

import numpy as np

from m2h_slam.core.geometry import normals_from_depth
from m2h_slam.core.records import Frame, Prediction


def prediction_from_ground_truth(frame: Frame) -> Prediction:
    """A perfect ``Prediction`` from the frame's depth, semantics, normals and edges (confidence 1); normals from
    the depth when the source has none (ScanNet, Replica, TUM)."""
    if frame.depth_m is None:
        raise ValueError(f"frame {frame.index} has no ground-truth depth")
    h, w = frame.depth_m.shape
    semantics = frame.semantics if frame.semantics is not None else np.zeros((h, w), np.uint8)
    normals = frame.normals if frame.normals is not None else normals_from_depth(frame.depth_m, frame.intrinsics)
    edges = frame.edges.astype(np.float32) if frame.edges is not None else np.zeros((h, w), np.float32)
    return Prediction(frame.depth_m, semantics, np.ones((h, w), np.float32), normals, edges,
                      depth_source="measured")
