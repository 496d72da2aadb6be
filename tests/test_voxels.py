"""The one voxel codec: numpy and compiled (numba) give the same addresses, and every code inverts."""

import numpy as np
import pytest
from numba import njit

from m2h_slam.core import voxels
from pipeline.mapping.kernels import block_of, local_coords, local_index


@njit(cache=False)
def _compiled(coords, R):
    """Block, local index and local coordinates of each voxel through the kernels' compiled codec."""
    out = np.empty((len(coords), 7), np.int64)
    for i in range(len(coords)):
        x, y, z = coords[i, 0], coords[i, 1], coords[i, 2]
        bx, by, bz = block_of(x, y, z, R)
        local = local_index(x, y, z, R)
        lx, ly, lz = local_coords(local, R)
        out[i] = (bx, by, bz, local, lx, ly, lz)
    return out


@pytest.mark.parametrize("R", [2, 8, 16])
def test_block_codec_round_trips_alike_in_numpy_and_numba(R):
    coords = np.random.default_rng(R).integers(-5 * R, 5 * R, (500, 3))
    coords[:3] = [[0, 0, 0], [-1, -1, -1], [R - 1, R, -R]]
    block = np.stack(voxels.block_of(*coords.T, R), axis=1)
    local = voxels.local_index(*coords.T, R)
    inside = np.stack(voxels.local_coords(local, R), axis=1)
    assert np.array_equal(block * R + inside, coords)  # block and local index give the voxel back
    assert local.min() >= 0 and local.max() < R**3 and inside.min() >= 0 and inside.max() < R
    assert np.array_equal(local, (inside[:, 2] * R + inside[:, 1]) * R + inside[:, 0])  # Open3D's order: x fastest
    assert np.array_equal(_compiled(coords, R), np.column_stack([block, local, inside]))
    assert voxels.local_index(-1, -1, -1, R) == R**3 - 1 and voxels.block_of(-1, 0, R, R) == (-1, 0, 1)


def test_packed_keys_round_trip_and_step():
    cells = np.random.default_rng(0).integers(-(1 << 20), 1 << 20, (1000, 3))
    keys = voxels.pack_keys(cells)
    assert keys.dtype == np.int64 and np.array_equal(voxels.unpack_keys(keys), cells)
    # keys sort as (x, y, z) tuples, and a column key is the same for every z
    order = np.lexsort(cells.T[::-1])
    assert np.array_equal(np.argsort(keys, kind="stable"), order)
    columns = voxels.column_keys(voxels.pack_keys([[3, -4, -7], [3, -4, 100], [3, -3, -7]]))
    assert columns[0] == columns[1] != columns[2]
    offsets = np.array([[1, 0, 0], [0, -1, 0], [0, 0, 2], [-2, 2, -1]])
    inner = cells[np.all(np.abs(cells) < (1 << 20) - 2, axis=1)]
    moved = voxels.pack_keys(inner)[:, None] + voxels.key_steps(offsets)[None]
    assert np.array_equal(voxels.unpack_keys(moved.ravel()).reshape(-1, 4, 3), inner[:, None] + offsets[None])
