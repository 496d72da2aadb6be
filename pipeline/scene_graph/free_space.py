"""A 2D free-space map at standing height, from the TSDF in the gravity-aligned map frame.

A cell (``cell_m`` square, ``graph.free_space_cell_m``) is *occupied* where the map has a surface voxel
(|TSDF| below one voxel) between ``z_min_m`` and ``z_max_m`` above the floor (walls, furniture;
not the floor, not the ceiling), and *free* where it is not occupied and the map saw either the
floor below it or free space (TSDF +1) in that band, or it is a one-cell gap between such cells
(rays far from the camera fall apart). Everything else is unknown. Occupied
cells with vertical structure surfaces (walls, doors, windows: ``IS_WALL``, not floor or ceiling) of at least ``min_wall_m`` in
all (``graph.free_space_min_wall_m``; a few stray voxels of noisy depth are no wall) are also marked as
``walls``: rooms are the floor area the walls enclose, furniture included.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from m2h_slam.core.config import GraphConfig
from m2h_slam.core.labels import IS_STRUCTURE, class_id

FLOOR = class_id("floor")
#: (41,) bool: the classes that make a wall: vertical structure (a floor or ceiling surface in the band is an obstacle,
#: not a wall: a floor seen a few decimetres too high must not split a room)
IS_WALL = IS_STRUCTURE.copy()
IS_WALL[[FLOOR, class_id("ceiling")]] = False
_DEFAULTS = GraphConfig()


@dataclass(frozen=True)
class FreeSpaceMap:
    """free, occupied, walls, floor: (H, W) bool (floor: floor seen there), row = y, column = x;
    cell (0, 0) is centred at ``origin_xy`` (m)."""

    free: np.ndarray
    occupied: np.ndarray
    walls: np.ndarray
    floor: np.ndarray
    origin_xy: np.ndarray
    cell_m: float

    @property
    def seen(self) -> np.ndarray:
        """(H, W) bool: cells seen at all (free, floor or an obstacle)."""
        return self.free | self.floor | self.occupied

    def cells(self, xy: np.ndarray) -> np.ndarray:
        """(N, 2) int (row, column) of map-frame points (N, 2+) m; may lie outside the grid."""
        ij = np.rint((np.asarray(xy)[:, :2] - self.origin_xy) / self.cell_m).astype(np.int64)
        return ij[:, ::-1]

    def xy(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """(N, 2) map-frame centres (m) of cells."""
        return self.origin_xy + np.stack([cols, rows], axis=-1) * self.cell_m


def free_space_map(points: np.ndarray, tsdf: np.ndarray, labels: np.ndarray, voxel_m: float, truncation_m: float,
                   cell_m: float = _DEFAULTS.free_space_cell_m, z_min_m: float = _DEFAULTS.free_space_min_z_m,
                   z_max_m: float = _DEFAULTS.free_space_max_z_m,
                   min_wall_m: float = _DEFAULTS.free_space_min_wall_m) -> FreeSpaceMap:
    """Free space from observed voxels: positions (N, 3) in the map frame (z up, floor at 0), normalised
    TSDF (N,) in [-1, 1] (units of ``truncation_m``), NYU40 labels (N,) (0 where unknown); ``min_wall_m``: the
    wall voxels a cell needs to be wall, as a height (m)."""
    if not len(points):
        return FreeSpaceMap(*(np.zeros((1, 1), bool) for _ in range(4)), np.zeros(2), cell_m)
    lo, hi = points[:, :2].min(axis=0), points[:, :2].max(axis=0)
    shape = tuple((np.rint((hi - lo) / cell_m).astype(int) + 1)[::-1])
    grid = FreeSpaceMap(*(np.zeros(shape, bool) for _ in range(4)), lo, cell_m)
    rc = grid.cells(points)
    z = points[:, 2]
    band = (z >= z_min_m) & (z <= z_max_m)
    surface = np.abs(tsdf) * truncation_m < voxel_m
    occupied = band & surface
    floor = (labels == FLOOR) & surface & (np.abs(z) < z_min_m)
    seen_free = (band & (tsdf > 0.99)) | floor
    walls = occupied & IS_WALL[labels]
    grid.occupied[rc[occupied, 0], rc[occupied, 1]] = True
    count = np.bincount(rc[walls, 0] * shape[1] + rc[walls, 1], minlength=shape[0] * shape[1]).reshape(shape)
    grid.walls[...] = count >= max(1, round(min_wall_m / voxel_m))  # a few stray voxels are no wall
    grid.floor[rc[floor, 0], rc[floor, 1]] = True
    free = np.zeros(shape, bool)
    free[rc[seen_free, 0], rc[seen_free, 1]] = True
    free |= ndimage.binary_closing(free)  # one-cell gaps between rays far from the camera
    grid.free[...] = free & ~grid.occupied
    return grid
