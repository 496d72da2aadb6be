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

from m2h_slam.core.config import GraphConfig
from pipeline.scene_graph.free_space import FreeSpaceMap

_DEFAULTS = GraphConfig()


@dataclass(frozen=True)
class Places:
    """positions (P, 2) m in the map frame, clearance (P,) m, edges (E, 2) indices into positions,
    cells (P, 2) (row, col) in the free-space grid."""

    positions: np.ndarray
    clearance_m: np.ndarray
    edges: np.ndarray
    cells: np.ndarray


def find_places(space: FreeSpaceMap, spacing_m: float = _DEFAULTS.place_spacing_m,
                min_clearance_m: float = _DEFAULTS.place_min_clearance_m) -> Places:
    """The places of a free-space map (see the module doc): tile side ``spacing_m``, clearance in m."""
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
    pairs = np.array([(index[key], index[other]) for key in keys
                      for other in ((key[0], key[1] + 1), (key[0] + 1, key[1] - 1), (key[0] + 1, key[1]),
                                    (key[0] + 1, key[1] + 1))  # each neighbour pair once
                      if other in index], np.int64).reshape(-1, 2)
    edges = [tuple(p) for p in pairs[_lines_free(space.free, cells, pairs)].tolist()]
    edges += _bridges(~space.occupied, cells, edges, 3 * tile)
    positions = space.xy(cells[:, 0], cells[:, 1]) if len(cells) else np.zeros((0, 2))
    return Places(positions, clearance[cells[:, 0], cells[:, 1]] if len(cells) else np.zeros(0),
                  np.array(edges, np.int64).reshape(-1, 2), cells)


def _bridges(passable: np.ndarray, cells: np.ndarray, edges: list, reach: int) -> list[tuple[int, int]]:
    """Edges that join separate parts of the graph: closest pairs first, within ``reach`` cells, segments
    through ``passable`` cells."""
    from scipy.cluster.hierarchy import DisjointSet
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    if len(cells) < 2:
        return []
    joined = np.array(edges, np.int64).reshape(-1, 2)
    count, part = connected_components(coo_matrix((np.ones(len(joined)), (joined[:, 0], joined[:, 1])),
                                                  shape=(len(cells), len(cells))), directed=False)
    if count == 1:
        return []
    pairs = cKDTree(cells).query_pairs(reach, output_type="ndarray")
    pairs = pairs[part[pairs[:, 0]] != part[pairs[:, 1]]]
    pairs = pairs[np.argsort(np.sum((cells[pairs[:, 0]] - cells[pairs[:, 1]]) ** 2, axis=1), kind="stable")]
    pairs = pairs[_lines_free(passable, cells, pairs)]
    parts = DisjointSet(range(count))  # the parts joined so far
    return [(a, b) for a, b in pairs.tolist() if parts.merge(int(part[a]), int(part[b]))]


def _lines_free(free: np.ndarray, cells: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """(P,) bool: whether the straight segment between the cells of each pair runs through ``free`` cells only
    (sampled once per cell step)."""
    ok = np.zeros(len(pairs), bool)
    a, b = cells[pairs[:, 0]], cells[pairs[:, 1]]
    steps = np.abs(a - b).max(axis=1) + 1
    for n in np.unique(steps):
        group = np.flatnonzero(steps == n)
        t = np.linspace(0.0, 1.0, int(n))[None, :, None]
        points = np.rint(a[group, None] + t * (b[group, None] - a[group, None])).astype(np.int64)
        ok[group] = free[points[..., 0], points[..., 1]].all(axis=1)
    return ok
