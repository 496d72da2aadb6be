"""Write a synthetic world as an m2h sequence folder plus its ground truth.

    OUT/                 the sequence (rgb, depth, semantics, instances, normals, edges, rooms, groundtruth.txt)
    OUT/mesh.ply         static mesh, per-vertex NYU40 label and instance id
    OUT/scene_graph.json rooms, doors, objects, people (docs/scene-graph.schema.json)
    OUT/preview.png      contact sheet of a few frames
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np

from m2h_slam.core.atomic import atomic_write_text
from m2h_slam.core.intrinsics import Intrinsics
from m2h_slam.core.labels import NYU40, PALETTE
from m2h_slam.core.progress import progress as progress_bar
from m2h_slam.core.records import LabelledMesh
from m2h_slam.formats.ply_io import write_labelled_ply
from m2h_slam.sources.sequence_folder import SEQUENCE_OUTPUTS, SequenceWriter
from m2h_slam.synthetic.furniture import PlacedObject
from m2h_slam.synthetic.meshes import merge
from m2h_slam.synthetic.render import Renderer, RenderOptions
from m2h_slam.synthetic.world import World, WorldSpec, generate_world
from m2h_slam.viz.contact_sheet import contact_sheet, write_preview

DEFAULT_HFOV_DEG = 70.0


def _r(values, digits: int = 4) -> list:
    return [round(float(v), digits) for v in values]


def _box(obj: PlacedObject) -> dict:
    return {"center": _r(obj.center), "extent": _r(obj.extent), "yaw_rad": round(obj.yaw_rad, 5)}


def scene_graph_dict(world: World) -> dict:
    """Ground-truth scene graph in the project's JSON format."""
    apartment = world.apartment
    objects = []
    for obj in world.objects:
        record = {"id": obj.instance_id, "class_id": obj.class_id, "class_name": NYU40[obj.class_id].name,
                  "name": obj.name, "room_id": obj.room_id, "parent": obj.parent, "box": _box(obj)}
        if world.moved and world.moved.before.instance_id == obj.instance_id:
            after = world.moved.after
            record["moved"] = {"time_s": round(world.moved.time_s, 6), "room_id": after.room_id, "box": _box(after)}
        objects.append(record)
    return {
        "format": "m2h-scene-graph",
        "version": 1,
        "source": "synthetic",
        "rooms": [{"id": r.id, "type": r.type, "footprint": [_r(p) for p in r.footprint], "floor_z_m": 0.0,
                   "ceiling_z_m": apartment.height_m} for r in apartment.rooms],
        "doors": [{"rooms": list(d.rooms), "center": _r([*d.center, 1.0]), "width_m": round(d.hi - d.lo, 4)}
                  for d in apartment.doors],
        "objects": objects,
        "agents": [{"id": p.instance_id, "class_id": 31, "class_name": "person", "times_s": _r(world.times_s, 6),
                    "positions": [_r([x, y, 0.0]) for x, y in p.xy]} for p in world.people],
    }


def static_mesh(world: World) -> LabelledMesh:
    vertices, triangles, classes, instances = merge(world.static_meshes)
    labels = np.zeros(len(vertices), np.uint8)
    ids = np.zeros(len(vertices), np.uint16)
    labels[triangles.ravel()] = np.repeat(classes, 3)
    ids[triangles.ravel()] = np.repeat(instances, 3)
    return LabelledMesh(vertices, triangles, PALETTE[labels], labels, ids)


#: Everything ``write_synthetic`` writes.
SYNTHETIC_OUTPUTS = (*SEQUENCE_OUTPUTS, "mesh.ply", "scene_graph.json", "preview.png")


def write_synthetic(out: str | os.PathLike, spec: WorldSpec, size: tuple[int, int] = (320, 240),
                    hfov_deg: float = DEFAULT_HFOV_DEG, options: RenderOptions = RenderOptions(),
                    progress: bool = True) -> Path:
    """Generate, render and write the world of ``spec``; returns ``out``."""
    out = Path(out)
    world = generate_world(spec)
    K = Intrinsics.from_fov(size[0], size[1], hfov_deg)
    renderer = Renderer(world, K, options)
    source = {"generator": "m2h-slam synth", **dataclasses.asdict(spec), **dataclasses.asdict(options),
              "hfov_deg": hfov_deg}
    preview = []
    picks = set(np.linspace(0, spec.frames - 1, min(4, spec.frames)).round().astype(int).tolist())
    with SequenceWriter(out, K, fps=spec.fps, name=f"synthetic-seed{spec.seed}", source=source) as writer:
        for i in progress_bar(range(spec.frames), desc="rendering", unit="frame", disable=not progress, leave=False):
            frame = renderer.render(i)
            writer.write(frame)
            if i in picks:
                preview.append(frame)
    write_labelled_ply(out / "mesh.ply", static_mesh(world))
    atomic_write_text(out / "scene_graph.json", json.dumps(scene_graph_dict(world), indent=1) + "\n")
    write_preview(out / "preview.png", lambda width_px: contact_sheet(preview, max_width_px=width_px))
    return out
