"""Rooms from the free-space map: distance transform, seeds that no door fits through, watershed.

Room space is what the walls enclose: free cells, cells under furniture and seen floor, not walls.
Cells with more clearance than ``seed_clearance_m`` (more than half a door) form seed regions:
a door is too narrow to hold such cells, so seeds never leak from one room into the next.
Seeds then grow together through the room space (each cell to its geodesically nearest seed),
then on into space never seen, up to ``unseen_reach_m`` and never through a wall (floor hidden
behind furniture or out of view is still the room's), and each room takes the unclaimed cells
between its own cells along rows and columns (rooms are rectangles or L shapes).
Where regions touch is an opening: a door, or a wall stretch the camera never saw. Each room gets its
footprint (the outline of its cells), area and centroid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from pipeline.free_space import FreeSpaceMap


@dataclass(frozen=True)
class Room:
    """id from 1; footprint (K, 2) m, counter-clockwise outline in the map frame; centroid (2,) m."""

    id: int
    footprint: np.ndarray
    area_m2: float
    centroid: np.ndarray
    cells: int


@dataclass(frozen=True)
class Opening:
    """A door or opening between two rooms: centre (2,) m, width in m."""

    rooms: tuple[int, int]
    center: np.ndarray
    width_m: float


@dataclass(frozen=True)
class RoomMap:
    """labels (H, W) int: room id per free cell, 0 elsewhere (same grid as the free-space map)."""

    labels: np.ndarray
    rooms: list[Room]
    openings: list[Opening]


def segment_rooms(space: FreeSpaceMap, seed_clearance_m: float = 0.5, min_area_m2: float = 1.0,
                  unseen_reach_m: float = 1.0) -> RoomMap:
    """Rooms of a free-space map (see the module doc)."""
    free = (space.free | space.occupied | space.floor) & ~space.walls  # inside the walls, furniture included
    free = ndimage.binary_fill_holes(free) & ~space.walls
    clearance = ndimage.distance_transform_edt(free) * space.cell_m
    seeds, count = ndimage.label(clearance > seed_clearance_m)
    if count == 0:
        return RoomMap(np.zeros(free.shape, np.int32), [], [])
    labels = _grow(seeds, free)
    labels = _grow(labels, ~space.walls, steps=int(round(unseen_reach_m / space.cell_m)))
    labels = _fill_orthogonally(labels, space.walls)
    rooms, labels = _rooms(labels, space, min_area_m2)
    return RoomMap(labels, rooms, _openings(labels, space))


def _borders(labels: np.ndarray) -> dict[tuple[int, int], set[tuple[int, int]]]:
    """(room a, room b) with a < b -> the cells (row, col) on the first side of each touching 4-neighbour pair."""
    borders: dict[tuple[int, int], set[tuple[int, int]]] = {}
    for dr, dc in ((0, 1), (1, 0)):
        a = labels[: labels.shape[0] - dr, : labels.shape[1] - dc]
        b = labels[dr:, dc:]
        touching = (a > 0) & (b > 0) & (a != b)
        for r, c in zip(*np.nonzero(touching)):
            x, y = int(a[r, c]), int(b[r, c])
            borders.setdefault((min(x, y), max(x, y)), set()).add((int(r), int(c)))
    return borders


def _grow(seeds: np.ndarray, inside: np.ndarray, steps: int | None = None) -> np.ndarray:
    """Every cell of ``inside`` reachable from a seed (within ``steps`` cells, if given) gets the label of the
    nearest one (geodesic, 8-connected)."""
    labels = np.where(inside | (seeds > 0), seeds, 0)
    for _ in range(steps if steps is not None else labels.size):
        grown = ndimage.grey_dilation(labels, size=(3, 3))
        new = (labels == 0) & inside & (grown > 0)
        if not new.any():
            break
        labels[new] = grown[new]
    return labels


def _fill_orthogonally(labels: np.ndarray, walls: np.ndarray) -> np.ndarray:
    """Give each room the unseen cells that lie between its own cells along their row and their column
    (rooms are orthogonally convex: rectangles, L shapes), unless a wall or another room is there."""
    filled = labels.copy()
    for room in np.unique(labels[labels > 0]):
        mask = labels == room
        rows, cols = np.nonzero(mask)
        row_span = np.zeros_like(mask)
        col_span = np.zeros_like(mask)
        for r in np.unique(rows):
            cs = cols[rows == r]
            row_span[r, cs.min():cs.max() + 1] = True
        for c in np.unique(cols):
            rs = rows[cols == c]
            col_span[rs.min():rs.max() + 1, c] = True
        add = row_span & col_span & (filled == 0) & ~walls
        filled[add] = room
    return filled


def _rooms(labels: np.ndarray, space: FreeSpaceMap, min_area_m2: float) -> tuple[list[Room], np.ndarray]:
    """Rooms numbered 1.. by position (rows, then columns of their first cell); small regions dropped."""
    cell_area = space.cell_m**2
    ids = [k for k in np.unique(labels) if k > 0 and (labels == k).sum() * cell_area >= min_area_m2]
    ids.sort(key=lambda k: np.flatnonzero(labels.ravel() == k)[0])
    relabelled = np.zeros_like(labels)
    rooms = []
    for new, old in enumerate(ids, start=1):
        mask = labels == old
        relabelled[mask] = new
        rows, cols = np.nonzero(mask)
        centroid = space.xy(rows, cols).mean(axis=0)
        rooms.append(Room(new, outline(mask, space), float(mask.sum() * cell_area), centroid, int(mask.sum())))
    return rooms, relabelled


def _openings(labels: np.ndarray, space: FreeSpaceMap) -> list[Opening]:
    openings = []
    for (a, b), cells in sorted(_borders(labels).items()):
        cells = np.array(sorted(set(cells)))
        openings.append(Opening((int(a), int(b)), space.xy(cells[:, 0], cells[:, 1]).mean(axis=0),
                                float(len(cells) * space.cell_m)))
    return openings


def outline(mask: np.ndarray, space: FreeSpaceMap) -> np.ndarray:
    """The outer boundary (K, 2) m of a cell mask, along cell edges, collinear corners removed."""
    padded = np.pad(mask, 1)
    edges: dict[tuple[int, int], list[tuple[int, int]]] = {}
    rows, cols = np.nonzero(padded)
    for r, c in zip(rows.tolist(), cols.tolist()):  # cell sides against the outside, all in one turning sense
        for outside, start, end in (((r - 1, c), (r, c + 1), (r, c)), ((r + 1, c), (r + 1, c), (r + 1, c + 1)),
                                    ((r, c - 1), (r, c), (r + 1, c)), ((r, c + 1), (r + 1, c + 1), (r, c + 1))):
            if not padded[outside]:
                edges.setdefault(start, []).append(end)
    loops = []
    while edges:
        start = next(iter(edges))
        loop, point = [], start
        while point in edges:
            loop.append(point)
            following = edges[point].pop()
            if not edges[point]:
                del edges[point]
            point = following
        loops.append(loop)
    loop = np.array(max(loops, key=len), float)
    before, after = loop - np.roll(loop, 1, axis=0), np.roll(loop, -1, axis=0) - loop
    keep = before[:, 0] * after[:, 1] - before[:, 1] * after[:, 0] != 0  # corners, not points along a side
    corners = loop[keep] - 1.5  # padded corner (r, c) -> cell-centre coordinates of the unpadded grid
    xy = space.origin_xy + corners[:, ::-1] * space.cell_m
    area = 0.5 * np.sum(xy[:, 0] * np.roll(xy[:, 1], -1) - np.roll(xy[:, 0], -1) * xy[:, 1])
    return xy if area > 0 else xy[::-1]
