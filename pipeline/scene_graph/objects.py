"""The object layer: instances from the per-frame semantic masks, associated in 3D and merged over time.

Per frame: each object class's mask (the class table's ``object`` flag; people and other dynamic
classes never) is cut along predicted edges and depth discontinuities with the fusion's thresholds
(``FusionConfig.edge_threshold``, ``discontinuity_ratio``; all measured depth, also beyond the fusion's
range: far objects are placed too) and split into connected components; components of at least ``object_min_pixels`` are back-projected to the world. A
component joins the object of its class that holds at least ``object_min_overlap`` of its voxels
(``object_voxel_m`` grid), else the one whose centroid is within ``object_gate_m``, else it starts
a candidate. Evidence over time, not single masks, makes a node: a candidate is confirmed once it was
segmented in ``object_min_observations`` frames and in at least ``object_min_view_share`` of the frames
that had its centre in view with a surface measured there (a mask that flickers on for a few frames is
not an object); and the map decides its class: among the fused labels of the map's surface voxels in its
cells the object classes vote by evidence, the winner is its class, and its share is the
``class_confidence`` in the graph (below ``object_min_class_share`` it is no node). ``merge`` joins
objects of one class that overlap. A confirmed object is gone when ``object_misses_to_go`` frames in a
row see through it (the measured depth lies well behind ``object_empty_share`` of its voxels in view:
``object_see_through_m`` plus ``object_see_through_share`` of the depth) from viewpoints at least
``object_gone_baseline_m`` apart (three times as many frames from one viewpoint, a camera standing
still); an object of its class that appeared about when it was last seen takes its id instead (one node,
with where and when it moved; a move shorter than ``object_moved_min_m`` is the same object placed again
after drift or depth noise, not a move).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from m2h_slam.core.config import FusionConfig, GraphConfig
from m2h_slam.core.discontinuities import depth_discontinuities, valid_depth
from m2h_slam.core.geometry import backproject_pixels, invert_transform, project, transform_points
from m2h_slam.core.intrinsics import Intrinsics
from m2h_slam.core.labels import IS_DYNAMIC, IS_OBJECT, NYU40
from m2h_slam.core.records import PoseCorrection
from m2h_slam.core.voxels import column_keys, key_steps, pack_keys, unpack_keys
from pipeline.scene_graph.records import ObjectRecord
from pipeline.scene_graph.segments import class_mask, class_segments

log = logging.getLogger("m2h_slam")

TOUCH_CELLS = 2  # same-class parts with at most one empty voxel between them touch (a seat and its back)


@dataclass(frozen=True)
class MapSupport:
    """The map's surface voxels in an object's cells: votes (classes,) fused evidence per class; points (N, 3) m
    world frame and their labels (N,)."""

    votes: np.ndarray
    points: np.ndarray
    labels: np.ndarray


@dataclass
class _Object:
    id: int
    class_id: int
    voxels: np.ndarray  # (K,) sorted int64 keys (core.voxels.pack_keys) of the object_voxel_m cells it occupies
    observations: int
    first_seen_s: float
    last_seen_s: float
    votes: float = 0.0  # summed confidence of the segments
    moved: list = field(default_factory=list)
    misses: int = 0  # frames in a row that saw through it
    views: int = 0  # frames that had its centre in view, unoccluded
    miss_from: list | None = None  # camera position (3,) m at the first miss of the current run of misses
    cached: tuple = field(default=(None, None), repr=False, compare=False)  # (voxels, their centres)


def segments(semantics: np.ndarray, depth_m: np.ndarray, edges: np.ndarray, min_pixels: int,
             fusion: FusionConfig) -> list[tuple[int, np.ndarray]]:
    """(class id, (N, 2) int pixel (row, col)) of every object segment of a frame: pixels with depth, not on a
    predicted edge nor a depth discontinuity (the fusion's thresholds)."""
    labels = np.asarray(semantics)
    usable = valid_depth(depth_m) & (edges <= fusion.edge_threshold)
    usable &= ~depth_discontinuities(depth_m, fusion.discontinuity_ratio)
    objectish = usable & class_mask(labels, IS_OBJECT & ~IS_DYNAMIC)
    width = labels.shape[1]
    return [(class_id, np.stack(np.divmod(pixels, width), axis=1))
            for class_id, pixels in class_segments(labels, objectish, min_pixels)]


class ObjectLayer:
    """Objects of a run, in the world frame of the map (see the module doc)."""

    def __init__(self, config: GraphConfig, intrinsics: Intrinsics, fusion: FusionConfig = FusionConfig()):
        """``fusion``: the map's fusion settings (which pixels are cut away: edges, discontinuities, depth range)."""
        self.config, self.K, self.fusion = config, intrinsics, fusion
        self.objects: list[_Object] = []
        self.next_id = 1
        self.events: list[str] = []  # objects gone or moved

    # -- per frame -----------------------------------------------------------------------------
    def observe(self, time_s: float, semantics: np.ndarray, depth_m: np.ndarray, edges: np.ndarray,
                confidence: np.ndarray, world_T_camera: np.ndarray) -> int:
        """Add one frame's segments; returns how many there were."""
        camera_T_world = np.linalg.inv(world_T_camera)
        self._count_views(depth_m, camera_T_world)
        self._check_presence(depth_m, camera_T_world, time_s)
        found = segments(semantics, depth_m, edges, self.config.object_min_pixels, self.fusion)
        rng = np.random.default_rng(0)
        for class_id, pixels in found:
            if len(pixels) > self.config.object_max_points_per_segment:
                pixels = pixels[rng.choice(len(pixels), self.config.object_max_points_per_segment, replace=False)]
            rows, cols = pixels[:, 0], pixels[:, 1]
            points = transform_points(world_T_camera, backproject_pixels(cols, rows, depth_m[rows, cols], self.K))
            self._associate(class_id, self._keys(points), float(np.mean(confidence[rows, cols])), time_s)
        return len(found)

    def move(self, correction: PoseCorrection) -> None:
        """Move every object with the correction of the time it was last seen (a loop closure moved the map); the
        next merge joins the copies the drift had made."""
        for obj, T in zip(self.objects, correction.at([o.last_seen_s for o in self.objects])):
            if np.allclose(T, np.eye(4)):
                continue
            obj.voxels = self._keys(transform_points(T, self._centres(obj.voxels)))
            obj.cached = (None, None)
            if obj.miss_from is not None:
                obj.miss_from = transform_points(T, np.asarray(obj.miss_from, np.float64)[None])[0].tolist()

    def _keys(self, points: np.ndarray) -> np.ndarray:
        return np.unique(pack_keys(np.floor(points / self.config.object_voxel_m)))

    def _centres(self, keys: np.ndarray) -> np.ndarray:
        return (unpack_keys(keys) + 0.5) * self.config.object_voxel_m

    def _associate(self, class_id: int, keys: np.ndarray, confidence: float, time_s: float) -> None:
        c = self.config
        same = [o for o in self.objects if o.class_id == class_id]
        best, best_overlap = None, 0.0
        for obj in same:
            overlap = np.isin(keys, obj.voxels, assume_unique=True).mean()
            if overlap > best_overlap:
                best, best_overlap = obj, overlap
        if best_overlap < c.object_min_overlap:
            centre = self._centres(keys).mean(axis=0)
            near = [(np.linalg.norm(self._centres(o.voxels).mean(axis=0) - centre), o) for o in same]
            near = [(d, o) for d, o in near if d < c.object_gate_m]
            best = min(near, key=lambda t: t[0])[1] if near else None
        if best is None:
            self.objects.append(_Object(self.next_id, class_id, keys, 1, time_s, time_s, confidence))
            self.next_id += 1
            return
        best.voxels = np.union1d(best.voxels, keys)
        best.observations += 1
        best.last_seen_s = time_s
        best.votes += confidence

    def confirmed(self, obj: _Object) -> bool:
        """Segmented often enough, and in enough of the frames that had it in view, to be an object."""
        c = self.config
        return (obj.observations >= c.object_min_observations
                and obj.observations >= c.object_min_view_share * obj.views)

    def _depth_at(self, points_world: np.ndarray, camera_T_world: np.ndarray,
                  depth_m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(z (N,) m of the world points (N, 3) in the camera, the measured depth (N,) m at their pixels (0 where
        none), in view (N,): in front of the camera and inside the image)."""
        pixels, z = project(transform_points(camera_T_world, points_world), self.K)
        ahead = z > 0.1
        u, v = np.where(ahead[:, None], np.rint(pixels), -1).astype(int).T
        height, width = depth_m.shape
        inside = ahead & (u >= 0) & (v >= 0) & (u < width) & (v < height)
        measured = np.zeros(len(z))
        measured[inside] = depth_m[v[inside], u[inside]]
        return z, measured, inside

    def _count_views(self, depth_m: np.ndarray, camera_T_world: np.ndarray) -> None:
        """Count a view for each object whose centre projects into the frame where the measured depth puts a
        surface about there: not well in front (occluded) nor well behind (seen through: evidence of absence,
        which ``_check_presence`` weighs)."""
        if not self.objects:
            return
        centres = np.array([self._centres_of(o).mean(axis=0) for o in self.objects])
        z, measured, inside = self._depth_at(centres, camera_T_world, depth_m)
        c = self.config
        visible = inside & (measured > z - c.object_see_through_m)
        visible &= measured <= z * (1 + c.object_see_through_share) + c.object_see_through_m
        for obj in np.array(self.objects, dtype=object)[visible]:
            obj.views += 1

    # -- periodic passes -----------------------------------------------------------------------
    def _same_object(self, a: _Object, b: _Object) -> bool:
        """One class, and half of the smaller one's voxels shared, or voxels that touch, or half of its footprint
        shared with the two stacked at most ``object_stack_gap_cells`` apart (a shelf cut into levels, a lamp's
        shade and foot)."""
        if a.class_id != b.class_id:
            return False
        small = min(len(a.voxels), len(b.voxels))
        if np.isin(a.voxels, b.voxels, assume_unique=True).sum() >= 0.5 * small:
            return True
        (lo_a, hi_a), (lo_b, hi_b) = self._cell_bounds(a), self._cell_bounds(b)
        near = np.all((lo_a <= hi_b + TOUCH_CELLS) & (lo_b <= hi_a + TOUCH_CELLS))
        if near and np.isin(b.voxels, _neighbourhood(a.voxels)).any():
            return True  # parts that touch (a chair's back and seat cut apart at an edge)
        (ka, za), (kb, zb) = self._footprint(a.voxels), self._footprint(b.voxels)
        shared = np.isin(ka, kb, assume_unique=True).sum()
        gap = max(za[0], zb[0]) - min(za[1], zb[1])
        return shared >= 0.5 * min(len(ka), len(kb)) and gap <= self.config.object_stack_gap_cells

    @staticmethod
    def _cell_bounds(obj: _Object) -> tuple[np.ndarray, np.ndarray]:
        """(lowest, highest) voxel cell (3,) of an object."""
        cells = unpack_keys(obj.voxels)
        return cells.min(axis=0), cells.max(axis=0)

    def _centres_of(self, obj: _Object) -> np.ndarray:
        """An object's voxel centres (K, 3) m, world frame, cached until its voxels change."""
        if obj.cached[0] is not obj.voxels:
            obj.cached = (obj.voxels, self._centres(obj.voxels))
        return obj.cached[1]

    @staticmethod
    def _footprint(keys: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
        """(xy cell keys, (lowest, highest) z cell) of voxel keys."""
        z = unpack_keys(keys)[:, 2]
        return np.unique(column_keys(keys)), (int(z.min()), int(z.max()))

    def merge(self) -> int:
        """Join objects that are one (``_same_object``); returns the number of merges."""
        merged = 0
        k = 0
        while k < len(self.objects):
            a = self.objects[k]
            for b in self.objects[k + 1:]:
                if self._same_object(a, b):
                    keep, drop = (a, b) if a.observations >= b.observations else (b, a)
                    keep.voxels = np.union1d(keep.voxels, drop.voxels)
                    keep.observations += drop.observations
                    keep.first_seen_s = min(keep.first_seen_s, drop.first_seen_s)
                    keep.last_seen_s = max(keep.last_seen_s, drop.last_seen_s)
                    keep.votes += drop.votes
                    keep.views = max(keep.views, drop.views)  # mostly the same frames
                    self.objects.remove(drop)
                    merged += 1
                    break
            else:
                k += 1
        return merged

    def _check_presence(self, depth_m: np.ndarray, camera_T_world: np.ndarray, time_s: float) -> None:
        """Count frames that see through a confirmed object (the measured depth lies well behind most of its
        voxels in view); after ``object_misses_to_go`` such frames in a row the object is gone, or moved."""
        camera = invert_transform(camera_T_world)[:3, 3]  # the camera's position, world frame
        c = self.config
        for obj in [o for o in self.objects if self.confirmed(o)]:
            z, measured, inside = self._depth_at(self._centres_of(obj), camera_T_world, depth_m)
            valid = inside & (measured > 0)
            if valid.sum() < c.object_min_voxels_in_view:
                continue
            behind = z[valid] * (1 + c.object_see_through_share) + c.object_see_through_m
            if (measured[valid] > behind).mean() < c.object_empty_share:
                obj.misses, obj.miss_from = 0, None
                continue
            obj.misses += 1
            if obj.miss_from is None:
                obj.miss_from = camera.tolist()
            baseline = np.linalg.norm(camera - np.array(obj.miss_from))
            if obj.misses >= c.object_misses_to_go * (1 if baseline >= c.object_gone_baseline_m else 3):
                self._gone(obj, time_s)

    def _gone(self, obj: _Object, time_s: float) -> None:
        """Drop ``obj``; an object of its class that appeared about when it was last seen takes its id
        (the same object, moved)."""
        self.objects.remove(obj)
        before = self._centres(obj.voxels).mean(axis=0)
        later = [o for o in self.objects if o.class_id == obj.class_id and o.first_seen_s > obj.first_seen_s
                 and o.first_seen_s >= obj.last_seen_s - self.config.object_moved_within_s]
        if not later:
            self.events.append(f"{time_s:.2f} s: object {obj.id} ({NYU40[obj.class_id].name}) is gone: "
                               "its space is seen empty")
            return
        successor = min(later, key=lambda o: np.linalg.norm(self._centres(o.voxels).mean(axis=0) - before))
        after = self._centres(successor.voxels).mean(axis=0)
        moved = np.linalg.norm(after - before) >= self.config.object_moved_min_m
        move = {"time_s": round(successor.first_seen_s, 6), "from": np.round(before, 4).tolist(),
                "to": np.round(after, 4).tolist()}
        successor.moved = obj.moved + ([move] if moved else [])
        successor.id, successor.first_seen_s = obj.id, obj.first_seen_s
        successor.observations += obj.observations
        successor.votes += obj.votes
        if moved:  # closer, it is the same object placed again (drift, depth noise): no claim of a move
            self.events.append(f"{time_s:.2f} s: object {obj.id} ({NYU40[obj.class_id].name}) moved from "
                               f"{np.round(before, 2).tolist()} to {np.round(after, 2).tolist()}")

    # -- results ---------------------------------------------------------------------------------
    def map_support(self, points: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> dict[int, MapSupport]:
        """What the map holds in each confirmed object's cells: ``points`` (N, 3) m world frame, ``labels`` (N,)
        fused labels and ``weights`` (N,) their evidence, of the map's surface voxels; object classes only."""
        keep = (IS_OBJECT & ~IS_DYNAMIC)[np.clip(labels, 0, len(IS_OBJECT) - 1)]
        points, labels, weights = points[keep], labels[keep], weights[keep]
        keys = pack_keys(np.floor(points / self.config.object_voxel_m))
        support = {}
        for obj in self.objects:
            if self.confirmed(obj):
                inside = np.isin(keys, obj.voxels)
                support[obj.id] = MapSupport(np.bincount(labels[inside], weights[inside], minlength=len(NYU40)),
                                             points[inside], labels[inside])
        return support

    def _as_shown(self, obj: _Object, support: dict[int, MapSupport] | None
                  ) -> tuple[int, float, np.ndarray] | None:
        """(class id, class confidence, points (N, 3) m world frame that place it) of a confirmed object as the
        graph shows it, or None when the map does not back it (see ``records``)."""
        world_points = self._centres(obj.voxels)
        if support is None:
            return obj.class_id, 1.0, world_points
        held = support.get(obj.id)
        if held is None or held.votes.sum() <= 0:  # not in the map (beyond the fusion's range): the segments' word
            return obj.class_id, obj.votes / obj.observations, world_points
        class_id = int(np.argmax(held.votes))
        class_confidence = float(held.votes[class_id] / held.votes.sum())
        if class_confidence < self.config.object_min_class_share:
            return None
        mine = held.points[held.labels == class_id]
        # fused over many views: a better place than the union of the masks
        return class_id, class_confidence, mine if len(mine) >= 3 else world_points

    def _shown(self, support: dict[int, MapSupport] | None) -> list[tuple[_Object, int, float, np.ndarray]]:
        """(object, class id, class confidence, world points) of every object the graph shows, by id."""
        out = []
        for obj in sorted(self.objects, key=lambda o: o.id):
            shown = self._as_shown(obj, support) if self.confirmed(obj) else None
            if shown is not None:
                out.append((obj, *shown))
        return out

    def records(self, map_T_world: np.ndarray, support: dict[int, MapSupport] | None = None) -> list[ObjectRecord]:
        """Confirmed objects in the map frame, by id. ``support`` (``map_support``): where the map holds an object,
        its fused labels decide the object's class and ``class_confidence`` (objects it does not back enough are
        left out), and its surface voxels of that class give the place and box; where it does not (beyond the
        fusion's range) the segments' class stands, with their mean class probability as the confidence. Without
        ``support`` the segments' class and cells stand."""
        out = []
        for obj, class_id, class_confidence, world_points in self._shown(support):
            points = transform_points(map_T_world, world_points)
            centre, extent, yaw = _yaw_box(points, self.config.object_voxel_m)
            moved = tuple({**m, "from": transform_points(map_T_world, np.array([m["from"]]))[0].round(4).tolist(),
                           "to": transform_points(map_T_world, np.array([m["to"]]))[0].round(4).tolist()}
                          for m in obj.moved)
            half = self.config.object_voxel_m / 2
            aabb = (tuple((points.min(axis=0) - half).round(4)), tuple((points.max(axis=0) + half).round(4)))
            out.append(ObjectRecord(obj.id, class_id, points.mean(axis=0), centre, extent, yaw, len(obj.voxels),
                                    obj.observations, obj.first_seen_s, obj.last_seen_s,
                                    obj.votes / obj.observations, moved, aabb, round(class_confidence, 4)))
        return out

    def voxel_owners(self, map_T_world: np.ndarray, support: dict[int, MapSupport] | None = None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(centres (N, 3) m in the map frame, object id (N,), class id (N,)) of every voxel of the objects that
        ``records`` gives (same ``support``), with their class there."""
        parts = [(transform_points(map_T_world, self._centres(o.voxels)), np.full(len(o.voxels), o.id),
                  np.full(len(o.voxels), class_id)) for o, class_id, _, _ in self._shown(support)]
        if not parts:
            return np.zeros((0, 3)), np.zeros(0, np.int64), np.zeros(0, np.int64)
        return tuple(np.concatenate(p) for p in zip(*parts))

    # -- snapshots -------------------------------------------------------------------------------
    def state(self) -> dict:
        return {"next_id": self.next_id, "objects": [
            {"id": o.id, "class_id": o.class_id, "voxels": o.voxels.tolist(), "observations": o.observations,
             "first_seen_s": o.first_seen_s, "last_seen_s": o.last_seen_s, "votes": o.votes, "moved": o.moved,
             "misses": o.misses, "views": o.views, "miss_from": o.miss_from} for o in self.objects]}

    def load_state(self, state: dict) -> None:
        self.next_id = state["next_id"]
        self.objects = [_Object(o["id"], o["class_id"], np.array(o["voxels"], np.int64), o["observations"],
                                o["first_seen_s"], o["last_seen_s"], o["votes"], o["moved"], o["misses"],
                                o["views"], o["miss_from"])
                        for o in state["objects"]]


_NEAR = range(-TOUCH_CELLS, TOUCH_CELLS + 1)
_OFFSETS = key_steps(np.array([(dx, dy, dz) for dx in _NEAR for dy in _NEAR for dz in _NEAR]))


def _neighbourhood(keys: np.ndarray) -> np.ndarray:
    """The voxel keys and the cells up to ``TOUCH_CELLS`` away along each axis."""
    return np.unique((keys[:, None] + _OFFSETS[None]).ravel())


def _yaw_box(points: np.ndarray, voxel_m: float) -> tuple[np.ndarray, np.ndarray, float]:
    """(centre (3,), extent (3,), yaw rad) of the box about z that fits the points, its axes along the
    principal directions of their footprint."""
    xy = points[:, :2] - points[:, :2].mean(axis=0)
    if len(points) >= 3 and np.linalg.matrix_rank(xy) == 2:
        _, _, vt = np.linalg.svd(xy, full_matrices=False)
        yaw = float(np.arctan2(vt[0, 1], vt[0, 0]))
    else:
        yaw = 0.0
    c, s = np.cos(yaw), np.sin(yaw)
    local = xy @ np.array([[c, -s], [s, c]])
    lo = np.array([*local.min(axis=0), points[:, 2].min()]) - voxel_m / 2
    hi = np.array([*local.max(axis=0), points[:, 2].max()]) + voxel_m / 2
    mid = (lo + hi) / 2
    centre_xy = points[:, :2].mean(axis=0) + np.array([[c, -s], [s, c]]) @ mid[:2]
    return np.array([*centre_xy, mid[2]]), hi - lo, yaw
