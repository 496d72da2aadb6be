"""The scene graph through spark_dsg's own API, so Hydra's tools read it. Layers by spark_dsg's names
(``DsgLayers``: objects 2, places 3, rooms 4, buildings 5); each agent is a partition of the agents layer
(layer 2) holding its foot points over time.

Every attribute a node carries is set here, none left to spark_dsg's constructors (an agent's orientation and
key are not initialised there, and would be written as leftover memory): identical graphs give identical bytes.
Orientations: objects turn about z by their box yaw, agents face their direction of walk (the last heading while
standing, identity before the first step)."""

from __future__ import annotations

import datetime
import os

import numpy as np

from m2h_slam.core.labels import NYU40, PALETTE
from pipeline.scene_graph.graph import SceneGraph, number_of

MIN_STEP_M = 1e-3  # foot points closer than this give no heading


def yaw_quaternion(yaw_rad: float):
    """spark_dsg ``Quaternion`` (w, x, y, z) of a turn by ``yaw_rad`` about z."""
    import spark_dsg as dsg

    return dsg.Quaternion(float(np.cos(yaw_rad / 2)), 0.0, 0.0, float(np.sin(yaw_rad / 2)))


def headings(positions: np.ndarray) -> np.ndarray:
    """(N,) yaw (rad, about z) of a walk at each of its (N, 3) foot points: the direction of the step that reached
    the point (the first point: of the first step); the last heading while standing; 0 before any step."""
    yaw = np.zeros(len(positions))
    current = 0.0
    for k in range(len(positions)):
        j = max(k, 1)
        if j < len(positions):
            step = positions[j, :2] - positions[j - 1, :2]
            if np.linalg.norm(step) >= MIN_STEP_M:
                current = float(np.arctan2(step[1], step[0]))
        yaw[k] = current
    return yaw


def to_spark_dsg(graph: SceneGraph):
    """A ``spark_dsg.DynamicSceneGraph`` with the nodes and edges of ``graph``."""
    import spark_dsg as dsg

    out = dsg.DynamicSceneGraph()
    g = graph.graph
    symbols = {}
    objects, places, rooms, buildings, agents = (dsg.DsgLayers.name_to_layer_id(name).layer for name in (
        dsg.DsgLayers.OBJECTS, dsg.DsgLayers.PLACES, dsg.DsgLayers.ROOMS, dsg.DsgLayers.BUILDINGS,
        dsg.DsgLayers.AGENTS))

    def add(node_id: str, layer: int, symbol, attrs, partition: int = 0) -> None:
        attrs.position = np.asarray(g.nodes[node_id]["position"], float)
        out.add_node(layer, symbol, attrs, partition)
        symbols[node_id] = symbol

    building = dsg.SemanticNodeAttributes()
    building.name = "building"
    add("building:0", buildings, dsg.NodeSymbol("B", 0), building)
    for r in graph.nodes("room"):
        attrs = dsg.RoomNodeAttributes()
        attrs.name = g.nodes[r]["type"] or "room"
        add(r, rooms, dsg.NodeSymbol("R", number_of(r)), attrs)
    for p in graph.nodes("place"):
        attrs = dsg.PlaceNodeAttributes()
        attrs.distance = float(g.nodes[p]["clearance_m"])
        add(p, places, dsg.NodeSymbol("p", number_of(p)), attrs)
    for o in graph.nodes("object"):
        record = g.nodes[o]["record"]
        attrs = dsg.ObjectNodeAttributes()
        attrs.name = NYU40[record.class_id].name
        attrs.semantic_label = int(record.class_id)
        attrs.color = PALETTE[record.class_id]
        attrs.world_R_object = yaw_quaternion(record.yaw_rad)
        attrs.bounding_box = dsg.BoundingBox(np.asarray(record.extent, float), np.asarray(record.box_center, float))
        attrs.last_update_time_ns = _ns(record.last_seen_s)
        add(o, objects, dsg.NodeSymbol("O", number_of(o)), attrs)
    for edge in g.edges:
        if edge[0] in symbols and edge[1] in symbols:
            out.insert_edge(symbols[edge[0]], symbols[edge[1]])
    counter = 0
    for a in graph.nodes("agent"):
        record = g.nodes[a]["record"]
        positions = np.asarray(record.positions, float)
        for time_s, position, yaw in zip(record.times_s, positions, headings(positions)):
            attrs = dsg.AgentNodeAttributes()
            attrs.position = position
            attrs.world_R_body = yaw_quaternion(yaw)
            attrs.timestamp = datetime.timedelta(seconds=float(time_s))
            attrs.last_update_time_ns = _ns(time_s)
            attrs.external_key = counter  # no outside key (Hydra: its pose-graph key): the node's own number
            attrs.is_active = bool(record.active)
            out.add_node(agents, dsg.NodeSymbol("a", counter), attrs, number_of(a))
            counter += 1
    return out


def _ns(time_s: float) -> int:
    return int(round(float(time_s) * 1e9))


def write_spark_dsg(graph: SceneGraph, path: str | os.PathLike, metadata: dict | None = None) -> None:
    """Save through ``spark_dsg``'s own writer (JSON by the ``.json`` suffix), atomically; ``metadata`` (plain JSON
    values) goes into the graph's metadata."""
    from m2h_slam.core.atomic import atomic_write

    dsg_graph = to_spark_dsg(graph)
    if metadata:
        dsg_graph.metadata.add(metadata)
    atomic_write(path, lambda tmp: dsg_graph.save(str(tmp)))
