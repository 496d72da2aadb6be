"""Walking paths: a clearance map of the floor plan, shortest paths on it, smoothing,
and constant-speed timing. People and the camera both walk these paths, so neither
passes through a wall or a piece of furniture.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage, sparse
from scipy.sparse.csgraph import dijkstra

from m2h_slam.synthetic.furniture import PlacedObject
from m2h_slam.synthetic.layout import Apartment

CELL_M = 0.05  # clearance map resolution
OBSTACLE_BELOW_M = 1.7  # objects whose bottom is lower than this block walking


@dataclass
class ClearanceMap:
    """Distance (m) from each plan cell centre to the nearest wall, object or the outside; (nx, ny) grid."""

    origin: np.ndarray  # (2,) plan position of cell (0, 0)'s centre
    clearance_m: np.ndarray  # (nx, ny) float
    room: np.ndarray  # (nx, ny) room id per cell

    def cell(self, xy: np.ndarray) -> np.ndarray:
        idx = np.round((np.asarray(xy) - self.origin) / CELL_M).astype(int)
        return np.clip(idx, 0, np.array(self.clearance_m.shape) - 1)

    def point(self, ij: np.ndarray) -> np.ndarray:
        return self.origin + np.asarray(ij) * CELL_M

    def clearance_at(self, xy: np.ndarray) -> np.ndarray:
        """Clearance (m) at plan points (..., 2), bilinear."""
        ij = (np.asarray(xy) - self.origin) / CELL_M
        return ndimage.map_coordinates(self.clearance_m, ij.reshape(-1, 2).T, order=1, mode="nearest").reshape(ij.shape[:-1])


def clearance_map(apartment: Apartment, objects: list[PlacedObject]) -> ClearanceMap:
    x0, y0, x1, y1 = apartment.bounds
    xs = np.arange(x0, x1 + CELL_M / 2, CELL_M)
    ys = np.arange(y0, y1 + CELL_M / 2, CELL_M)
    gx, gy = np.meshgrid(xs, ys, indexing="ij")
    room = apartment.room_at(gx, gy)
    free = room > 0
    free[[0, -1], :] = free[:, [0, -1]] = False  # the outer boundary
    for wx0, wy0, wx1, wy1 in apartment.walls:
        free &= ~((gx >= wx0) & (gx <= wx1) & (gy >= wy0) & (gy <= wy1))
    for obj in objects:
        if obj.aabb[2] < OBSTACLE_BELOW_M:
            a = obj.aabb
            free &= ~((gx >= a[0]) & (gx <= a[3]) & (gy >= a[1]) & (gy <= a[4]))
    clearance = ndimage.distance_transform_edt(free) * CELL_M
    return ClearanceMap(np.array([x0, y0]), clearance, room)


def _grid_graph(weights: np.ndarray, passable: np.ndarray) -> sparse.csr_matrix:
    """8-connected graph over passable cells; edge cost = length x mean cell weight."""
    nx, ny = passable.shape
    index = np.arange(nx * ny).reshape(nx, ny)
    rows, cols, costs = [], [], []
    for dx, dy in ((1, 0), (0, 1), (1, 1), (1, -1)):
        a = (slice(0, nx - dx), slice(max(0, -dy), ny - max(0, dy)))
        b = (slice(dx, nx), slice(max(0, dy), ny - max(0, -dy)))
        ok = passable[a] & passable[b]
        length = np.hypot(dx, dy)
        rows.append(index[a][ok])
        cols.append(index[b][ok])
        costs.append(length * 0.5 * (weights[a][ok] + weights[b][ok]))
    rows, cols, costs = np.concatenate(rows), np.concatenate(cols), np.concatenate(costs)
    return sparse.csr_matrix((np.concatenate([costs, costs]), (np.concatenate([rows, cols]), np.concatenate([cols, rows]))),
                             shape=(nx * ny, nx * ny))


class Planner:
    """Shortest paths that keep at least ``radius_m`` from obstacles and prefer open space."""

    def __init__(self, cmap: ClearanceMap, radius_m: float):
        self.cmap, self.radius_m = cmap, radius_m
        passable = cmap.clearance_m >= radius_m
        # Keep the largest connected walkable area, so every waypoint is reachable from every other.
        components, count = ndimage.label(passable, structure=np.ones((3, 3)))
        if count > 1:
            sizes = np.bincount(components.ravel())[1:]
            passable = components == 1 + int(np.argmax(sizes))
        self.passable = passable
        weights = 1.0 + 0.5 / np.maximum(cmap.clearance_m, 0.05)
        self.graph = _grid_graph(weights, self.passable)

    def free_cells(self, room_id: int | None = None) -> np.ndarray:
        mask = self.passable if room_id is None else self.passable & (self.cmap.room == room_id)
        return np.argwhere(mask)

    def room_centre(self, room_id: int) -> np.ndarray | None:
        """The passable cell of a room with the most clearance (plan metres), or None."""
        cells = self.free_cells(room_id)
        if not len(cells):
            return None
        best = cells[np.argmax(self.cmap.clearance_m[cells[:, 0], cells[:, 1]])]
        return self.cmap.point(best)

    def path(self, start: np.ndarray, goal: np.ndarray) -> np.ndarray | None:
        """(N, 2) plan points from ``start`` to ``goal`` through passable cells, or None if unreachable."""
        ny = self.passable.shape[1]
        s, g = self.cmap.cell(start), self.cmap.cell(goal)
        si, gi = s[0] * ny + s[1], g[0] * ny + g[1]
        _, predecessors = dijkstra(self.graph, indices=si, return_predecessors=True)
        if predecessors[gi] < 0 and si != gi:
            return None
        chain = [gi]
        while chain[-1] != si:
            chain.append(predecessors[chain[-1]])
        chain = np.array(chain[::-1])
        return self.cmap.point(np.column_stack([chain // ny, chain % ny]))


def smooth_path(points: np.ndarray, cmap: ClearanceMap, min_clearance_m: float, step_m: float = 0.02) -> np.ndarray:
    """Resample a polyline every ``step_m`` and smooth its corners, never below ``min_clearance_m``."""
    points = resample(points, step_m)
    for sigma_m in (0.6, 0.3, 0.15, 0.0):
        if sigma_m == 0.0:
            return points
        smooth = ndimage.gaussian_filter1d(points, sigma_m / step_m, axis=0, mode="nearest")
        smooth[0], smooth[-1] = points[0], points[-1]
        if np.all(cmap.clearance_at(smooth) >= min_clearance_m):
            return smooth
    return points


def resample(points: np.ndarray, step_m: float) -> np.ndarray:
    """Points every ``step_m`` along a polyline (N, D)."""
    seg = np.linalg.norm(np.diff(points, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    if s[-1] == 0:
        return points[:1].copy()
    targets = np.linspace(0, s[-1], max(2, int(np.ceil(s[-1] / step_m)) + 1))
    return np.column_stack([np.interp(targets, s, points[:, k]) for k in range(points.shape[1])])


def walk(points: np.ndarray, speed_mps: float, times_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions (T, 2) and headings (T,) rad at ``times_s`` walking the polyline at constant speed, back and forth."""
    seg = np.linalg.norm(np.diff(points, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    length = s[-1]
    if length == 0:
        return np.repeat(points[:1], len(times_s), axis=0), np.zeros(len(times_s))
    travelled = np.mod(np.asarray(times_s) * speed_mps, 2 * length)
    forward = travelled <= length
    along = np.where(forward, travelled, 2 * length - travelled)
    xy = np.column_stack([np.interp(along, s, points[:, 0]), np.interp(along, s, points[:, 1])])
    tangent = np.gradient(points, s, axis=0)
    heading = np.arctan2(np.interp(along, s, tangent[:, 1]), np.interp(along, s, tangent[:, 0]))
    heading = np.where(forward, heading, heading + np.pi)
    return xy, np.arctan2(np.sin(heading), np.cos(heading))
