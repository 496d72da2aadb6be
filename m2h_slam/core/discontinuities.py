"""Depth discontinuities: pixels on the border between a surface and what lies behind it (flying pixels).

One rule for fusion and the object layer, its threshold from ``FusionConfig.discontinuity_ratio`` (valid
depth: within ``depth_min_m`` .. ``depth_max_m`` for fusion, any measured depth for objects): a pixel with valid depth is a discontinuity when the depth of one of its
four neighbours (left, right, up, down) with valid depth differs from its own by more than ``ratio`` times its
own depth. Pixels without valid depth (0, NaN, out of range) neither are discontinuities nor make one: holes
are not jumps.

``is_discontinuity`` is the per-pixel form, plain Python that ``numba.njit`` compiles into the fusion
kernel (``pipeline.mapping.kernels``); ``depth_discontinuities`` is the same rule over a whole image in numpy.
"""

from __future__ import annotations

import numpy as np


def valid_depth(depth_m: np.ndarray, depth_min_m: float = 0.0, depth_max_m: float = np.inf) -> np.ndarray:
    """(H, W) bool: planar depth (m) that is measured (> 0, not NaN) and within [depth_min_m, depth_max_m]."""
    depth = np.asarray(depth_m)
    with np.errstate(invalid="ignore"):
        return (depth > 0) & (depth >= depth_min_m) & (depth <= depth_max_m)


def is_discontinuity(depth_m, valid, v, u, ratio):
    """Whether pixel (row v, column u) of (H, W) ``depth_m`` (m), valid itself, is a discontinuity;
    ``valid`` (H, W) bool or uint8: ``valid_depth`` of the image."""
    H, W = depth_m.shape
    d = depth_m[v, u]
    for dv, du in ((0, 1), (1, 0), (0, -1), (-1, 0)):
        vv, uu = v + dv, u + du
        if 0 <= vv < H and 0 <= uu < W and valid[vv, uu] and abs(depth_m[vv, uu] - d) > ratio * d:
            return True
    return False


def depth_discontinuities(depth_m: np.ndarray, ratio: float, depth_min_m: float = 0.0,
                          depth_max_m: float = np.inf) -> np.ndarray:
    """(H, W) bool: the discontinuities of a (H, W) planar depth image in metres (``is_discontinuity``
    at every pixel of valid depth)."""
    depth = np.asarray(depth_m, np.float32)
    valid = valid_depth(depth, depth_min_m, depth_max_m)
    limit = ratio * depth.astype(np.float64)
    jump = np.zeros(depth.shape, bool)
    pairs = valid[:, 1:] & valid[:, :-1]  # left-right neighbours, both valid
    step = np.abs(depth[:, 1:] - depth[:, :-1]).astype(np.float64)
    jump[:, :-1] |= pairs & (step > limit[:, :-1])
    jump[:, 1:] |= pairs & (step > limit[:, 1:])
    pairs = valid[1:] & valid[:-1]  # up-down
    step = np.abs(depth[1:] - depth[:-1]).astype(np.float64)
    jump[:-1] |= pairs & (step > limit[:-1])
    jump[1:] |= pairs & (step > limit[1:])
    return jump
