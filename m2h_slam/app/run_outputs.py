"""The files a finished run writes, all atomically, in the gravity-aligned map frame.

mesh.ply / mesh_rgb.ply (per-vertex NYU40 label and object id), trajectory.txt (TUM),
preview.png, and, once the floor fixes the map frame, scene_graph.json (the project's
schema), scene_graph_dsg.json (spark_dsg) and scene_graph.png (from above).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from m2h_slam.core.atomic import atomic_write_text
from m2h_slam.core.geometry import transform_points
from m2h_slam.core.intrinsics import Intrinsics
from m2h_slam.core.records import Frame, LabelledMesh


def write_outputs(out: Path, result, previews, builder, graph) -> dict:
    """Write a run's files; the run.json entries they describe. ``graph``: a ``SceneGraph`` or None
    (map frame unknown: the map stays in the world of the first camera)."""
    from m2h_slam.viz.contact_sheet import contact_sheet
    from m2h_slam.formats.image_io import write_rgb
    from m2h_slam.formats.ply_io import write_labelled_ply
    from m2h_slam.formats.trajectory_io import write_tum_trajectory

    map_T_world = builder.last_map_T_world if graph is not None else np.eye(4)
    mesh = result.mesh
    vertices = transform_points(map_T_world, mesh.vertices) if len(mesh.vertices) else mesh.vertices
    instances = builder.instances(vertices, mesh.labels) if graph is not None else mesh.instances
    mesh = LabelledMesh(vertices, mesh.triangles, mesh.colours, mesh.labels, instances)
    write_labelled_ply(out / "mesh.ply", mesh)
    write_labelled_ply(out / "mesh_rgb.ply", LabelledMesh(vertices, mesh.triangles, result.mesh_rgb, mesh.labels,
                                                          instances))
    write_tum_trajectory(out / "trajectory.txt", result.timestamps_s, map_T_world @ result.poses)
    if previews:
        frames = []
        for rgb, prediction in previews:
            h, w = rgb.shape[:2]
            frames.append(Frame(0, 0.0, rgb, Intrinsics.from_fov(w, h, 60.0), depth_m=prediction.depth_m,
                                semantics=prediction.semantics, normals=prediction.normals))
        write_rgb(out / "preview.png", contact_sheet(frames))
    if graph is not None:
        _write_graph(out, graph, vertices, result.mesh_rgb)
    labels, counts = np.unique(mesh.labels, return_counts=True)
    return {"mesh": {"vertices": int(len(vertices)), "triangles": int(len(mesh.triangles)),
                     "objects": int(len(np.unique(instances[instances > 0]))),
                     "label_vertices": {int(k): int(v) for k, v in zip(labels, counts)}}}


def _write_graph(out: Path, graph, vertices: np.ndarray, rgb: np.ndarray) -> None:
    from m2h_slam.viz.graph_picture import draw_scene_graph
    from pipeline.scene_graph.dsg_export import write_spark_dsg

    data = graph.to_json()
    atomic_write_text(out / "scene_graph.json", json.dumps(data, indent=1) + "\n")
    write_spark_dsg(graph, out / "scene_graph_dsg.json")
    below = vertices[:, 2] < 1.8 if len(vertices) else np.zeros(0, bool)
    step = max(1, int(below.sum()) // 200000)
    draw_scene_graph(data, out / "scene_graph.png", vertices[below][::step, :2], rgb[below][::step])
