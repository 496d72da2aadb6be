"""Procedural apartment floor plans: a grid of cells grouped into rectangular or
L-shaped rooms, walls on room boundaries, doors that connect every room, windows on
outside walls. World frame: metres, z up, floor at z = 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.cluster.hierarchy import DisjointSet

from m2h_slam.core.labels import class_id
from m2h_slam.synthetic.meshes import Mesh, box

WALL_THICKNESS_M = 0.10
DOOR_WIDTH_M = 0.90
DOOR_HEIGHT_M = 2.05
RASTER_M = 0.01
ROOM_TYPES = ("living room", "bedroom", "kitchen", "bathroom", "office")


@dataclass
class Room:
    """A room: its grid cells, floor-plan rectangles (xmin, ymin, xmax, ymax) in metres, footprint polygon."""

    id: int  # 1-based; 0 means "no room" in room images
    type: str
    cells: list[tuple[int, int]]  # (column, row)
    rects: list[tuple[float, float, float, float]]  # one per cell, bounded by wall centre lines
    footprint: list[tuple[float, float]]  # counter-clockwise outline of the union of rects

    @property
    def area_m2(self) -> float:
        return float(sum((r[2] - r[0]) * (r[3] - r[1]) for r in self.rects))

    def contains(self, x: float, y: float, margin_m: float = 0.0) -> bool:
        """Whether (x, y) lies inside the room's interior shrunk by half a wall and ``margin_m``."""
        inset = WALL_THICKNESS_M / 2 + margin_m
        return any(r[0] + inset <= x <= r[2] - inset and r[1] + inset <= y <= r[3] - inset for r in self.rects)


@dataclass
class Door:
    """An opening between rooms ``rooms`` in a wall along ``axis`` ('x': wall runs along x, at y = ``at``)."""

    rooms: tuple[int, int]
    axis: str
    at: float
    lo: float  # opening from lo to hi along the wall (metres)
    hi: float

    @property
    def center(self) -> np.ndarray:
        mid = (self.lo + self.hi) / 2
        return np.array([mid, self.at]) if self.axis == "x" else np.array([self.at, mid])


@dataclass
class Apartment:
    """Floor plan and its structural meshes (walls, floors, ceilings, door frames, windows)."""

    xs: np.ndarray  # grid lines along x (metres), (columns + 1,)
    ys: np.ndarray  # grid lines along y, (rows + 1,)
    room_of_cell: np.ndarray  # (columns, rows) room id
    rooms: list[Room]
    doors: list[Door]
    height_m: float
    meshes: list[Mesh] = field(default_factory=list)
    walls: list[tuple[float, float, float, float]] = field(default_factory=list)  # wall boxes in plan view
    windows: list[tuple[float, float, float, float, float, float]] = field(default_factory=list)  # 3D AABBs
    _raster: np.ndarray | None = field(default=None, repr=False)  # room ids on a RASTER_M grid, for room_at

    def room_at(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Room id (0 outside) of plan points; wall centre lines split rooms (to within ``RASTER_M``)."""
        if self._raster is None:
            def centres(lines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
                k = np.arange(-1, int(np.ceil((lines[-1] - lines[0]) / RASTER_M)) + 1)
                cell = np.searchsorted(lines, lines[0] + (k + 0.5) * RASTER_M, side="right") - 1
                return cell, (cell >= 0) & (cell < len(lines) - 1)

            (col, ok_x), (row, ok_y) = centres(self.xs), centres(self.ys)
            self._raster = np.zeros((len(col), len(row)), np.uint8)
            self._raster[np.ix_(ok_x, ok_y)] = self.room_of_cell[np.ix_(col[ok_x], row[ok_y])]
        nx, ny = self._raster.shape
        i = np.clip(np.floor((np.asarray(x) - self.xs[0]) / RASTER_M).astype(np.int64) + 1, 0, nx - 1)
        j = np.clip(np.floor((np.asarray(y) - self.ys[0]) / RASTER_M).astype(np.int64) + 1, 0, ny - 1)
        return np.take(self._raster.ravel(), i * ny + j)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return float(self.xs[0]), float(self.ys[0]), float(self.xs[-1]), float(self.ys[-1])


def _group_cells(columns: int, rows: int, num_rooms: int, rng: np.random.Generator) -> np.ndarray:
    """Assign grid cells to ``num_rooms`` rooms of 1 cell, 2 cells in a row or 3 cells in an L."""
    for _ in range(200):
        groups = [[(c, r)] for c in range(columns) for r in range(rows)]
        order = rng.permutation(len(groups) * 8)
        for k in order:
            if len(groups) == num_rooms:
                break
            g = groups[k % len(groups)]
            if len(g) > 1:
                continue
            (c, r) = g[0]
            neighbours = [n for n in groups if n is not g and any(abs(c - a) + abs(r - b) == 1 for a, b in n)]
            rng.shuffle(neighbours)
            if rng.random() < 0.7:  # prefer growing a 2-cell room into an L
                neighbours.sort(key=lambda n: -len(n))
            for n in neighbours:
                merged = n + g
                cs, rs = [a for a, _ in merged], [b for _, b in merged]
                span = (max(cs) - min(cs) + 1) * (max(rs) - min(rs) + 1)
                if len(merged) == 2 or (len(merged) == 3 and span == 4):
                    groups.remove(g)
                    n.append(g[0])
                    break
        if len(groups) == num_rooms:
            room_of_cell = np.zeros((columns, rows), np.uint8)
            for room_id, g in enumerate(groups, start=1):
                for c, r in g:
                    room_of_cell[c, r] = room_id
            return room_of_cell
    raise RuntimeError(f"cannot group {columns}x{rows} cells into {num_rooms} rooms")


def _outline(rects: list[tuple[float, float, float, float]]) -> list[tuple[float, float]]:
    """Counter-clockwise outline of a union of grid-aligned rectangles that forms one simply connected shape."""
    edges: dict[tuple, tuple] = {}
    for x0, y0, x1, y1 in rects:
        corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
        for a, b in zip(corners, corners[1:] + corners[:1]):
            if (b, a) in edges:
                del edges[(b, a)]
            else:
                edges[(a, b)] = b
    # Rectangles that touch along part of an edge: split edges at every vertex first.
    points = sorted({p for e in edges for p in e})
    split = {}
    for a, b in edges:
        on = [p for p in points if p not in (a, b) and _between(a, b, p)]
        on.sort(key=lambda p: (p[0] - a[0]) ** 2 + (p[1] - a[1]) ** 2)
        chain = [a, *on, b]
        for p, q in zip(chain, chain[1:]):
            if (q, p) in split:
                del split[(q, p)]
            else:
                split[(p, q)] = q
    nxt = {a: b for a, b in split}
    start = min(nxt)
    outline, p = [start], nxt[start]
    while p != start:
        outline.append(p)
        p = nxt[p]
    # Drop collinear vertices.
    keep = []
    for i, p in enumerate(outline):
        a, b = outline[i - 1], outline[(i + 1) % len(outline)]
        if (p[0] - a[0]) * (b[1] - p[1]) - (p[1] - a[1]) * (b[0] - p[0]) != 0:
            keep.append(p)
    return keep


def _between(a, b, p) -> bool:
    if a[0] == b[0] == p[0]:
        return min(a[1], b[1]) < p[1] < max(a[1], b[1])
    if a[1] == b[1] == p[1]:
        return min(a[0], b[0]) < p[0] < max(a[0], b[0])
    return False


def _room_types(rooms_by_area: list[int], rng: np.random.Generator) -> dict[int, str]:
    """Largest room: living room; smallest (of 3+): bathroom; the rest bedrooms, kitchen, office."""
    types = {rooms_by_area[0]: "living room"}
    rest = rooms_by_area[1:]
    if len(rest) >= 2:
        types[rest.pop()] = "bathroom"
    others = ["kitchen", "bedroom", "office", "bedroom"][: len(rest)]
    rng.shuffle(others)
    types.update(zip(rest, others))
    return types


def make_apartment(num_rooms: int, rng: np.random.Generator, height_m: float | None = None) -> Apartment:
    """A random apartment of ``num_rooms`` (2..6) rooms."""
    if not 2 <= num_rooms <= 6:
        raise ValueError(f"rooms must be between 2 and 6, got {num_rooms}")
    shapes = [(c, r) for c in (1, 2, 3) for r in (1, 2, 3) if num_rooms <= c * r <= num_rooms + 2 and c * r > 1]
    columns, rows = shapes[rng.integers(len(shapes))]
    xs = np.round(np.concatenate([[0.0], np.cumsum(rng.uniform(2.8, 4.6, columns))]), 2)
    ys = np.round(np.concatenate([[0.0], np.cumsum(rng.uniform(2.8, 4.6, rows))]), 2)
    room_of_cell = _group_cells(columns, rows, num_rooms, rng)
    height_m = float(np.round(rng.uniform(2.5, 2.8), 2)) if height_m is None else height_m

    cells_of = {rid: [(c, r) for c in range(columns) for r in range(rows) if room_of_cell[c, r] == rid]
                for rid in range(1, num_rooms + 1)}
    rects_of = {rid: [(xs[c], ys[r], xs[c + 1], ys[r + 1]) for c, r in cells] for rid, cells in cells_of.items()}
    by_area = sorted(cells_of, key=lambda rid: -sum((q[2] - q[0]) * (q[3] - q[1]) for q in rects_of[rid]))
    types = _room_types(by_area, rng)
    rooms = [Room(rid, types[rid], cells_of[rid], [tuple(map(float, q)) for q in rects_of[rid]],
                  [tuple(map(float, p)) for p in _outline(rects_of[rid])]) for rid in range(1, num_rooms + 1)]

    apartment = Apartment(xs, ys, room_of_cell, rooms, [], height_m)
    _build_walls_and_doors(apartment, rng)
    _build_floors_and_ceilings(apartment)
    return apartment


def _segments(apartment: Apartment):
    """Every grid edge between two different rooms or a room and the outside.

    Yields (axis, at, lo, hi, room_a, room_b) with room 0 = outside; axis 'x' means the
    edge runs along x at y = at.
    """
    xs, ys, grid = apartment.xs, apartment.ys, apartment.room_of_cell
    columns, rows = grid.shape
    for c in range(columns):
        for r in range(rows + 1):
            below = grid[c, r - 1] if r > 0 else 0
            above = grid[c, r] if r < rows else 0
            if below != above:
                yield "x", ys[r], xs[c], xs[c + 1], int(below), int(above)
    for r in range(rows):
        for c in range(columns + 1):
            left = grid[c - 1, r] if c > 0 else 0
            right = grid[c, r] if c < columns else 0
            if left != right:
                yield "y", xs[c], ys[r], ys[r + 1], int(left), int(right)


def _plan_box(axis: str, at: float, lo: float, hi: float, half: float) -> tuple[float, float, float, float]:
    """Plan rectangle (xmin, ymin, xmax, ymax) of a wall piece along ``axis``."""
    return (lo, at - half, hi, at + half) if axis == "x" else (at - half, lo, at + half, hi)


def _box3(plan, z0: float, z1: float) -> Mesh:
    return box([plan[0], plan[1], z0], [plan[2], plan[3], z1])


def _build_walls_and_doors(apartment: Apartment, rng: np.random.Generator) -> None:
    wall, door, window = class_id("wall"), class_id("door"), class_id("window")
    segments = list(_segments(apartment))
    # Doors: a random spanning tree over rooms that share a long enough wall, plus one extra loop if any.
    shared = [s for s in segments if s[4] and s[5] and s[3] - s[2] >= DOOR_WIDTH_M + 0.8]
    order = rng.permutation(len(shared))
    joined = DisjointSet(room.id for room in apartment.rooms)
    door_segments: dict[int, float] = {}
    for k in order:
        a, b = shared[k][4], shared[k][5]
        if not joined.connected(a, b) or (len(door_segments) < len(apartment.rooms) and rng.random() < 0.15):
            joined.merge(a, b)
            if k not in door_segments and not any(
                {shared[j][4], shared[j][5]} == {a, b} for j in door_segments
            ):
                door_segments[k] = rng.uniform(shared[k][2] + 0.4 + DOOR_WIDTH_M / 2, shared[k][3] - 0.4 - DOOR_WIDTH_M / 2)
    if joined.n_subsets != 1:
        raise RuntimeError("rooms cannot all be connected by doors")

    H, half = apartment.height_m, WALL_THICKNESS_M / 2
    ids = iter(range(1001, 2000))  # structure instance ids: walls, doors, windows 1001..1999
    # Corners: walls along x run through the corner squares, walls along y stop at them, and
    # collinear neighbours abut exactly, so no two walls share a visible face (which would
    # flicker between their labels).
    x_vertices = {(v, at) for axis, at, lo, hi, _, _ in segments if axis == "x" for v in (lo, hi)}
    starts = {(axis, at, lo) for axis, at, lo, _, _, _ in segments}
    stops = {(axis, at, hi) for axis, at, _, hi, _, _ in segments}

    def extent(axis: str, at: float, end: float, outward: float) -> float:
        if axis == "x":
            return end if (axis, at, end) in (starts if outward > 0 else stops) else end + outward * half
        return end - outward * half if (at, end) in x_vertices else end

    for axis, at, lo, hi, a, b in segments:
        wall_id = next(ids)
        door_key = next((j for j in door_segments if shared[j][:4] == (axis, at, lo, hi)), None)
        lo_ext, hi_ext = extent(axis, at, lo, -1.0), extent(axis, at, hi, 1.0)
        pieces = [(lo_ext, hi_ext, 0.0, H)]
        if door_key is not None:
            d0, d1 = door_segments[door_key] - DOOR_WIDTH_M / 2, door_segments[door_key] + DOOR_WIDTH_M / 2
            pieces = [(lo_ext, d0, 0.0, H), (d1, hi_ext, 0.0, H), (d0, d1, DOOR_HEIGHT_M, H)]
            apartment.doors.append(Door((a, b), axis, float(at), float(d0), float(d1)))
            door_id, jamb = next(ids), 0.05
            frame_parts = [
                _box3(_plan_box(axis, at, d0, d0 + jamb, half + 0.02), 0.0, DOOR_HEIGHT_M),
                _box3(_plan_box(axis, at, d1 - jamb, d1, half + 0.02), 0.0, DOOR_HEIGHT_M),
                _box3(_plan_box(axis, at, d0, d1, half + 0.02), DOOR_HEIGHT_M - jamb, DOOR_HEIGHT_M),
            ]
            apartment.meshes += [m.labelled(door, door_id) for m in frame_parts]
        for p0, p1, z0, z1 in pieces:
            plan = _plan_box(axis, at, p0, p1, half)
            apartment.meshes.append(_box3(plan, z0, z1).labelled(wall, wall_id))
            if z0 == 0.0:
                apartment.walls.append(tuple(map(float, plan)))
        # A window on most outside walls, on the room side.
        inside = b if a == 0 else a if b == 0 else 0
        if inside and hi - lo >= 2.0 and rng.random() < 0.7:
            room_m = min(2.0, hi - lo - 1.0)  # 0.5 m of wall on each side
            width = min(float(np.round(rng.uniform(0.8, room_m), 2)), room_m)  # rounding must not overshoot
            mid = rng.uniform(lo + 0.5 + width / 2, hi - 0.5 - width / 2)
            face = at + (half if inside == b else -half)  # room b lies on the +at side
            plan = _plan_box(axis, face, mid - width / 2, mid + width / 2, 0.01)
            z0, z1 = 0.9, min(2.1, H - 0.2)
            apartment.meshes.append(_box3(plan, z0, z1).labelled(window, next(ids)))
            apartment.windows.append((plan[0], plan[1], z0, plan[2], plan[3], z1))


def _build_floors_and_ceilings(apartment: Apartment) -> None:
    floor, ceiling = class_id("floor"), class_id("ceiling")
    H = apartment.height_m
    for room in apartment.rooms:
        for x0, y0, x1, y1 in room.rects:
            apartment.meshes.append(box([x0, y0, -0.1], [x1, y1, 0.0]).labelled(floor, 2000 + room.id))
            apartment.meshes.append(box([x0, y0, H], [x1, y1, H + 0.1]).labelled(ceiling, 2100 + room.id))
