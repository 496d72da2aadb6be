"""A complete synthetic world: apartment, furniture, walking people, an optionally
moved object, and the camera trajectory. Everything follows from one seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from m2h_slam.core.config import FPS, POSITIVE, SEED, Checked, Range, ranged
from m2h_slam.core.labels import class_id
from m2h_slam.synthetic.furniture import Furnisher, PlacedObject
from m2h_slam.synthetic.layout import Apartment, make_apartment
from m2h_slam.synthetic.meshes import Mesh, box, sphere, yaw_transform
from m2h_slam.synthetic.paths import ClearanceMap, Planner, clearance_map, smooth_path, walk

PERSON = class_id("person")
PERSON_RADIUS_M = 0.3
CAMERA_RADIUS_M = 0.3  # door openings are 0.8 m between the frames
MIN_CAMERA_DISTANCE_M = 0.8  # people keep at least this far from the camera when possible


@dataclass(frozen=True)
class WorldSpec(Checked):
    """What to generate. Speeds in m/s, heights in m."""

    seed: int = ranged(0, SEED)
    # the whole walk is planned before the first frame (12 s for 100k frames, 1.85 h at 15 fps)
    frames: int = ranged(300, Range(1, limit=100_000))
    fps: float = ranged(15.0, FPS)
    rooms: int = ranged(4, Range(2, 6))
    people: int = ranged(2, Range(0, 20))
    static_camera: bool = False
    move_object: bool = False
    camera_speed_mps: float = ranged(0.5, POSITIVE)
    camera_height_m: float = ranged(1.5, POSITIVE)
    person_speed_mps: float = ranged(1.0, POSITIVE)
    varied_furniture: bool = False  # shape variants and wider sizes (domain randomisation, ``synth --randomize``)


@dataclass
class Person:
    """A walking person. xy: (T, 2) plan position (m) and heading (T,) rad at the frame times."""

    instance_id: int
    xy: np.ndarray
    heading_rad: np.ndarray
    scale: float
    speed_mps: float

    def meshes(self, frame: int, time_s: float) -> list[Mesh]:
        """The body at a frame (world frame): legs swinging with the stride, torso, arms, head."""
        s = self.scale
        swing = 0.18 * np.sin(2 * np.pi * 1.8 * time_s * self.speed_mps) * s
        parts = [
            box([swing - 0.07, -0.15, 0], [swing + 0.07, -0.02, 0.85 * s]),
            box([-swing - 0.07, 0.02, 0], [-swing + 0.07, 0.15, 0.85 * s]),
            box([-0.12, -0.2, 0.85 * s], [0.12, 0.2, 1.45 * s]),
            box([-swing / 2 - 0.05, -0.28, 0.9 * s], [-swing / 2 + 0.05, -0.2, 1.42 * s]),
            box([swing / 2 - 0.05, 0.2, 0.9 * s], [swing / 2 + 0.05, 0.28, 1.42 * s]),
            sphere([0, 0, 1.57 * s], 0.11 * s),
        ]
        T = yaw_transform(self.xy[frame, 0], self.xy[frame, 1], 0.0, self.heading_rad[frame])
        return [m.transformed(T).labelled(PERSON, self.instance_id) for m in parts]


@dataclass
class MovedObject:
    """An object that jumps to another place at ``time_s``; ``after`` is its new placement."""

    before: PlacedObject
    after: PlacedObject
    time_s: float


@dataclass
class World:
    spec: WorldSpec
    apartment: Apartment
    objects: list[PlacedObject]  # all objects at their initial place (a moved one included)
    people: list[Person]
    moved: MovedObject | None
    times_s: np.ndarray  # (N,)
    world_T_camera: np.ndarray  # (N, 4, 4)
    clearance: ClearanceMap

    @property
    def static_meshes(self) -> list[Mesh]:
        """Walls, floors, ceilings, doors, windows and every object that never moves."""
        moved = self.moved.before.instance_id if self.moved else None
        return self.apartment.meshes + [m for o in self.objects if o.instance_id != moved for m in o.meshes]

    def dynamic_meshes(self, frame: int) -> list[Mesh]:
        """People and the moved object at a frame."""
        t = float(self.times_s[frame])
        meshes = [m for p in self.people for m in p.meshes(frame, t)]
        if self.moved:
            meshes += (self.moved.before if t < self.moved.time_s else self.moved.after).meshes
        return meshes


def camera_pose(position: np.ndarray, yaw_rad: float, pitch_rad: float) -> np.ndarray:
    """world_T_camera (OpenCV axes) for a camera at ``position`` looking along yaw (about z) and pitch (up +)."""
    forward = np.array([np.cos(yaw_rad) * np.cos(pitch_rad), np.sin(yaw_rad) * np.cos(pitch_rad), np.sin(pitch_rad)])
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    T = np.eye(4)
    T[:3, :3] = np.column_stack([right, down, forward])
    T[:3, 3] = position
    return T


def _room_order(apartment: Apartment, start: int) -> list[int]:
    """Rooms in depth-first order over the door graph from ``start``."""
    neighbours = {r.id: sorted({b if a == r.id else a for a, b in (d.rooms for d in apartment.doors) if r.id in (a, b)})
                  for r in apartment.rooms}
    order, stack = [], [start]
    while stack:
        room = stack.pop()
        if room not in order:
            order.append(room)
            stack += [n for n in reversed(neighbours[room]) if n not in order]
    return order


def _route(planner: Planner, waypoints: list[np.ndarray], cmap: ClearanceMap, radius_m: float) -> np.ndarray:
    """Smoothed path through reachable waypoints (unreachable ones are skipped)."""
    pieces, current = [], waypoints[0]
    for goal in waypoints[1:]:
        path = planner.path(current, goal)
        if path is not None and len(path) > 1:
            pieces.append(path if not pieces else path[1:])
            current = goal
    if not pieces:
        return np.array([current, current])
    return smooth_path(np.vstack(pieces), cmap, radius_m)


def _camera_trajectory(spec: WorldSpec, apartment: Apartment, planner: Planner, cmap: ClearanceMap,
                       rng: np.random.Generator, times_s: np.ndarray) -> np.ndarray:
    start_room = max(apartment.rooms, key=lambda r: r.area_m2).id
    height = spec.camera_height_m
    if spec.static_camera:  # in the largest room with space for the camera (furniture may fill one)
        room = next((r.id for r in sorted(apartment.rooms, key=lambda r: -r.area_m2) if len(planner.free_cells(r.id))),
                    start_room)
        centre = planner.room_centre(room)
        cells = planner.free_cells(room)
        far = cmap.point(cells[np.argmax(np.linalg.norm(cmap.point(cells) - centre, axis=1))])
        yaw = np.arctan2(*(far - centre)[::-1])
        pose = camera_pose(np.array([*centre, height]), yaw, -0.1)
        return np.repeat(pose[None], len(times_s), axis=0)
    order = _room_order(apartment, start_room)
    waypoints = [c for c in (planner.room_centre(r) for r in order) if c is not None]
    path = _route(planner, waypoints, cmap, CAMERA_RADIUS_M)
    xy, heading = walk(path, spec.camera_speed_mps, times_s)
    # Look where you walk, smoothed over about a second, and glance around.
    sigma = max(1.0, spec.fps * 0.6)
    yaw = ndimage.gaussian_filter1d(np.unwrap(heading), sigma, mode="nearest")
    phase = rng.uniform(0, 2 * np.pi, 3)
    yaw += 0.35 * np.sin(2 * np.pi * times_s / 7.0 + phase[0])
    pitch = -0.12 + 0.06 * np.sin(2 * np.pi * times_s / 5.0 + phase[1])
    z = height + 0.015 * np.sin(2 * np.pi * 1.8 * times_s + phase[2])
    return np.stack([camera_pose(np.array([x, y, h]), a, b) for (x, y), h, a, b in zip(xy, z, yaw, pitch)])


def _people(spec: WorldSpec, apartment: Apartment, planner: Planner, cmap: ClearanceMap,
            rng: np.random.Generator, times_s: np.ndarray, first_id: int, camera_xy: np.ndarray) -> list[Person]:
    people = []
    room_ids = [r.id for r in apartment.rooms]
    for k in range(spec.people):
        rooms = [int(rng.choice(room_ids))]
        while len(rooms) < 4:
            rooms.append(int(rng.choice([r for r in room_ids if r != rooms[-1]])))
        waypoints = []
        for r in rooms:
            cells = planner.free_cells(r)
            if len(cells):
                waypoints.append(cmap.point(cells[rng.integers(len(cells))]))
        path = _route(planner, waypoints, cmap, PERSON_RADIUS_M)
        speed = float(np.clip(rng.normal(spec.person_speed_mps, 0.1), 0.6, 1.5))
        # People start at different points of their walk, chosen so that nobody walks into the camera.
        best = None
        for offset in rng.uniform(0, 60.0, 24):
            xy, heading = walk(path, speed, times_s + offset)
            clearance = float(np.min(np.linalg.norm(xy - camera_xy, axis=1)))
            if best is None or clearance > best[0]:
                best = (clearance, xy, heading)
            if clearance >= MIN_CAMERA_DISTANCE_M:
                break
        people.append(Person(first_id + k, best[1], best[2], float(rng.uniform(0.92, 1.08)), speed))
    return people


def _move_one(furnisher: Furnisher, objects: list[PlacedObject], apartment: Apartment, rng: np.random.Generator,
              time_s: float) -> MovedObject | None:
    movable = [o for o in objects if o.name in ("chair", "box")]
    if not movable:
        return None
    before = movable[rng.integers(len(movable))]
    for room in rng.permutation(apartment.rooms):
        after = furnisher._place(room, before.name, "free", None)
        if after is not None:
            furnisher.objects.remove(after)
            after.instance_id = before.instance_id
            after.meshes = [m.labelled(before.class_id, before.instance_id) for m in after.meshes]
            return MovedObject(before, after, time_s)
    return None


def generate_world(spec: WorldSpec) -> World:
    """Build the world of ``spec`` (deterministic in ``spec.seed``)."""
    if spec.frames < 1 or spec.fps <= 0:
        raise ValueError("frames and fps must be positive")
    rng = np.random.default_rng(spec.seed)
    apartment = make_apartment(spec.rooms, rng)
    variety = np.random.default_rng([spec.seed, 15485863]) if spec.varied_furniture else None
    furnisher = Furnisher(apartment, rng, variety)
    objects = list(furnisher.furnish())
    times_s = np.arange(spec.frames) / spec.fps
    moved = _move_one(furnisher, objects, apartment, rng, float(times_s[len(times_s) // 2])) if spec.move_object else None
    # Paths avoid the moved object at both places.
    obstacles = objects + ([moved.after] if moved else [])
    cmap = clearance_map(apartment, obstacles)
    camera_planner = Planner(cmap, CAMERA_RADIUS_M)
    person_planner = Planner(cmap, PERSON_RADIUS_M)
    poses = _camera_trajectory(spec, apartment, camera_planner, cmap, rng, times_s)
    people = _people(spec, apartment, person_planner, cmap, rng, times_s, len(objects) + 1, poses[:, :2, 3])
    return World(spec, apartment, objects, people, moved, times_s, poses, cmap)

