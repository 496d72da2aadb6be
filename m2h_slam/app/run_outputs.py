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
from m2h_slam.core.intrinsics import Intrinsics
from m2h_slam.core.records import Frame, LabelledMesh


def write_outputs(out: Path, result, previews) -> dict:
    """Write a run's files from ``result`` (a ``SceneResult``: map frame); the run.json entries they describe."""
    from m2h_slam.formats.ply_io import write_labelled_ply
    from m2h_slam.formats.trajectory_io import write_tum_trajectory
    from m2h_slam.viz.contact_sheet import contact_sheet, write_preview

    mesh, vertices, instances = result.mesh, result.mesh.vertices, result.mesh.instances
    write_labelled_ply(out / "mesh.ply", mesh)
    write_labelled_ply(out / "mesh_rgb.ply", LabelledMesh(vertices, mesh.triangles, result.mesh_rgb, mesh.labels,
                                                          instances))
    write_tum_trajectory(out / "trajectory.txt", result.timestamps_s, result.map_T_camera)
    if previews:
        frames = []
        for rgb, prediction in previews:
            h, w = rgb.shape[:2]
            frames.append(Frame(0, 0.0, rgb, Intrinsics.from_fov(w, h, 60.0), depth_m=prediction.depth_m,
                                semantics=prediction.semantics, normals=prediction.normals))
        write_preview(out / "preview.png", lambda width_px: contact_sheet(frames, max_width_px=width_px))
    if result.graph is not None:
        _write_graph(out, result.graph, graph_marks(result), vertices, result.mesh_rgb)
    labels, counts = np.unique(mesh.labels, return_counts=True)
    return {"mesh": {"vertices": int(len(vertices)), "triangles": int(len(mesh.triangles)),
                     "objects": int(len(np.unique(instances[instances > 0]))),
                     "label_vertices": {int(k): int(v) for k, v in zip(labels, counts)}}}


def graph_marks(result) -> dict:
    """What the scene graph files say about their own trust: the run's perception health and whether the map frame
    is gravity-aligned (``health`` and ``map_frame`` in scene_graph.json, the spark_dsg file's metadata)."""
    status = result.graph_status
    return {"health": {"verdict": result.health.verdict, "reasons": list(result.health.reasons)},
            "map_frame": {"gravity_aligned": bool(status["gravity_aligned"]), "source": status["map_frame"]}}


def _write_graph(out: Path, graph, marks: dict, vertices: np.ndarray, rgb: np.ndarray) -> None:
    from m2h_slam.viz.graph_picture import draw_scene_graph
    from pipeline.scene_graph.dsg_export import write_spark_dsg

    data = {**graph.to_json(), **marks}
    atomic_write_text(out / "scene_graph.json", json.dumps(data, indent=1) + "\n")
    write_spark_dsg(graph, out / "scene_graph_dsg.json", marks)
    below = vertices[:, 2] < 1.8 if len(vertices) else np.zeros(0, bool)
    step = max(1, int(below.sum()) // 200000)
    draw_scene_graph(data, out / "scene_graph.png", vertices[below][::step, :2], rgb[below][::step])
