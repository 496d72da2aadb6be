"""Binary PLY triangle meshes with per-vertex colour, NYU40 class and instance id.

Open3D, MeshLab and CloudCompare read these files (the extra ``label`` and
``instance`` properties are ignored by viewers that do not know them).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from m2h_slam.core.atomic import atomic_write_bytes
from m2h_slam.core.errors import InputError
from m2h_slam.core.records import LabelledMesh

_VERTEX = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("red", "u1"), ("green", "u1"), ("blue", "u1"),
                    ("label", "u1"), ("instance", "<u2")])
_FACE = np.dtype([("n", "u1"), ("v", "<i4", (3,))])


def write_labelled_ply(path: str | os.PathLike, mesh: LabelledMesh) -> Path:
    vertex = np.empty(len(mesh.vertices), _VERTEX)
    for k, axis in enumerate("xyz"):
        vertex[axis] = mesh.vertices[:, k]
    for k, channel in enumerate(("red", "green", "blue")):
        vertex[channel] = mesh.colours[:, k]
    vertex["label"], vertex["instance"] = mesh.labels, mesh.instances
    face = np.empty(len(mesh.triangles), _FACE)
    face["n"], face["v"] = 3, mesh.triangles
    header = "\n".join([
        "ply", "format binary_little_endian 1.0", "comment m2h-slam labelled mesh",
        f"element vertex {len(vertex)}", "property float x", "property float y", "property float z",
        "property uchar red", "property uchar green", "property uchar blue",
        "property uchar label", "property ushort instance",
        f"element face {len(face)}", "property list uchar int vertex_indices", "end_header",
    ]) + "\n"
    return atomic_write_bytes(path, header.encode("ascii") + vertex.tobytes() + face.tobytes())


def read_labelled_ply(path: str | os.PathLike) -> LabelledMesh:
    """Read a file written by ``write_labelled_ply``."""
    path = Path(path)
    data = path.read_bytes()
    end = data.find(b"end_header\n")
    if not data.startswith(b"ply") or end < 0:
        raise InputError(path, "not a PLY file")
    header = data[:end].decode("ascii", "replace").splitlines()
    counts = {line.split()[1]: int(line.split()[2]) for line in header if line.startswith("element")}
    if "property ushort instance" not in header or "vertex" not in counts or "face" not in counts:
        raise InputError(path, "not a labelled m2h-slam PLY (needs vertex label and instance)")
    body = data[end + len(b"end_header\n"):]
    nv, nf = counts["vertex"], counts["face"]
    if len(body) != nv * _VERTEX.itemsize + nf * _FACE.itemsize:
        raise InputError(path, "PLY is truncated or has an unexpected layout")
    vertex = np.frombuffer(body, _VERTEX, nv)
    face = np.frombuffer(body, _FACE, nf, offset=nv * _VERTEX.itemsize)
    return LabelledMesh(
        np.column_stack([vertex["x"], vertex["y"], vertex["z"]]).astype(np.float64), face["v"].astype(np.int64),
        np.column_stack([vertex["red"], vertex["green"], vertex["blue"]]), vertex["label"].copy(), vertex["instance"].copy(),
    )


def read_surface(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """A reference surface in any format Open3D reads (PLY, OBJ, STL, OFF, GLTF; a point cloud PLY/PCD/XYZ):
    (N, 3) float64 vertices in m and (M, 3) int triangles, empty for a point cloud."""
    from m2h_slam.core.o3d import open3d

    path = Path(path)
    if not path.is_file():
        raise InputError(path, "reference surface not found")
    o3d = open3d()
    mesh = o3d.io.read_triangle_mesh(str(path))
    if len(mesh.triangles):
        return np.asarray(mesh.vertices, np.float64), np.asarray(mesh.triangles, np.int64)
    cloud = o3d.io.read_point_cloud(str(path))
    if not len(cloud.points):
        raise InputError(path, "holds no triangles or points that Open3D can read")
    return np.asarray(cloud.points, np.float64), np.zeros((0, 3), np.int64)
