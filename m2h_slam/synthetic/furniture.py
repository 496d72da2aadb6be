"""Furniture: a catalogue of NYU40 objects built from boxes and cylinders, room
recipes, and collision-free placement (against walls, free-standing, on top of or
around another object, hung on walls). Every object gets its own instance id.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from m2h_slam.core.labels import class_id
from m2h_slam.synthetic.layout import DOOR_HEIGHT_M, WALL_THICKNESS_M, Apartment, Room
from m2h_slam.synthetic.meshes import Mesh, box, cylinder, yaw_transform

GAP_M = 0.03  # between an object's back and the wall face


@dataclass
class PlacedObject:
    """An object in the world. center: (3,) box centre (m); extent: (3,) local size (w, d, h); yaw about z (rad)."""

    instance_id: int
    class_id: int
    name: str
    room_id: int
    center: np.ndarray
    extent: np.ndarray
    yaw_rad: float
    meshes: list[Mesh]  # world frame, labelled
    aabb: np.ndarray  # (6,) xmin, ymin, zmin, xmax, ymax, zmax
    surface_z: float  # height things are put on (m)
    parent: int | None = None


TOP_M = 0.04  # table-top thickness


def _top(w, d, h):
    return box([-w / 2, -d / 2, h - TOP_M], [w / 2, d / 2, h])


def _table(w, d, h):
    leg = 0.05
    parts = [_top(w, d, h)]
    for sx in (-1, 1):
        for sy in (-1, 1):
            x, y = sx * (w / 2 - 0.03 - leg / 2), sy * (d / 2 - 0.03 - leg / 2)
            parts.append(box([x - leg / 2, y - leg / 2, 0], [x + leg / 2, y + leg / 2, h - TOP_M]))
    return parts, h


def _chair(w, d, h):
    seat = 0.45
    parts, _ = _table(w, d, seat)
    parts.append(box([-w / 2, d / 2 - 0.05, seat], [w / 2, d / 2, h]))
    return parts, seat


def _bed(w, d, h):
    return [box([-w / 2, -d / 2, 0], [w / 2, d / 2 - 0.08, 0.48]), box([-w / 2, d / 2 - 0.08, 0], [w / 2, d / 2, h])], 0.48


def _sofa(w, d, h):
    seat, arm = 0.42, 0.15
    return [
        box([-w / 2 + arm, -d / 2, 0], [w / 2 - arm, d / 2 - 0.2, seat]),
        box([-w / 2, d / 2 - 0.2, 0], [w / 2, d / 2, h]),
        box([-w / 2, -d / 2, 0], [-w / 2 + arm, d / 2 - 0.2, 0.62]),
        box([w / 2 - arm, -d / 2, 0], [w / 2, d / 2 - 0.2, 0.62]),
    ], seat


def _shelf(w, d, h):
    t = 0.03
    parts = [box([-w / 2, -d / 2, 0], [-w / 2 + t, d / 2, h]), box([w / 2 - t, -d / 2, 0], [w / 2, d / 2, h]),
             box([-w / 2 + t, d / 2 - 0.02, 0], [w / 2 - t, d / 2, h])]
    for z in np.linspace(0.05, h - t, 5):
        parts.append(box([-w / 2 + t, -d / 2, z], [w / 2 - t, d / 2 - 0.02, z + t]))
    return parts, h


def _lamp(w, d, h):
    shade = min(0.3, h * 0.4)
    return [cylinder([0, 0], 0, 0.03, w / 2 * 0.8), cylinder([0, 0], 0.03, h - shade, 0.015, 8),
            cylinder([0, 0], h - shade, h, w / 2)], h


def _toilet(w, d, h):
    return [box([-0.19, -d / 2, 0], [0.19, d / 2 - 0.18, 0.42]), box([-w / 2, d / 2 - 0.18, 0], [w / 2, d / 2, h])], 0.42


def _bathtub(w, d, h):
    rim = 0.08
    return [box([-w / 2, -d / 2, 0], [w / 2, d / 2, 0.1]),
            box([-w / 2, -d / 2, 0.1], [w / 2, -d / 2 + rim, h]), box([-w / 2, d / 2 - rim, 0.1], [w / 2, d / 2, h]),
            box([-w / 2, -d / 2 + rim, 0.1], [-w / 2 + rim, d / 2 - rim, h]),
            box([w / 2 - rim, -d / 2 + rim, 0.1], [w / 2, d / 2 - rim, h])], h


def _block(w, d, h):
    return [box([-w / 2, -d / 2, 0], [w / 2, d / 2, h])], h


# Shape variants for varied furniture (``Furnisher(variety=...)``): same class, size and surface role, other form.
def _pedestal_table(w, d, h):
    foot = min(w, d) * 0.3
    return [_top(w, d, h), cylinder([0, 0], 0.03, h - TOP_M, 0.05, 8), box([-foot, -foot, 0], [foot, foot, 0.03])], h


def _panel_table(w, d, h):
    t = 0.04
    return [_top(w, d, h), box([-w / 2 + 0.05, -d / 2 + 0.05, 0], [-w / 2 + 0.05 + t, d / 2 - 0.05, h - TOP_M]),
            box([w / 2 - 0.05 - t, -d / 2 + 0.05, 0], [w / 2 - 0.05, d / 2 - 0.05, h - TOP_M])], h


def _stool(w, d, h):
    return _table(w, d, 0.45)


def _armchair(w, d, h):
    seat, arm = 0.42, 0.08
    return [box([-w / 2, -d / 2, 0], [w / 2, d / 2 - 0.1, seat]), box([-w / 2, d / 2 - 0.1, 0], [w / 2, d / 2, h]),
            box([-w / 2, -d / 2, seat], [-w / 2 + arm, d / 2 - 0.1, seat + 0.2]),
            box([w / 2 - arm, -d / 2, seat], [w / 2, d / 2 - 0.1, seat + 0.2])], seat


def _bed_on_legs(w, d, h):
    return _raised(w, d, 0.5, 0.25)  # a mattress on a frame, no headboard


def _armless_sofa(w, d, h):
    seat = 0.42
    return [box([-w / 2, -d / 2, 0], [w / 2, d / 2 - 0.2, seat]), box([-w / 2, d / 2 - 0.2, 0], [w / 2, d / 2, h])], seat


def _few_shelves(w, d, h):
    parts, surface = _shelf(w, d, h)
    return parts[:3] + parts[4::2], surface  # sides, back and every second board


def _box_shade_lamp(w, d, h):
    shade = min(0.3, h * 0.4)
    return [box([-w / 4, -d / 4, 0], [w / 4, d / 4, 0.03]), cylinder([0, 0], 0.03, h - shade, 0.015, 8),
            box([-w / 2, -d / 2, h - shade], [w / 2, d / 2, h])], h


def _raised(w, d, h, legs_m):
    """A block from ``legs_m`` up to ``h`` on a table-like frame of that height."""
    frame, _ = _table(w, d, legs_m)
    return frame + [box([-w / 2, -d / 2, legs_m], [w / 2, d / 2, h])], h


def _on_legs(w, d, h):
    return _raised(w, d, h, 0.12)


def _with_top(w, d, h):
    return [box([-w / 2 + 0.03, -d / 2 + 0.03, 0], [w / 2 - 0.03, d / 2 - 0.03, h - 0.03]),
            box([-w / 2, -d / 2, h - 0.03], [w / 2, d / 2, h])], h


@dataclass(frozen=True)
class Item:
    """Catalogue entry: NYU40 class, size ranges (w, d, h) in metres, builder (w, d, h) -> (meshes, surface_z)."""

    cls: str
    size: tuple[tuple[float, float], tuple[float, float], tuple[float, float]]
    build: Callable = _block


CATALOGUE = {
    "bed": Item("bed", ((1.2, 1.8), (1.9, 2.1), (0.9, 1.1)), _bed),
    "chair": Item("chair", ((0.42, 0.5), (0.42, 0.5), (0.85, 1.0)), _chair),
    "sofa": Item("sofa", ((1.6, 2.2), (0.8, 0.95), (0.75, 0.9)), _sofa),
    "coffee table": Item("table", ((0.8, 1.2), (0.5, 0.7), (0.4, 0.48)), _table),
    "dining table": Item("table", ((1.0, 1.6), (0.75, 0.95), (0.72, 0.78)), _table),
    "desk": Item("desk", ((1.1, 1.6), (0.6, 0.75), (0.72, 0.76)), _table),
    "cabinet": Item("cabinet", ((0.8, 1.6), (0.4, 0.55), (0.5, 0.9))),
    "dresser": Item("dresser", ((0.8, 1.3), (0.45, 0.55), (0.8, 1.1))),
    "night stand": Item("night stand", ((0.4, 0.5), (0.35, 0.45), (0.5, 0.6))),
    "bookshelf": Item("bookshelf", ((0.6, 1.0), (0.3, 0.4), (1.6, 2.0)), _shelf),
    "shelves": Item("shelves", ((0.6, 1.0), (0.3, 0.4), (0.8, 1.2)), _shelf),
    "floor lamp": Item("lamp", ((0.3, 0.4), (0.3, 0.4), (1.4, 1.7)), _lamp),
    "table lamp": Item("lamp", ((0.2, 0.3), (0.2, 0.3), (0.35, 0.5)), _lamp),
    "television": Item("television", ((0.8, 1.2), (0.06, 0.08), (0.5, 0.7))),
    "monitor": Item("television", ((0.5, 0.65), (0.05, 0.06), (0.35, 0.45))),
    "toilet": Item("toilet", ((0.4, 0.45), (0.65, 0.72), (0.75, 0.82)), _toilet),
    "sink": Item("sink", ((0.5, 0.6), (0.4, 0.5), (0.82, 0.88))),
    "counter sink": Item("sink", ((0.45, 0.6), (0.35, 0.45), (0.04, 0.06))),
    "bathtub": Item("bathtub", ((1.5, 1.7), (0.7, 0.8), (0.5, 0.6)), _bathtub),
    "counter": Item("counter", ((1.2, 2.4), (0.58, 0.62), (0.88, 0.92))),
    "refrigerator": Item("refrigerator", ((0.6, 0.75), (0.6, 0.7), (1.7, 1.9))),
    "picture": Item("picture", ((0.4, 1.0), (0.03, 0.04), (0.3, 0.7))),
    "mirror": Item("mirror", ((0.5, 0.7), (0.02, 0.03), (0.6, 0.8))),
    "towel": Item("towel", ((0.3, 0.5), (0.04, 0.05), (0.5, 0.7))),
    "pillow": Item("pillow", ((0.45, 0.6), (0.3, 0.4), (0.1, 0.14))),
    "box": Item("box", ((0.3, 0.5), (0.3, 0.5), (0.25, 0.45))),
}

VARIANTS: dict[str, tuple[Callable, ...]] = {  # other forms of a catalogue item, besides its own builder
    "chair": (_stool, _armchair), "bed": (_bed_on_legs,), "sofa": (_armless_sofa,),
    "coffee table": (_pedestal_table, _panel_table), "dining table": (_pedestal_table, _panel_table),
    "desk": (_panel_table, _with_top), "cabinet": (_on_legs, _with_top), "dresser": (_on_legs, _with_top),
    "night stand": (_on_legs, _with_top), "bookshelf": (_few_shelves,), "shelves": (_few_shelves, _with_top),
    "floor lamp": (_box_shade_lamp,), "table lamp": (_box_shade_lamp,), "counter": (_with_top,),
    "box": (_with_top,),
}
VARIED_SCALE = (0.8, 1.25)  # size range of varied furniture, as a factor on the catalogue's range

# (item, placement, (min, max) count, parent item or None). Placement: wall, free, hang, on, on-back, around, front.
RECIPES: dict[str, list[tuple[str, str, tuple[int, int], str | None]]] = {
    "living room": [
        ("sofa", "wall", (1, 1), None), ("pillow", "on-back", (1, 2), "sofa"),
        ("coffee table", "free", (1, 1), None), ("cabinet", "wall", (1, 1), None), ("television", "on-back", (1, 1), "cabinet"),
        ("bookshelf", "wall", (0, 1), None), ("floor lamp", "free", (0, 1), None), ("chair", "free", (0, 1), None),
        ("picture", "hang", (1, 2), None),
    ],
    "bedroom": [
        ("bed", "wall", (1, 1), None), ("pillow", "on-back", (1, 2), "bed"),
        ("night stand", "wall", (1, 2), None), ("table lamp", "on", (0, 1), "night stand"),
        ("dresser", "wall", (0, 1), None), ("chair", "free", (0, 1), None), ("box", "free", (0, 1), None),
        ("picture", "hang", (1, 1), None),
    ],
    "kitchen": [
        ("counter", "wall", (1, 2), None), ("counter sink", "on", (1, 1), "counter"),
        ("refrigerator", "wall", (1, 1), None), ("dining table", "free", (1, 1), None),
        ("chair", "around", (2, 4), "dining table"), ("cabinet", "wall", (0, 1), None), ("picture", "hang", (0, 1), None),
    ],
    "bathroom": [
        ("toilet", "wall", (1, 1), None), ("sink", "wall", (1, 1), None), ("bathtub", "wall", (0, 1), None),
        ("mirror", "hang", (1, 1), None), ("towel", "hang", (0, 1), None),
    ],
    "office": [
        ("desk", "wall", (1, 1), None), ("chair", "front", (1, 1), "desk"), ("monitor", "on-back", (0, 1), "desk"),
        ("table lamp", "on", (0, 1), "desk"), ("bookshelf", "wall", (1, 1), None), ("shelves", "wall", (0, 1), None),
        ("cabinet", "wall", (0, 1), None), ("picture", "hang", (0, 1), None), ("box", "free", (0, 1), None),
    ],
}


def _aabb(meshes: list[Mesh]) -> np.ndarray:
    points = np.vstack([m.vertices for m in meshes])
    return np.concatenate([points.min(0), points.max(0)])


def _overlaps(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.all(a[:3] < b[3:]) and np.all(b[:3] < a[3:]))


def _wall_sides(room: Room, apartment: Apartment):
    """(rect, side) pairs where a rect's side is a wall (not open to another cell of the same room).

    side: 0 = +y, 1 = +x, 2 = -y, 3 = -x, the direction from the room towards the wall.
    """
    eps = 1e-6
    for rect in room.rects:
        x0, y0, x1, y1 = rect
        mx, my = (x0 + x1) / 2, (y0 + y1) / 2
        probes = [(mx, y1 + eps), (x1 + eps, my), (mx, y0 - eps), (x0 - eps, my)]
        for side, (px, py) in enumerate(probes):
            if apartment.room_at(np.array([px]), np.array([py]))[0] != room.id:
                yield rect, side


SIDE_YAW = (0.0, -np.pi / 2, np.pi, np.pi / 2)  # yaw that turns local +y (an object's back) to each side


class Furnisher:
    """Places objects room by room; keeps the list of occupied 3D boxes. ``variety``: a generator for varied
    furniture (shape variants, sizes beyond the catalogue's range, one more of each optional item), drawn apart
    from ``rng`` so that the rest of the world is drawn as without it; None: the catalogue as it is."""

    def __init__(self, apartment: Apartment, rng: np.random.Generator, variety: np.random.Generator | None = None):
        self.apartment, self.rng, self.variety = apartment, rng, variety
        self.objects: list[PlacedObject] = []
        self.blocked: list[np.ndarray] = []  # door passages and windows
        for door in apartment.doors:
            c = door.center
            reach = 0.9 + WALL_THICKNESS_M
            half_along = (door.hi - door.lo) / 2 + 0.1
            dx, dy = (half_along, reach) if door.axis == "x" else (reach, half_along)
            self.blocked.append(np.array([c[0] - dx, c[1] - dy, 0.0, c[0] + dx, c[1] + dy, DOOR_HEIGHT_M + 0.1]))
        for w in apartment.windows:
            self.blocked.append(np.array([w[0] - 0.12, w[1] - 0.12, w[2], w[3] + 0.12, w[4] + 0.12, w[5]]))

    def furnish(self) -> list[PlacedObject]:
        for room in self.apartment.rooms:
            placed_by_item: dict[str, list[PlacedObject]] = {}
            for item_name, placement, (lo, hi), parent_name in RECIPES[room.type]:
                parents = placed_by_item.get(parent_name, [None]) if parent_name else [None]
                for parent in parents:
                    if parent_name and parent is None:
                        continue
                    extra = int(self.variety.integers(2)) if self.variety is not None and lo < hi else 0
                    for _ in range(int(self.rng.integers(lo, hi + 1)) + extra):
                        obj = self._place(room, item_name, placement, parent)
                        if obj is not None:
                            placed_by_item.setdefault(item_name, []).append(obj)
        return self.objects

    def _place(self, room: Room, item_name: str, placement: str, parent: PlacedObject | None) -> PlacedObject | None:
        item = CATALOGUE[item_name]
        rng = self.rng
        w, d, h = (float(np.round(rng.uniform(*r), 3)) for r in item.size)
        build = item.build
        if self.variety is not None:
            w, d, h = (float(np.round(v * self.variety.uniform(*VARIED_SCALE), 3)) for v in (w, d, h))
            forms = (item.build, *VARIANTS.get(item_name, ()))
            build = forms[int(self.variety.integers(len(forms)))]
        local, surface = build(w, d, h)
        walls = list(_wall_sides(room, self.apartment))
        for _ in range(60):
            z = 0.0
            if placement in ("wall", "hang"):
                rect, side = walls[rng.integers(len(walls))]
                yaw = SIDE_YAW[side]
                face_inset = WALL_THICKNESS_M / 2 + GAP_M + d / 2
                along = (rect[0], rect[2]) if side in (0, 2) else (rect[1], rect[3])
                span = (along[0] + WALL_THICKNESS_M / 2 + w / 2 + 0.05, along[1] - WALL_THICKNESS_M / 2 - w / 2 - 0.05)
                if span[0] >= span[1]:
                    continue
                t = rng.uniform(*span)
                x, y = {0: (t, rect[3] - face_inset), 1: (rect[2] - face_inset, t),
                        2: (t, rect[1] + face_inset), 3: (rect[0] + face_inset, t)}[side]
                if placement == "hang":
                    z = float(rng.uniform(1.2, min(1.9, self.apartment.height_m - 0.2) - h * 0.5))
            elif placement == "free":
                rect = room.rects[rng.integers(len(room.rects))]
                margin = WALL_THICKNESS_M / 2 + 0.5 + max(w, d) / 2
                if rect[0] + margin >= rect[2] - margin or rect[1] + margin >= rect[3] - margin:
                    continue
                x, y = rng.uniform(rect[0] + margin, rect[2] - margin), rng.uniform(rect[1] + margin, rect[3] - margin)
                yaw = float(rng.integers(4)) * np.pi / 2
            else:  # relative to the parent
                pw, pd, _ = parent.extent
                yaw = parent.yaw_rad
                if placement in ("on", "on-back"):
                    if w > pw or d > pd:
                        return None
                    ly = pd / 2 - d / 2 - 0.1 if placement == "on-back" else rng.uniform(-(pd - d) / 2, (pd - d) / 2)
                    lx = rng.uniform(-(pw - w) / 2, (pw - w) / 2)
                    z = parent.surface_z
                elif placement == "front":
                    lx, ly, yaw = 0.0, -pd / 2 - 0.3, yaw + np.pi
                else:  # around a table: one of its four sides, facing it
                    side = int(rng.integers(4))
                    lx, ly = [(0, -pd / 2 - 0.3), (pw / 2 + 0.3, 0), (0, pd / 2 + 0.3), (-pw / 2 - 0.3, 0)][side]
                    lx += rng.uniform(-0.1, 0.1) * (side % 2 == 0) * pw
                    yaw = yaw + [np.pi, np.pi / 2, 0.0, -np.pi / 2][side]
                c, s = np.cos(parent.yaw_rad), np.sin(parent.yaw_rad)
                x, y = parent.center[0] + c * lx - s * ly, parent.center[1] + s * lx + c * ly
            world_T_local = yaw_transform(x, y, z, yaw)
            meshes = [m.transformed(world_T_local) for m in local]
            aabb = _aabb(meshes)
            if not self._fits(room, aabb, parent if placement.startswith("on") else None):
                continue
            instance = len(self.objects) + 1
            obj = PlacedObject(
                instance, class_id(item.cls), item_name, room.id, np.array([x, y, z + h / 2]), np.array([w, d, h]),
                float(np.arctan2(np.sin(yaw), np.cos(yaw))), [m.labelled(class_id(item.cls), instance) for m in meshes],
                aabb, z + surface, parent.instance_id if parent else None,
            )
            self.objects.append(obj)
            return obj
        return None

    def _fits(self, room: Room, aabb: np.ndarray, support: PlacedObject | None) -> bool:
        inset = WALL_THICKNESS_M / 2 + 0.01
        inside = any(
            r[0] + inset <= aabb[0] and aabb[3] <= r[2] - inset and r[1] + inset <= aabb[1] and aabb[4] <= r[3] - inset
            for r in room.rects
        )
        if not inside or aabb[5] > self.apartment.height_m - 0.05:
            return False
        if any(_overlaps(aabb, b) for b in self.blocked):
            return False
        lifted = aabb.copy()
        lifted[2] += 1e-3  # resting on a support is not a collision
        return not any(_overlaps(lifted, o.aabb) for o in self.objects if support is None or o is not support)
