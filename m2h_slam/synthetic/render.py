"""Ray-cast rendering of a synthetic world with exact ground truth.

Per frame: planar depth (m), camera-frame normals, NYU40 semantics, instance ids,
room ids, semantic/instance edges, and RGB: a procedural 3D texture per surface (the
same point looks the same from every view), Lambertian shading from one light per
room, optional exposure changes, blur and noise. Static geometry lives in one Open3D
``RaycastingScene`` (or another ray caster, e.g. ``m2h_slam.train.raycast_torch`` on a
GPU); people and moved objects are cast per frame, only for the pixels their bounding
boxes cover.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from m2h_slam.core.config import BLUR_SIGMA_PX, NOISE_LEVELS, Checked, Range, ranged
from m2h_slam.core.geometry import ray_directions
from m2h_slam.core.intrinsics import Intrinsics
from m2h_slam.core.labels import PALETTE, semantic_edges
from m2h_slam.core.o3d import open3d
from m2h_slam.core.records import Frame
from m2h_slam.synthetic.meshes import Mesh, merge
from m2h_slam.synthetic.randomize import Appearance, row_dot
from m2h_slam.synthetic.world import World

MAX_INSTANCES = 4096
NOISE_MARGIN_PX = 64  # camera noise: one field per renderer, (H + 64, W + 64), cut at a random offset per frame
ROOM_PROBE_M = 0.06  # step from a hit point towards the camera side to find its room


@dataclass(frozen=True)
class RenderOptions(Checked):
    """Image degradations: noise in 8-bit levels, blur sigma in pixels, exposure as relative gain amplitude;
    ``randomize``: domain randomisation (photographic textures, random lights and camera, see randomize.py;
    the camera's noise, blur and exposure then come from the seed unless given here)."""

    noise_std: float = ranged(0.0, NOISE_LEVELS)
    blur_sigma_px: float = ranged(0.0, BLUR_SIGMA_PX)
    exposure_variation: float = ranged(0.0, Range(0, 1))  # the gain 1 +- this stays non-negative
    randomize: bool = False


class Open3DRaycaster:
    """Triangles ``vertices`` (V, 3) m, ``triangles`` (T, 3) in an Open3D ``RaycastingScene`` (the default)."""

    def __init__(self, vertices: np.ndarray, triangles: np.ndarray):
        o3d = open3d()
        self.scene = o3d.t.geometry.RaycastingScene()
        self.scene.add_triangles(o3d.core.Tensor(vertices.astype(np.float32)), o3d.core.Tensor(triangles.astype(np.uint32)))

    def cast(self, rays: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(t_hit (N,) inf where nothing is hit, triangle id (N,) or -1, unit normal (N, 3)) for rays (N, 6):
        origin, direction (t in units of its length)."""
        hit = self.scene.cast_rays(open3d().core.Tensor(rays))
        t = hit["t_hit"].numpy()
        ids = hit["primitive_ids"].numpy().astype(np.int64)
        ids[~np.isfinite(t)] = -1
        return t, ids, hit["primitive_normals"].numpy()


#: (vertices (V, 3), triangles (T, 3)) -> an object whose ``cast(rays)`` answers as ``Open3DRaycaster.cast``
RaycasterFactory = Callable[[np.ndarray, np.ndarray], Any]


class _Surfaces:
    """Triangles in a ray caster with per-triangle class and instance."""

    def __init__(self, meshes: list[Mesh], raycaster: RaycasterFactory):
        vertices, triangles, classes, instances = merge(meshes)
        self._classes = np.concatenate([[0], classes]).astype(np.uint8)  # index = triangle id + 1
        self._instances = np.concatenate([[0], instances]).astype(np.uint16)
        self.cast = raycaster(vertices, triangles).cast

    def labels(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(class uint8, instance uint16) per triangle id; 0 where the id is -1 (no hit)."""
        return np.take(self._classes, ids + 1), np.take(self._instances, ids + 1)


class Renderer:
    """Renders frames of ``world`` with camera ``intrinsics``."""

    def __init__(self, world: World, intrinsics: Intrinsics, options: RenderOptions = RenderOptions(),
                 raycaster: RaycasterFactory = Open3DRaycaster):
        self.world, self.K, self.options, self.raycaster = world, intrinsics, options, raycaster
        self.static = _Surfaces(world.static_meshes, raycaster)
        W, H = intrinsics.width, intrinsics.height
        # Directions with z = 1: the ray parameter at a hit is the planar depth.
        self.rays_camera = ray_directions(intrinsics, np.float32).reshape(-1, 3)
        self._rays6 = np.empty((W * H, 6), np.float32)  # origin and world direction per pixel, filled per frame
        self._noise: np.ndarray | None = None
        rng = np.random.default_rng([world.spec.seed, 7919])
        # Per instance: albedo near its class colour; three texture waves (rad/m per axis) and phases.
        wavelengths = np.stack([rng.uniform(lo, hi, MAX_INSTANCES) for lo, hi in ((0.15, 0.3), (0.3, 0.7), (0.7, 1.6))], 1)
        directions = rng.normal(size=(3, MAX_INSTANCES, 3))
        directions /= np.linalg.norm(directions, axis=0, keepdims=True)
        self.waves = (directions * (2 * np.pi / wavelengths)).astype(np.float32)  # (axis, instance, wave)
        self.phases = rng.uniform(0, 2 * np.pi, (MAX_INSTANCES, 3)).astype(np.float32)
        class_of = np.zeros(MAX_INSTANCES, np.uint8)
        for mesh in world.static_meshes + world.dynamic_meshes(0):
            class_of[mesh.instance_id] = mesh.class_id
        self.albedo = (PALETTE[class_of] / 255.0 * rng.uniform(0.75, 1.15, (MAX_INSTANCES, 3))).astype(np.float32)
        self.exposure_phase = rng.uniform(0, 2 * np.pi)
        apartment = world.apartment
        self.lights = np.zeros((len(apartment.rooms) + 1, 3), np.float32)
        x0, y0, x1, y1 = apartment.bounds
        self.lights[0] = [(x0 + x1) / 2, (y0 + y1) / 2, apartment.height_m - 0.3]
        for room in apartment.rooms:
            x0, y0, x1, y1 = max(room.rects, key=lambda r: (r[2] - r[0]) * (r[3] - r[1]))
            self.lights[room.id] = [(x0 + x1) / 2, (y0 + y1) / 2, apartment.height_m - 0.3]
        self.appearance = Appearance(world.spec.seed, self.albedo, self.lights) if options.randomize else None
        if self.appearance is not None:  # the seed's camera, where the options leave it open
            camera = self.appearance.camera
            self.options = dataclasses.replace(
                options, noise_std=options.noise_std or camera.noise_std,
                blur_sigma_px=options.blur_sigma_px or camera.blur_sigma_px,
                exposure_variation=options.exposure_variation or camera.exposure_variation)

    def __len__(self) -> int:
        return len(self.world.times_s)

    def _cast_dynamic(self, frame: int, origin: np.ndarray, rays: np.ndarray, t, classes, instances, normals) -> None:
        """Overwrite hits where people or moved objects are nearer (in place)."""
        meshes = self.world.dynamic_meshes(frame)
        if not meshes:
            return
        camera_T_world = np.linalg.inv(self.world.world_T_camera[frame])
        K, W, H = self.K, self.K.width, self.K.height
        wanted = np.zeros((H, W), bool)
        for instance in sorted({m.instance_id for m in meshes}):
            points = np.vstack([m.vertices for m in meshes if m.instance_id == instance])
            corners = np.array([[x, y, z] for x in points[:, 0][[points[:, 0].argmin(), points[:, 0].argmax()]]
                                for y in (points[:, 1].min(), points[:, 1].max()) for z in (points[:, 2].min(), points[:, 2].max())])
            c = corners @ camera_T_world[:3, :3].T + camera_T_world[:3, 3]
            if np.all(c[:, 2] <= 0.01):
                continue
            if np.any(c[:, 2] <= 0.01):
                wanted[:] = True
                break
            u, v = K.fx * c[:, 0] / c[:, 2] + K.cx, K.fy * c[:, 1] / c[:, 2] + K.cy
            u0, u1 = int(np.clip(np.floor(u.min()), 0, W)), int(np.clip(np.ceil(u.max()) + 1, 0, W))
            v0, v1 = int(np.clip(np.floor(v.min()), 0, H)), int(np.clip(np.ceil(v.max()) + 1, 0, H))
            wanted[v0:v1, u0:u1] = True
        index = np.flatnonzero(wanted)
        if not len(index):
            return
        surfaces = _Surfaces(meshes, self.raycaster)
        sub = np.concatenate([np.broadcast_to(origin, (len(index), 3)), rays[index]], axis=1).astype(np.float32)
        t_dyn, ids, n_dyn = surfaces.cast(sub)
        nearer = (ids >= 0) & (t_dyn < t[index])
        index = index[nearer]
        t[index] = t_dyn[nearer]
        classes[index], instances[index] = surfaces.labels(ids[nearer])
        normals[index] = n_dyn[nearer]

    def render(self, frame: int) -> Frame:
        """Frame ``frame`` with every kind of ground truth."""
        world_T_camera = self.world.world_T_camera[frame]
        R = world_T_camera[:3, :3].astype(np.float32)
        origin = world_T_camera[:3, 3].astype(np.float32)
        rays6 = self._rays6
        rays6[:, :3] = origin
        rays = np.matmul(self.rays_camera, R.T, out=rays6[:, 3:])
        t, ids, normals = self.static.cast(rays6)
        classes, instances = self.static.labels(ids)
        self._cast_dynamic(frame, origin, rays, t, classes, instances, normals)
        hit = np.isfinite(t)
        depth = np.where(hit, t, np.float32(0.0)).astype(np.float32, copy=False)

        # Normals facing the camera.
        facing = normals * np.where(row_dot(normals, rays) > 0, np.float32(-1), np.float32(1))[:, None]
        facing[~hit] = 0
        normals_camera = (facing @ R).astype(np.float32)

        points = origin + rays * depth[:, None]
        probe = points + ROOM_PROBE_M * facing
        rooms = self.world.apartment.room_at(probe[:, 0], probe[:, 1])
        rooms[~hit] = 0

        rgb = self._shade(frame, points, facing, instances, rooms, hit)
        H, W = self.K.height, self.K.width
        semantics, instances = classes.reshape(H, W), instances.reshape(H, W)
        return Frame(
            frame, float(self.world.times_s[frame]), rgb, self.K,
            depth_m=depth.reshape(H, W), world_T_camera=world_T_camera.copy(), semantics=semantics,
            instances=instances, normals=normals_camera.reshape(H, W, 3),
            edges=semantic_edges(semantics, instances), rooms=rooms.reshape(H, W),
        )

    def _shade(self, frame, points, normals, instances, rooms, hit) -> np.ndarray:
        H, W = self.K.height, self.K.width
        index = instances.astype(np.intp)  # np.take with intp indices is much faster than fancy indexing

        def per_instance(table: np.ndarray) -> np.ndarray:
            return np.take(table, index, axis=0)

        options = self.options
        gain = 1.0
        if options.exposure_variation:
            gain += options.exposure_variation * np.sin(2 * np.pi * self.world.times_s[frame] / 4.0 + self.exposure_phase)
        if self.appearance is not None:
            look = self.appearance
            shade = look.detail(points, normals, index) * look.light(points, normals, rooms.astype(np.intp)) * gain
            linear = np.take(look.albedo, index, axis=0) * shade[:, None] * look.camera.white_balance.astype(np.float32)
        else:
            x, y, z = (points[:, k : k + 1] for k in range(3))
            phase = x * per_instance(self.waves[0]) + y * per_instance(self.waves[1]) + z * per_instance(self.waves[2])
            phase += per_instance(self.phases)
            texture = 0.5 + 0.5 * (np.sin(phase) @ np.array([0.45, 0.35, 0.2], np.float32))
            albedo = per_instance(self.albedo)
            to_light = np.take(self.lights, rooms.astype(np.intp), axis=0) - points
            distance2 = row_dot(to_light, to_light)
            lambert = np.maximum(row_dot(normals, to_light), 0) / np.sqrt(np.maximum(distance2, 1e-6))
            light = 0.3 + 0.9 * lambert / (1.0 + 0.04 * distance2)
            linear = albedo * ((0.55 + 0.45 * texture) * light * gain)[:, None]
        linear[~hit] = 0  # linear is never negative: albedo, light and texture factors are not
        np.minimum(linear, np.float32(1.0), out=linear)
        np.sqrt(linear, out=linear)
        linear *= np.float32(255.0)
        image = linear.reshape(H, W, 3)
        if options.blur_sigma_px:
            image = cv2.GaussianBlur(image, (0, 0), options.blur_sigma_px)
        if options.noise_std:
            image += self._noise_at(frame)
        np.clip(image, 0, 255, out=image)
        image += np.float32(0.5)  # round to the nearest level
        return image.astype(np.uint8)

    def _noise_at(self, frame: int) -> np.ndarray:
        """(H, W, 3) zero-mean Gaussian camera noise (std ``options.noise_std``) of ``frame``: a window of one
        field drawn per renderer, at an offset and sign drawn per frame (drawing a new field costs 2 ms)."""
        H, W = self.K.height, self.K.width
        if self._noise is None:
            rng = np.random.default_rng([self.world.spec.seed, 7907])
            self._noise = rng.standard_normal((H + NOISE_MARGIN_PX, W + NOISE_MARGIN_PX, 3), dtype=np.float32)
            self._noise *= np.float32(self.options.noise_std)
        y, x, sign = np.random.default_rng([self.world.spec.seed, frame]).integers(0, NOISE_MARGIN_PX, 3)
        window = self._noise[y : y + H, x : x + W]
        return window if sign % 2 else -window
