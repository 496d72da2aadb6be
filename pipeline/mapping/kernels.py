"""Compiled per-pixel and per-voxel loops of fusion (numba; parallel over rows / blocks).

Voxel convention (Open3D's VoxelBlockGrid, so its mesh extraction reads our values): voxel
(x, y, z) samples the world point (x, y, z) * voxel size; its block and local index are those of
``m2h_slam.core.voxels`` (compiled here); a voxel projects to pixel (floor(u), floor(v)).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numba
import numpy as np
from numba import njit, prange

from m2h_slam.core import discontinuities, voxels

# OpenMP first: on 2 cores numba's own work queue was 2x slower here, and the TBB found
# beside Open3D is too old for numba (a warning on every run).
numba.config.THREADING_LAYER_PRIORITY = ["omp", "workqueue", "tbb"]

# The core functions the loops below use, compiled (and inlined into them). numba keys a cached kernel on
# this file alone: ``_forget_stale_kernels`` drops the cached kernels when the core modules change.
CORE_MODULES = (voxels, discontinuities)
local_index = njit(inline="always")(voxels.local_index)
local_coords = njit(inline="always")(voxels.local_coords)
block_of = njit(inline="always")(voxels.block_of)
is_discontinuity = njit(inline="always")(discontinuities.is_discontinuity)

# Why a pixel is not fused (codes of ``pixel_weights``' reason image).
FUSED, INVALID_DEPTH, DYNAMIC, EDGE, GRAZING = range(5)
REASONS = ("fused", "invalid_depth", "dynamic", "edges", "grazing")


@njit(parallel=True, cache=True, fastmath=True, nogil=True)
def pixel_weights(depth, valid, excluded, edges, normals, rays, edge_threshold, discontinuity_ratio, min_view_cos):
    """Fusion weight (H, W) float32 (|cos| of the view angle; 0 = not fused), the depth to fuse (H, W) float32
    (0 where not fused) and reason counts (5,) int64.

    depth (H, W) m (NaN allowed); valid (H, W) uint8, 1 = depth in range (``core.discontinuities.valid_depth``);
    excluded (H, W) uint8, 1 = dynamic / moving; edges (H, W) probability; normals (H, W, 3) camera frame;
    rays (H, W, 3) unit viewing rays. Discontinuities: ``core.discontinuities.is_discontinuity``.
    """
    H, W = depth.shape
    weight = np.zeros((H, W), np.float32)
    fused = np.zeros((H, W), np.float32)
    counts = np.zeros((H, 5), np.int64)
    for v in prange(H):
        for u in range(W):
            if not valid[v, u]:
                counts[v, INVALID_DEPTH] += 1
                continue
            if excluded[v, u]:
                counts[v, DYNAMIC] += 1
                continue
            if edges[v, u] > edge_threshold or is_discontinuity(depth, valid, v, u, discontinuity_ratio):
                counts[v, EDGE] += 1
                continue
            c = abs(rays[v, u, 0] * normals[v, u, 0] + rays[v, u, 1] * normals[v, u, 1] + rays[v, u, 2] * normals[v, u, 2])
            if c < min_view_cos:
                counts[v, GRAZING] += 1
                continue
            weight[v, u] = c
            fused[v, u] = depth[v, u]
            counts[v, FUSED] += 1
    return weight, fused, counts.sum(axis=0)


@njit(parallel=True, cache=True, fastmath=True, nogil=True)
def touched_blocks(depth, fx, fy, cx, cy, world_T_camera, block_size, truncation, depth_max, stride):
    """(N, 3) int32 unique coordinates of the blocks (``block_size`` m) within ``truncation`` m of the surface seen
    at every ``stride``-th pixel of planar depth (H, W) m (0 = none): four samples along each ray, from depth -
    truncation to depth + truncation, as Open3D's ``compute_unique_block_coordinates`` takes them; ordered by
    coordinates."""
    H, W = depth.shape
    rows, cols = H // stride, W // stride
    samples = np.zeros((rows * cols * 4, 3), np.int32)
    taken = np.zeros(rows * cols, np.bool_)
    for r in prange(rows):
        v = r * stride
        for c in range(cols):
            u = c * stride
            d = depth[v, u]
            if not (d > 0 and d < depth_max):
                continue
            i = r * cols + c
            taken[i] = True
            xc, yc = (u - cx) / fx, (v - cy) / fy
            dx = world_T_camera[0, 0] * xc + world_T_camera[0, 1] * yc + world_T_camera[0, 2]
            dy = world_T_camera[1, 0] * xc + world_T_camera[1, 1] * yc + world_T_camera[1, 2]
            dz = world_T_camera[2, 0] * xc + world_T_camera[2, 1] * yc + world_T_camera[2, 2]
            t_min, t_max = max(d - truncation, 0.0), min(d + truncation, depth_max)
            for k in range(4):
                t = t_min + k * (t_max - t_min) / 3
                samples[4 * i + k, 0] = int(np.floor((world_T_camera[0, 3] + t * dx) / block_size))
                samples[4 * i + k, 1] = int(np.floor((world_T_camera[1, 3] + t * dy) / block_size))
                samples[4 * i + k, 2] = int(np.floor((world_T_camera[2, 3] + t * dz) / block_size))
    low = np.full(3, 2**30, np.int64)
    high = np.full(3, -(2**30), np.int64)
    for i in range(rows * cols):
        if taken[i]:
            for k in range(4 * i, 4 * i + 4):
                for a in range(3):
                    low[a] = min(low[a], samples[k, a])
                    high[a] = max(high[a], samples[k, a])
    if low[0] > high[0]:
        return np.zeros((0, 3), np.int32)
    mark = np.zeros((high[0] - low[0] + 1, high[1] - low[1] + 1, high[2] - low[2] + 1), np.bool_)
    for i in range(rows * cols):
        if taken[i]:
            for k in range(4 * i, 4 * i + 4):
                mark[samples[k, 0] - low[0], samples[k, 1] - low[1], samples[k, 2] - low[2]] = True
    out = np.empty((mark.sum(), 3), np.int32)
    n = 0
    for x in range(mark.shape[0]):
        for y in range(mark.shape[1]):
            for z in range(mark.shape[2]):
                if mark[x, y, z]:
                    out[n, 0], out[n, 1], out[n, 2] = x + low[0], y + low[1], z + low[2]
                    n += 1
    return out


@njit(parallel=True, cache=True, fastmath=True, nogil=True)
def integrate_blocks(buf, keys, R, voxel_size, camera_T_world, world_R_camera, fx, fy, cx, cy, depth, weight, rgb,
                     semantics, confidence, normals, truncation, semantic_band,
                     tsdf, tsdf_weight, color, label, label_weight, evidence, normal_sum):
    """Fuse one frame into the blocks at buffer indices ``buf`` (N,) with keys (N, 3).

    depth (H, W) m, 0 = not fused; weight (H, W) per-pixel fusion weight; rgb (H, W, 3)
    uint8; semantics (H, W) class, confidence (H, W); normals (H, W, 3) camera frame.
    Voxel arrays are the grid's, flat per voxel: tsdf, tsdf_weight, label_weight, evidence
    (V,), color, normal_sum (V, 3), label (V,) uint8. Weighted running means for TSDF and
    colour; voxels within ``semantic_band`` m of the surface also get a class vote (the same
    class adds weight x confidence, another subtracts it and takes over below zero), the
    evidence total (confidence = vote weight / evidence) and a weighted world-normal sum.
    Returns the number of voxels updated.
    """
    H, W = depth.shape
    R3 = R * R * R
    updated = np.zeros(len(buf), np.int64)
    step = camera_T_world[:3, 0] * voxel_size  # camera-frame step from one voxel to the next along x
    for i in prange(len(buf)):
        base = buf[i] * R3
        x = keys[i, 0] * R * voxel_size
        for row in range(R * R):  # rows of R voxels along x: transform the first, step to the others
            y = (keys[i, 1] * R + row % R) * voxel_size
            z = (keys[i, 2] * R + row // R) * voxel_size
            x0 = camera_T_world[0, 0] * x + camera_T_world[0, 1] * y + camera_T_world[0, 2] * z + camera_T_world[0, 3]
            y0 = camera_T_world[1, 0] * x + camera_T_world[1, 1] * y + camera_T_world[1, 2] * z + camera_T_world[1, 3]
            z0 = camera_T_world[2, 0] * x + camera_T_world[2, 1] * y + camera_T_world[2, 2] * z + camera_T_world[2, 3]
            for lx in range(R):
                zc = z0 + lx * step[2]
                if zc <= 0:
                    continue
                u = fx * (x0 + lx * step[0]) / zc + cx
                v = fy * (y0 + lx * step[1]) / zc + cy
                if not (u >= 0 and v >= 0 and u <= W - 1 and v <= H - 1):
                    continue
                ui, vi = int(u), int(v)
                d = depth[vi, ui]
                sdf = d - zc
                if d <= 0 or sdf < -truncation:
                    continue
                w = weight[vi, ui]
                j = base + row * R + lx
                old = tsdf_weight[j]
                total = old + w
                tsdf[j] = (old * tsdf[j] + w * min(sdf, truncation) / truncation) / total
                for c in range(3):
                    color[j, c] = (old * color[j, c] + w * rgb[vi, ui, c]) / total
                tsdf_weight[j] = total
                updated[i] += 1
                if abs(sdf) > semantic_band:
                    continue
                s = w * confidence[vi, ui]
                cls = semantics[vi, ui]
                if label[j] == cls:
                    label_weight[j] += s
                elif label_weight[j] >= s:
                    label_weight[j] -= s
                else:
                    label[j] = cls
                    label_weight[j] = s - label_weight[j]
                evidence[j] += s
                for c in range(3):
                    normal_sum[j, c] += s * (world_R_camera[c, 0] * normals[vi, ui, 0]
                                             + world_R_camera[c, 1] * normals[vi, ui, 1]
                                             + world_R_camera[c, 2] * normals[vi, ui, 2])
    return updated.sum()


@njit(parallel=True, cache=True, fastmath=True, nogil=True)
def raycast_blocks(index, origin, R, voxel_size, tsdf, tsdf_weight, color, world_T_camera, fx, fy, cx, cy, H, W,
                   depth_min, depth_max, truncation):
    """Depth (H, W) m (0 = no surface) and colour (H, W, 3) in [0, 1] of the map seen from a camera.

    index (X, Y, Z) int64: buffer index of block (origin + (x, y, z)), -1 where none. Each ray
    marches from depth_min in steps of the TSDF value (at least one voxel; a block where none
    is allocated) until the TSDF changes sign from + to - in observed voxels; the crossing is
    interpolated. Depth is planar (the ray direction has z = 1 in the camera).
    """
    depth = np.zeros((H, W), np.float32)
    rgb = np.zeros((H, W, 3), np.float32)
    R3 = R * R * R
    block_size = R * voxel_size
    for v in prange(H):
        for u in range(W):
            xc, yc = (u - cx) / fx, (v - cy) / fy
            dx = world_T_camera[0, 0] * xc + world_T_camera[0, 1] * yc + world_T_camera[0, 2]
            dy = world_T_camera[1, 0] * xc + world_T_camera[1, 1] * yc + world_T_camera[1, 2]
            dz = world_T_camera[2, 0] * xc + world_T_camera[2, 1] * yc + world_T_camera[2, 2]
            t = depth_min
            previous_t, previous_value = -1.0, 0.0
            while t < depth_max:
                x = world_T_camera[0, 3] + t * dx
                y = world_T_camera[1, 3] + t * dy
                z = world_T_camera[2, 3] + t * dz
                vx, vy, vz = int(np.rint(x / voxel_size)), int(np.rint(y / voxel_size)), int(np.rint(z / voxel_size))
                bx, by, bz = block_of(vx, vy, vz, R)
                bx, by, bz = bx - origin[0], by - origin[1], bz - origin[2]
                if not (0 <= bx < index.shape[0] and 0 <= by < index.shape[1] and 0 <= bz < index.shape[2]) \
                        or index[bx, by, bz] < 0:
                    previous_t = -1.0
                    t += block_size * 0.5
                    continue
                j = index[bx, by, bz] * R3 + local_index(vx, vy, vz, R)
                if tsdf_weight[j] <= 0:
                    previous_t = -1.0
                    t += voxel_size
                    continue
                value = tsdf[j]
                if previous_t >= 0 and previous_value > 0 and value <= 0:
                    hit = previous_t + (t - previous_t) * previous_value / (previous_value - value)
                    depth[v, u] = hit
                    for c in range(3):
                        rgb[v, u, c] = color[j, c] / 255.0
                    break
                previous_t, previous_value = t, value
                t += max(voxel_size, 0.8 * value * truncation)
    return depth, rgb


def _forget_stale_kernels(kernels) -> None:
    """Flush the numba caches of ``kernels`` unless a stamp of the ``CORE_MODULES`` sources they were compiled
    with lies beside them (written after the flush)."""
    source = b"".join(Path(module.__file__).read_bytes() for module in CORE_MODULES)
    folder = getattr(getattr(kernels[0], "_cache", None), "cache_path", None)
    if not folder:
        return  # caching is off
    stamp = Path(folder) / f"kernels-core-{hashlib.sha1(source).hexdigest()[:16]}.stamp"
    if stamp.exists():
        return
    try:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        for kernel in kernels:
            kernel._cache.flush()
        for old in stamp.parent.glob("kernels-core-*.stamp"):
            old.unlink(missing_ok=True)
        stamp.touch()
    except OSError:  # a read-only cache folder: numba does not write there either
        pass


_forget_stale_kernels([pixel_weights, touched_blocks, integrate_blocks, raycast_blocks])
