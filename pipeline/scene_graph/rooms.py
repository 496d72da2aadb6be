"""Rooms from the free-space map: walls completed along their lines, seeds that no door fits through, growth.

Walls first go on along their lines (the map frame puts them on x and y) through space never
seen and across door-wide gaps of seen space (``complete_walls``), so that rooms separate even where the camera
saw only part of a wall; the closed gaps are the doors. Seen obstacles count as seen space there: a line never
crosses a room full of furniture or of the smeared surfaces of predicted depth. Room space is what the walls enclose:
free cells, cells under furniture and seen floor. Seeds are the regions more than
``seed_clearance_m`` from any wall (more than half a door, so no seed passes a door) within
``seed_reach_m`` of room space; unseen space is no obstacle here, so a room seen in pieces gets one
seed. Seeds with less than ``min_seen_floor_m2`` of seen floor are dropped, unless the camera stood in them or
within ``seed_clearance_m`` of them (a room mapped as obstacles nearly everywhere is still a room when it was
walked through). Seeds then grow through
the room space (each cell to its geodesically nearest seed), then the rooms the camera entered grow on into space never seen,
up to ``unseen_reach_m`` and never through a wall (a room seen only through a door is what was
seen of it), and each room takes the unclaimed cells between its own cells along rows
and columns (rooms are rectangles or L shapes). Walked space that no room holds becomes a room where the seen
walls alone leave room for a seed (wall lines continued from wall voxels on furniture had cut it up). Rooms that
touch along more seen space than a door is wide are one room. Openings are
the doors between two rooms and the stretches where two rooms touch. Each room gets its footprint (the outline of
its cells), area and centroid.

Measured against the ground truth on held-out synthetic walks: docs/pipeline.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from m2h_slam.core.config import GraphConfig
from m2h_slam.core.polygons import polygon_area
from pipeline.scene_graph.free_space import FreeSpaceMap

_DEFAULTS = GraphConfig()


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


def segment_rooms(space: FreeSpaceMap, seed_clearance_m: float = _DEFAULTS.room_seed_clearance_m,
                  min_area_m2: float = _DEFAULTS.room_min_area_m2,
                  unseen_reach_m: float = _DEFAULTS.room_unseen_reach_m, door_max_m: float = _DEFAULTS.room_door_max_m, visited_xy: np.ndarray | None = None,
                  seed_reach_m: float = _DEFAULTS.room_seed_reach_m,
                  min_seen_floor_m2: float = _DEFAULTS.room_min_seen_floor_m2) -> RoomMap:
    """Rooms of a free-space map (see the module doc; lengths in m, areas in m2, defaults: ``GraphConfig``).
    ``visited_xy`` (N, 2) m: where the camera was; when given, only rooms it entered grow into unseen space (a
    room seen through a door is what was seen)."""
    walked = _visited_cells(space, visited_xy)
    walls, doors = complete_walls(space, door_max_m)
    seen = space.seen
    free = ndimage.binary_fill_holes(seen & ~walls) & ~walls  # inside the walls, furniture included
    near = ndimage.binary_dilation(free, iterations=int(round(seed_reach_m / space.cell_m)), mask=~walls)
    clearance = ndimage.distance_transform_edt(~walls) * space.cell_m  # unseen space is no obstacle
    seeds, count = ndimage.label((clearance > seed_clearance_m) & near)
    seen_area = ndimage.sum(seen & ~space.occupied, seeds, np.arange(1, count + 1)) * space.cell_m**2
    keep = np.r_[False, seen_area >= min_seen_floor_m2]
    if walked.any():  # the camera stood in or beside it: room space, however cluttered the map
        beside = ndimage.binary_dilation(walked, iterations=int(round(seed_clearance_m / space.cell_m)), mask=~walls)
        keep[np.unique(seeds[beside])] = True
    keep[0] = False
    labels = np.zeros(free.shape, np.int32)
    if keep.any():
        labels = _grow(np.where(keep[seeds], seeds, 0), free)
        growing = labels
        if visited_xy is not None:
            growing = np.where(np.isin(labels, np.unique(labels[walked])), labels, 0)
        grown = _grow(growing, ~walls & ((labels == 0) | (growing > 0)),
                      steps=int(round(unseen_reach_m / space.cell_m)))
        labels = _fill_orthogonally(np.where(labels > 0, labels, grown), walls)
    labels = _claim_walked_space(labels, space, walked, seed_clearance_m, min_area_m2)
    labels = _join_across_open_borders(labels, seen, door_max_m / space.cell_m)
    if not labels.any():
        return RoomMap(labels, [], [])
    rooms, labels = _rooms(labels, space, min_area_m2)
    return RoomMap(labels, rooms, _openings(labels, doors, space))


def _claim_walked_space(labels: np.ndarray, space: FreeSpaceMap, walked: np.ndarray, clearance_m: float,
                        min_area_m2: float) -> np.ndarray:
    """``labels`` with the walked space no room claimed made into rooms: each 8-connected region of seen space
    inside the seen walls (completed wall lines do not cut it) that no room holds, that the camera stood in, of at
    least ``min_area_m2`` and with room for a seed by the seen walls alone (a cell more than ``clearance_m`` from
    them). Such a room was lost when wall lines, continued from wall voxels on its furniture, cut it into pieces
    whose seeds were dropped."""
    if not walked.any():
        return labels
    inside = ndimage.binary_fill_holes(space.seen & ~space.walls) & ~space.walls
    regions, count = ndimage.label(inside & (labels == 0), np.ones((3, 3), bool))
    if count == 0:
        return labels
    clearance = ndimage.distance_transform_edt(~space.walls) * space.cell_m
    roomy = ndimage.maximum(clearance, regions, np.arange(1, count + 1)) > clearance_m
    large = ndimage.sum(np.ones_like(inside), regions, np.arange(1, count + 1)) * space.cell_m**2 >= min_area_m2
    claimed = labels.copy()
    for region in np.unique(regions[walked & (regions > 0)]):
        if roomy[region - 1] and large[region - 1]:
            claimed[regions == region] = claimed.max() + 1
    return claimed


def _join_across_open_borders(labels: np.ndarray, seen: np.ndarray, door_max_cells: float) -> np.ndarray:
    """``labels`` with rooms that touch along more seen cells than a door is wide made one: rooms meet at doors,
    so a seen border wider than any door, in one stretch or several, has no wall in it: furniture kept two seeds
    of one room apart."""
    count = int(labels.max()) + 1
    joined = [(a, b) for (a, b), cells in _borders(labels).items()
              if sum(bool(seen[r, c]) for r, c in cells) > door_max_cells]
    if not joined:
        return labels
    a, b = np.array(joined).T
    _, component = connected_components(coo_matrix((np.ones(len(a)), (a, b)), shape=(count, count)), directed=False)
    return component[labels].astype(labels.dtype) * (labels > 0)


def complete_walls(space: FreeSpaceMap, door_max_m: float = _DEFAULTS.room_door_max_m,
                   min_run_m: float = 0.5) -> tuple[np.ndarray, list]:
    """Walls continued along their lines (the map frame has walls on x and y): a straight wall stretch of at
    least ``min_run_m`` goes on through space never seen, and across a seen gap (free or obstacles) no wider than
    ``door_max_m`` where the line goes on behind it (a door), until it meets another wall or wider seen space.

    Returns the completed walls (H, W) bool and the doors: one (row index array, column index array) per
    closed gap."""
    seen = space.seen
    walls, doors = space.walls.copy(), []
    run = max(2, int(round(min_run_m / space.cell_m)))
    door_cells = int(round(door_max_m / space.cell_m))
    straight = [ndimage.binary_opening(space.walls, np.ones(shape, bool)) for shape in ((1, run), (run, 1))]
    for along_rows in (True, False):
        flip = (lambda a: a) if along_rows else np.transpose  # work along rows; columns are rows transposed
        lines, grown, blocked, open_ = (flip(a) for a in (straight[0 if along_rows else 1], walls, space.walls,
                                                           seen))
        junction = ndimage.binary_dilation(flip(straight[1 if along_rows else 0]), iterations=1)
        for r in np.flatnonzero(lines.any(axis=1)):
            cols = np.flatnonzero(lines[r])
            breaks = np.flatnonzero(np.diff(cols) > 1)
            for start, end in zip(np.r_[cols[0], cols[breaks + 1]], np.r_[cols[breaks], cols[-1]]):
                for step, c in ((1, end + 1), (-1, start - 1)):
                    if junction[r, c - step] or (0 <= c < lines.shape[1] and junction[r, c]):
                        continue  # the wall ends at another wall (a corner or a T): it stops there
                    added, gaps = _extend(blocked[r], open_[r], c, step, door_cells)
                    for gap in (np.sort(g) for g in gaps if not grown[r, g].all()):  # each door once
                        doors.append((np.full(len(gap), r), gap) if along_rows else (gap, np.full(len(gap), r)))
                    grown[r, added] = True
    return walls, doors


def _extend(wall: np.ndarray, free: np.ndarray, c: int, step: int, door_cells: int) -> tuple[list[int], list]:
    """Cells added to a wall line that ends before column ``c`` (going in direction ``step``), and the door
    gaps crossed; nothing when the line runs into seen space (``free``: free or obstacles) wider than a door."""
    added, gaps = [], []
    while 0 <= c < len(wall) and not wall[c]:
        if free[c]:
            gap = []
            while 0 <= c < len(wall) and free[c] and not wall[c] and len(gap) <= door_cells:
                gap.append(c)
                c += step
            if len(gap) > door_cells or not (0 <= c < len(wall)):
                break  # open space, or the map ends: the wall stops here
            gaps.append(np.array(gap))
            added += gap
            continue
        added.append(c)
        c += step
    return added, gaps


def _visited_cells(space: FreeSpaceMap, visited_xy: np.ndarray | None) -> np.ndarray:
    """(H, W) bool: the cells the camera was in (none when ``visited_xy`` is None)."""
    walked = np.zeros(space.free.shape, bool)
    if visited_xy is not None and len(visited_xy):
        cells = space.cells(np.asarray(visited_xy))
        cells = cells[np.all((cells >= 0) & (cells < walked.shape), axis=1)]
        walked[cells[:, 0], cells[:, 1]] = True
    return walked


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


def _openings(labels: np.ndarray, doors: list, space: FreeSpaceMap) -> list[Opening]:
    """Doors (closed gaps) with a room on either side, and stretches where two rooms touch."""
    openings = {}
    for (a, b), cells in sorted(_borders(labels).items()):
        cells = np.array(sorted(set(cells)))
        openings[(a, b)] = Opening((int(a), int(b)), space.xy(cells[:, 0], cells[:, 1]).mean(axis=0),
                                   float(len(cells) * space.cell_m))
    for rows, cols in doors:
        around = np.zeros(labels.shape, bool)
        around[rows, cols] = True
        around = ndimage.binary_dilation(around, iterations=2) & (labels > 0)  # two cells on either side
        ids, counts = np.unique(labels[around], return_counts=True)
        if len(ids) >= 2:
            a, b = sorted(int(k) for k in ids[np.argsort(counts)[-2:]])
            if (a, b) not in openings:
                openings[(a, b)] = Opening((a, b), space.xy(rows, cols).mean(axis=0), float(len(rows) * space.cell_m))
    return [openings[k] for k in sorted(openings)]


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
    return xy if polygon_area(xy) > 0 else xy[::-1]
