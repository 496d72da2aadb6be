"""Labelled triangle meshes built from simple solids (boxes, cylinders, spheres).

Coordinates are metres in the world frame (z up); triangles wind counter-clockwise
seen from outside, so face normals point outwards.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_BOX_CORNERS = np.array([[x, y, z] for z in (0, 1) for y in (0, 1) for x in (0, 1)], dtype=np.float64)
_BOX_TRIANGLES = np.array(
    [[0, 2, 1], [1, 2, 3], [4, 5, 6], [5, 7, 6],  # bottom (-z), top (+z)
     [0, 1, 4], [1, 5, 4], [2, 6, 3], [3, 6, 7],  # -y, +y
     [0, 4, 2], [2, 4, 6], [1, 3, 5], [3, 7, 5]],  # -x, +x
    dtype=np.int32,
)


@dataclass
class Mesh:
    """Triangles with one NYU40 class and instance id. vertices: (N, 3) float64 m; triangles: (M, 3) int32."""

    vertices: np.ndarray
    triangles: np.ndarray
    class_id: int = 0
    instance_id: int = 0

    def transformed(self, a_T_b: np.ndarray) -> Mesh:
        """This mesh (given in frame b) expressed in frame a."""
        vertices = self.vertices @ a_T_b[:3, :3].T + a_T_b[:3, 3]
        return Mesh(vertices, self.triangles, self.class_id, self.instance_id)

    def labelled(self, class_id: int, instance_id: int) -> Mesh:
        return Mesh(self.vertices, self.triangles, class_id, instance_id)


def box(lo, hi) -> Mesh:
    """Axis-aligned box between corners ``lo`` and ``hi`` (3,) metres."""
    lo, hi = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
    return Mesh(lo + _BOX_CORNERS * (hi - lo), _BOX_TRIANGLES.copy())


def cylinder(center_xy, z0: float, z1: float, radius: float, segments: int = 12) -> Mesh:
    """Closed vertical cylinder from height ``z0`` to ``z1``."""
    angles = np.arange(segments) * (2 * np.pi / segments)
    ring = np.stack([np.cos(angles), np.sin(angles)], axis=1) * radius + np.asarray(center_xy, np.float64)
    bottom = np.column_stack([ring, np.full(segments, z0)])
    top = np.column_stack([ring, np.full(segments, z1)])
    centres = np.array([[*center_xy, z0], [*center_xy, z1]], np.float64)
    vertices = np.vstack([bottom, top, centres])
    i = np.arange(segments)
    j = (i + 1) % segments
    b, t = 2 * segments, 2 * segments + 1
    triangles = np.vstack([
        np.column_stack([i, j, i + segments]), np.column_stack([j, j + segments, i + segments]),  # side
        np.column_stack([np.full(segments, b), j, i]), np.column_stack([np.full(segments, t), i + segments, j + segments]),
    ])
    return Mesh(vertices, triangles.astype(np.int32))


def sphere(center, radius: float, rings: int = 6, segments: int = 10) -> Mesh:
    """UV sphere."""
    theta = np.linspace(0, np.pi, rings + 1)[1:-1]
    phi = np.arange(segments) * (2 * np.pi / segments)
    ring_points = np.stack(
        [np.outer(np.sin(theta), np.cos(phi)), np.outer(np.sin(theta), np.sin(phi)), np.outer(np.cos(theta), np.ones_like(phi))],
        axis=-1,
    ).reshape(-1, 3)
    vertices = np.vstack([[0, 0, 1], ring_points, [0, 0, -1]]) * radius + np.asarray(center, np.float64)
    top, bottom = 0, len(vertices) - 1
    tris = []
    for s in range(segments):
        s1 = (s + 1) % segments
        tris.append([top, 1 + s, 1 + s1])
        for r in range(rings - 2):
            a, b = 1 + r * segments + s, 1 + r * segments + s1
            c, d = a + segments, b + segments
            tris += [[a, c, b], [b, c, d]]
        last = 1 + (rings - 2) * segments
        tris.append([bottom, last + s1, last + s])
    return Mesh(vertices, np.array(tris, np.int32))


def merge(meshes: list[Mesh]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Concatenate meshes: (vertices (N, 3), triangles (M, 3), class per triangle (M,), instance per triangle (M,))."""
    offsets = np.cumsum([0] + [len(m.vertices) for m in meshes])
    vertices = np.vstack([m.vertices for m in meshes])
    triangles = np.vstack([m.triangles + o for m, o in zip(meshes, offsets)]).astype(np.int32)
    classes = np.concatenate([np.full(len(m.triangles), m.class_id, np.uint8) for m in meshes])
    instances = np.concatenate([np.full(len(m.triangles), m.instance_id, np.uint16) for m in meshes])
    return vertices, triangles, classes, instances


def yaw_transform(x: float, y: float, z: float, yaw_rad: float) -> np.ndarray:
    """4x4 world_T_local: rotation by ``yaw_rad`` about z, then translation."""
    c, s = np.cos(yaw_rad), np.sin(yaw_rad)
    T = np.eye(4)
    T[:2, :2] = [[c, -s], [s, c]]
    T[:3, 3] = [x, y, z]
    return T
