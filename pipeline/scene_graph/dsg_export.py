"""The scene graph through spark_dsg's own API, so Hydra's tools read it. Layers by spark_dsg's names
(``DsgLayers``: objects 2, places 3, rooms 4, buildings 5); each agent is a partition of the agents layer
(layer 2) holding its foot points over time."""

from __future__ import annotations

import datetime
import os

import numpy as np

from m2h_slam.core.labels import NYU40
from pipeline.scene_graph.graph import SceneGraph, number_of


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
        attrs.bounding_box = dsg.BoundingBox(np.asarray(record.extent, float), np.asarray(record.box_center, float))
        add(o, objects, dsg.NodeSymbol("O", number_of(o)), attrs)
    for edge in g.edges:
        if edge[0] in symbols and edge[1] in symbols:
            out.insert_edge(symbols[edge[0]], symbols[edge[1]])
    counter = 0
    for a in graph.nodes("agent"):
        record = g.nodes[a]["record"]
        for time_s, position in zip(record.times_s, record.positions):
            attrs = dsg.AgentNodeAttributes()
            attrs.position = np.asarray(position, float)
            attrs.timestamp = datetime.timedelta(seconds=float(time_s))
            out.add_node(agents, dsg.NodeSymbol("a", counter), attrs, number_of(a))
            counter += 1
    return out


def write_spark_dsg(graph: SceneGraph, path: str | os.PathLike) -> None:
    """Save through ``spark_dsg``'s own writer (JSON by the ``.json`` suffix), atomically."""
    from m2h_slam.core.atomic import atomic_write

    dsg_graph = to_spark_dsg(graph)
    atomic_write(path, lambda tmp: dsg_graph.save(str(tmp)))
