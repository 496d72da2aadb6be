"""Per-pixel classes and their confidence at the image size, from class probabilities at the network's size.

The probabilities are resized bilinearly (half-pixel centres, edges clamped: OpenCV's ``INTER_LINEAR`` and torch's
``align_corners=False``) and their argmax and maximum taken, in one compiled pass that never holds the resized
(H, W, classes) array: on 41 classes at 320 x 240 it replaces a resize, an argmax and a gather that cost 9 ms a frame
on the thread that runs the network.
"""

from __future__ import annotations

import numpy as np
from numba import njit


def upsampled_classes(probabilities: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(C, h, w) float32 class probabilities -> (semantics (H, W) uint8: the most probable class of the bilinearly
    resized probabilities, the lowest index on ties; confidence (H, W) float32: its probability). ``size``: (H, W)."""
    probabilities = np.ascontiguousarray(probabilities, dtype=np.float32)
    height, width = size
    rows, row_weights = _taps(probabilities.shape[1], height)
    cols, col_weights = _taps(probabilities.shape[2], width)
    return _argmax_resized(probabilities, rows, row_weights, cols, col_weights)


def _taps(source: int, target: int) -> tuple[np.ndarray, np.ndarray]:
    """For each of ``target`` output samples: the two source indices (target, 2) int64 it blends and the weight
    (target,) float32 of the second (half-pixel centres; outside the source the edge sample)."""
    position = (np.arange(target) + 0.5) * (source / target) - 0.5
    first = np.floor(position).astype(np.int64)
    weight = (position - first).astype(np.float32)
    weight[first < 0] = 0.0
    first = np.clip(first, 0, source - 1)
    weight[first >= source - 1] = 0.0
    return np.stack([first, np.minimum(first + 1, source - 1)], axis=1), weight


@njit(cache=True, nogil=True, fastmath=True)
def _argmax_resized(probabilities, rows, row_weights, cols, col_weights):
    """Separable: each class plane is blended along its rows to the output width, then its output rows are blended
    from those and compared with the best so far (contiguous loops that the compiler vectorises)."""
    classes, source_rows = probabilities.shape[0], probabilities.shape[1]
    height, width = rows.shape[0], cols.shape[0]
    semantics = np.zeros((height, width), np.uint8)
    confidence = np.full((height, width), -1.0, np.float32)
    wide = np.empty((source_rows, width), np.float32)
    for c in range(classes):
        plane = probabilities[c]
        for r in range(source_rows):
            line = plane[r]
            for x in range(width):
                left = line[cols[x, 0]]
                wide[r, x] = left + col_weights[x] * (line[cols[x, 1]] - left)
        for y in range(height):
            top, bottom, fy = wide[rows[y, 0]], wide[rows[y, 1]], row_weights[y]
            best, label = confidence[y], semantics[y]
            for x in range(width):
                value = top[x] + fy * (bottom[x] - top[x])
                better = value > best[x]
                best[x] = value if better else best[x]
                label[x] = c if better else label[x]
    return semantics, confidence
