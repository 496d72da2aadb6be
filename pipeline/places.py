"""Places: a sparse graph over the free space, with clearance per node (as Hydra's places layer).

The free-space map is cut into tiles of ``spacing_m``; in each tile the free cell farthest from
any obstacle or unknown cell (at least ``min_clearance_m``) becomes a place, so places follow the
middle of rooms and corridors (the generalised Voronoi diagram's ridge). Places in neighbouring
tiles (8-neighbourhood) are joined when the straight segment between them runs through free
cells only. Parts of the graph left apart by space never seen (a room seen through a door: the map
knows free space only near surfaces) are then joined by their closest pair of places within three
tiles whose segment crosses no obstacle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from pipeline.free_space import FreeSpaceMap


@dataclass(frozen=True)
class Places:
    """positions (P, 2) m in the map frame, clearance (P,) m, edges (E, 2) indices into positions,
    cells (P, 2) (row, col) in the free-space grid."""

    positions: np.ndarray
    clearance_m: np.ndarray
    edges: np.ndarray
    cells: np.ndarray


def find_places(space: FreeSpaceMap, spacing_m: float = 0.5, min_clearance_m: float = 0.2) -> Places:
    clearance = ndimage.distance_transform_edt(space.free) * space.cell_m
    tile = max(1, int(round(spacing_m / space.cell_m)))
    rows, cols = space.free.shape
    picks: dict[tuple[int, int], tuple[int, int]] = {}
    for tr in range(0, rows, tile):
        for tc in range(0, cols, tile):
            block = clearance[tr:tr + tile, tc:tc + tile]
            k = int(np.argmax(block))
            r, c = divmod(k, block.shape[1])
            if block[r, c] >= min_clearance_m:
                picks[(tr // tile, tc // tile)] = (tr + r, tc + c)
    keys = sorted(picks)
    index = {key: k for k, key in enumerate(keys)}
    cells = np.array([picks[key] for key in keys], np.int64).reshape(-1, 2)
    edges = []
    for key in keys:
        for d in ((0, 1), (1, -1), (1, 0), (1, 1)):  # each neighbour pair once
            other = (key[0] + d[0], key[1] + d[1])
            if other in index and _line_free(space.free, picks[key], picks[other]):
                edges.append((index[key], index[other]))
    edges += _bridges(~space.occupied, cells, edges, 3 * tile)
    positions = space.xy(cells[:, 0], cells[:, 1]) if len(cells) else np.zeros((0, 2))
    return Places(positions, clearance[cells[:, 0], cells[:, 1]] if len(cells) else np.zeros(0),
                  np.array(edges, np.int64).reshape(-1, 2), cells)


def _bridges(passable: np.ndarray, cells: np.ndarray, edges: list, reach: int) -> list[tuple[int, int]]:
    """Edges that join separate parts of the graph: closest pairs first, within ``reach`` cells, segments
    through ``passable`` cells."""
    from scipy.spatial import cKDTree

    parent = list(range(len(cells)))

    def root(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for a, b in edges:
        parent[root(a)] = root(b)
    pairs = sorted(cKDTree(cells).query_pairs(reach, output_type="ndarray").tolist(),
                   key=lambda p: float(np.sum((cells[p[0]] - cells[p[1]]) ** 2))) if len(cells) > 1 else []
    added = []
    for a, b in pairs:
        if root(a) != root(b) and _line_free(passable, tuple(cells[a]), tuple(cells[b])):
            parent[root(a)] = root(b)
            added.append((a, b))
    return added


def _line_free(free: np.ndarray, a: tuple[int, int], b: tuple[int, int]) -> bool:
    steps = max(abs(a[0] - b[0]), abs(a[1] - b[1])) + 1
    rows = np.rint(np.linspace(a[0], b[0], steps)).astype(int)
    cols = np.rint(np.linspace(a[1], b[1], steps)).astype(int)
    return bool(free[rows, cols].all())
