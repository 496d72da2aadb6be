"""Connected segments of one class each, from a label image and a mask, in one labelling pass."""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage


def class_segments(labels: np.ndarray, mask: np.ndarray, min_pixels: int) -> list[tuple[int, np.ndarray]]:
    """(class id, (N,) flat pixel indices) of every 4-connected region of one class within ``mask`` that
    has at least ``min_pixels`` pixels. Pixels touching another class are left out, so that regions of
    different classes never join (and same-class regions never join through another class)."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not len(rows):
        return []
    top, left = rows[0], cols[0]  # work in the mask's bounding box (people are small)
    full_width = labels.shape[1]
    labels = labels[top:rows[-1] + 1, left:cols[-1] + 1]
    mask = mask[top:rows[-1] + 1, left:cols[-1] + 1]
    inner = mask.copy()
    right = labels[:, 1:] != labels[:, :-1]
    down = labels[1:] != labels[:-1]
    inner[:, 1:] &= ~right
    inner[:, :-1] &= ~right
    inner[1:] &= ~down
    inner[:-1] &= ~down
    components, count = ndimage.label(inner)
    if count == 0:
        return []
    flat = components.ravel()
    inside = np.flatnonzero(flat)
    order = inside[np.argsort(flat[inside], kind="stable")]  # pixel indices grouped by component
    sizes = np.bincount(flat[inside], minlength=count + 1)
    starts = np.concatenate([[0], np.cumsum(sizes[1:])])
    found = []
    for k in np.flatnonzero(sizes >= min_pixels):
        if k == 0:
            continue
        pixels = order[starts[k - 1]:starts[k]]
        r, c = np.divmod(pixels, labels.shape[1])
        found.append((int(labels.ravel()[pixels[0]]), (r + top) * full_width + c + left))
    return found


def class_mask(labels: np.ndarray, flags: np.ndarray) -> np.ndarray:
    """(H, W) bool: the class table's flag (``IS_OBJECT``, ...) of each pixel's label; labels outside the
    table are False (negative ones read class 0, unlabelled)."""
    if labels.dtype == np.uint8:  # the Prediction's type: a 256-entry lookup (OpenCV's LUT is the fastest)
        table = np.zeros(256, np.uint8)
        table[:len(flags)] = flags
        return cv2.LUT(labels, table).view(bool)
    return np.take(np.append(flags, False), labels, mode="clip")

