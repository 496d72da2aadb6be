"""``m2h-slam graph``: a run's scene graph as readable lines (building -> rooms -> objects; agents; routes)."""

from __future__ import annotations

import json
from pathlib import Path

from m2h_slam.core.errors import InputError
from m2h_slam.eval.run_eval import read_graph_document

LAYERS = ("rooms", "objects", "places", "agents", "doors")  # what the summary reads (each a list of objects)


def load_graph_document(run: Path) -> dict:
    """The run's scene_graph.json; ``InputError`` naming what is missing."""
    path = run / "scene_graph.json"
    if not run.is_dir():
        raise InputError(run, "no such run folder")
    if not path.is_file():
        why = ""
        record = run / "run.json"
        if record.is_file():
            why = "; " + json.loads(record.read_text()).get("scene_graph", {}).get("state", "")
        raise InputError(path, f"missing (the run wrote no scene graph{why})")
    return read_graph_document(path, LAYERS, required=False)


def summary_lines(data: dict) -> list[str]:
    rooms = data.get("rooms", [])
    objects = data.get("objects", [])
    lines = [f"building: {len(rooms)} rooms, {len(objects)} objects, {len(data.get('places', []))} places, "
             f"{len(data.get('agents', []))} agents"]
    for room in rooms:
        inside = [o["class_name"] for o in objects if o.get("room_id") == room["id"]]
        lines.append(f"  room {room['id']} ({room.get('type') or 'unknown type'}, {room.get('area_m2', 0):.1f} m2): "
                     + (", ".join(sorted(inside)) or "no objects"))
    outside = [o["class_name"] for o in objects if o.get("room_id") is None]
    if outside:
        lines.append("  outside the rooms: " + ", ".join(sorted(outside)))
    for door in data.get("doors", []):
        lines.append(f"  opening between rooms {door['rooms'][0]} and {door['rooms'][1]} ({door['width_m']:.1f} m)")
    for agent in data.get("agents", []):
        times, positions = agent["times_s"], agent["positions"]
        length = sum(((b[0] - a[0]) ** 2 + (b[1] - a[1]) ** 2) ** 0.5 for a, b in zip(positions, positions[1:]))
        seen = f"{times[0]:.1f}-{times[-1]:.1f} s" if times else "never"
        lines.append(f"  agent {agent['id']} ({agent['class_name']}): walked {length:.1f} m, seen {seen}"
                     + (", active" if agent.get("active") else ""))
    return lines


def route_lines(data: dict, room_a: str, room_b: str) -> list[str]:
    """The shortest walk through places between two rooms given by id ("3" or "room:3")."""
    from pipeline.scene_graph.graph import SceneGraph

    graph = SceneGraph.from_json(data)
    ends = []
    for text in (room_a, room_b):
        node = text if text.startswith("room:") else f"room:{text}"
        if node not in graph.graph:
            known = ", ".join(n.split(":")[1] for n in graph.nodes("room")) or "none"
            raise InputError(None, f"--route: no room {text!r} (rooms: {known})")
        ends.append(node)
    path = graph.route(*ends)
    if not path:
        return [f"no walk through the mapped free space joins {ends[0]} and {ends[1]}"]
    points = [graph.graph.nodes[p]["position"] for p in path]
    length = sum(float(((b - a)[:2] ** 2).sum() ** 0.5) for a, b in zip(points, points[1:]))
    return [f"route {ends[0]} -> {ends[1]}: {len(path)} places, {length:.1f} m"] + \
        [f"  {p} at ({q[0]:.2f}, {q[1]:.2f})" for p, q in zip(path, points)]
