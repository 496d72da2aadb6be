"""Voxel addressing, written once for numpy and for compiled loops.

Two grids use it:

- the fusion grid (Open3D's VoxelBlockGrid): voxel (x, y, z) (integers; it samples the world point
  (x, y, z) * voxel size) lies in block (x, y, z) // R at local index (z' * R + y') * R + x', where
  (x', y', z') = (x, y, z) mod R and R is the block side in voxels;
- sparse voxel sets (object shapes): cell (x, y, z) (integers in [-2^20, 2^20)) packed into one int64
  key of three 21-bit fields, x highest, so that sets of cells are plain sorted int64 arrays.

The block functions use only integer arithmetic with Python's floor semantics, so they work on ints,
on numpy arrays and, compiled with ``numba.njit``, inside kernels (``pipeline.mapping.kernels``).
"""

from __future__ import annotations

import numpy as np

KEY_BITS = 21  # bits per axis of a packed key
KEY_BIAS = 1 << (KEY_BITS - 1)  # cells are stored offset by this, so every field is non-negative
_FIELD = (1 << KEY_BITS) - 1


def local_index(x, y, z, R):
    """Index (0..R^3 - 1) of voxel (x, y, z) (grid coordinates, any integers) inside its block of side R."""
    return ((z % R) * R + y % R) * R + x % R


def local_coords(local, R):
    """(x', y', z') in 0..R - 1 of a local index inside a block of side R (inverse of ``local_index``)."""
    return local % R, (local // R) % R, local // (R * R)


def block_of(x, y, z, R):
    """(bx, by, bz): the block of side R holding voxel (x, y, z)."""
    return x // R, y // R, z // R


def pack_keys(cells: np.ndarray) -> np.ndarray:
    """(K,) int64 keys of (K, 3) integer cells, each coordinate in [-2^20, 2^20)."""
    c = np.asarray(cells, np.int64).reshape(-1, 3) + KEY_BIAS
    return (c[:, 0] << (2 * KEY_BITS)) | (c[:, 1] << KEY_BITS) | c[:, 2]


def unpack_keys(keys: np.ndarray) -> np.ndarray:
    """(K, 3) int64 cells of (K,) packed keys (inverse of ``pack_keys``)."""
    k = np.asarray(keys, np.int64)
    return np.stack([k >> (2 * KEY_BITS), (k >> KEY_BITS) & _FIELD, k & _FIELD], axis=1) - KEY_BIAS


def key_steps(offsets: np.ndarray) -> np.ndarray:
    """(M,) int64 amounts that, added to a key, move its cell by each of the (M, 3) integer ``offsets``
    (valid while the moved cell stays in range: the fields never borrow)."""
    return pack_keys(offsets) - pack_keys(np.zeros((1, 3), np.int64))


def column_keys(keys: np.ndarray) -> np.ndarray:
    """(K,) int64 keys of the (x, y) columns of packed keys (the same for every z)."""
    return np.asarray(keys, np.int64) >> KEY_BITS
