"""The 3D scene graph: one networkx graph over building, rooms, places, objects and agents.

Node ids are ``"building:0"``, ``"room:3"``, ``"place:40"``, ``"object:12"``, ``"agent:2"``; every
node has a ``layer`` attribute and a ``position`` (3,) m in the map frame (z up, floor at 0).
Edges: building-room, room-room (through an opening), room-place, place-place, room-object
(containment), room-agent (where the agent was last seen).

    graph = SceneGraph.build(room_map, places, space, objects, agents)
    graph.objects_in("room:2"); graph.room_at((1.0, 2.0)); graph.route("room:1", "room:3")
    graph.to_json()  # docs/scene-graph.schema.json; SceneGraph.from_json(...) gives the same graph back
"""

from __future__ import annotations

from collections.abc import Iterable

import networkx as nx
import numpy as np

from m2h_slam.core.labels import NYU40, class_id
from m2h_slam.core.polygons import points_in_polygon, polygon_area
from pipeline.scene_graph.free_space import FreeSpaceMap
from pipeline.scene_graph.places import Places
from pipeline.scene_graph.records import AgentRecord, ObjectRecord
from pipeline.scene_graph.rooms import RoomMap

LAYERS = ("building", "room", "place", "object", "agent")
#: Objects that name a room, strongest first.
ROOM_TYPES = (("bed", "bedroom"), ("toilet", "bathroom"), ("bathtub", "bathroom"), ("shower curtain", "bathroom"),
              ("refrigerator", "kitchen"), ("sofa", "living room"), ("television", "living room"),
              ("desk", "office"), ("counter", "kitchen"), ("sink", "bathroom"))
_ROOM_TYPE_IDS = tuple((class_id(name), room) for name, room in ROOM_TYPES)


def node(layer: str, number: int) -> str:
    return f"{layer}:{number}"


def number_of(node_id: str) -> int:
    return int(node_id.split(":", 1)[1])


def room_type(class_ids: Iterable[int]) -> str | None:
    """A room's type guessed from the classes of its objects (bed -> bedroom, ...), or None."""
    present = set(class_ids)
    return next((room for cid, room in _ROOM_TYPE_IDS if cid in present), None)


class SceneGraph:
    """The graph and its queries. ``graph`` is a plain ``networkx.Graph``."""

    def __init__(self, graph: nx.Graph | None = None):
        self.graph = graph if graph is not None else nx.Graph()

    # -- building ------------------------------------------------------------------------------
    @classmethod
    def build(cls, rooms: RoomMap | None, places: Places | None, space: FreeSpaceMap | None,
              objects: Iterable[ObjectRecord] = (), agents: Iterable[AgentRecord] = (),
              ceiling_z_m: float | None = None) -> SceneGraph:
        g = nx.Graph()
        g.add_node(node("building", 0), layer="building", position=np.zeros(3))
        rooms_list = rooms.rooms if rooms is not None else []
        for room in rooms_list:
            rid = node("room", room.id)
            g.add_node(rid, layer="room", position=np.array([*room.centroid, 0.0]), footprint=room.footprint,
                       area_m2=room.area_m2, floor_z_m=0.0, ceiling_z_m=ceiling_z_m, type=None)
            g.add_edge(node("building", 0), rid)
        for opening in (rooms.openings if rooms is not None else []):
            g.add_edge(node("room", opening.rooms[0]), node("room", opening.rooms[1]), kind="opening",
                       center=np.array([*opening.center, 1.0]), width_m=opening.width_m)
        graph = cls(g)
        if places is not None and space is not None:
            for k, (xy, clearance) in enumerate(zip(places.positions, places.clearance_m)):
                g.add_node(node("place", k), layer="place", position=np.array([*xy, 0.0]), clearance_m=float(clearance))
                room = rooms.labels[tuple(places.cells[k])] if rooms is not None else 0
                if room:
                    g.add_edge(node("room", int(room)), node("place", k))
            for a, b in places.edges:
                g.add_edge(node("place", int(a)), node("place", int(b)),
                           length_m=float(np.linalg.norm(places.positions[a] - places.positions[b])))
        for obj in objects:
            oid = node("object", obj.id)
            g.add_node(oid, layer="object", position=np.asarray(obj.centroid, float), record=obj)
            room = graph.room_at(obj.centroid)
            if room is not None:
                g.add_edge(room, oid)
        for agent in agents:
            aid = node("agent", agent.id)
            g.add_node(aid, layer="agent", position=np.asarray(agent.positions[-1], float), record=agent)
            room = graph.room_at(agent.positions[-1])
            if room is not None:
                g.add_edge(room, aid)
        for rid in graph.nodes("room"):
            g.nodes[rid]["type"] = room_type(g.nodes[o]["record"].class_id for o in graph.objects_in(rid))
        return graph

    # -- queries -------------------------------------------------------------------------------
    def nodes(self, layer: str) -> list[str]:
        """Ids of a layer's nodes, in number order."""
        return sorted((n for n, d in self.graph.nodes(data=True) if d["layer"] == layer), key=number_of)

    def objects_in(self, room: str) -> list[str]:
        return sorted((n for n in self.graph.neighbors(room) if self.graph.nodes[n]["layer"] == "object"),
                      key=number_of)

    def room_at(self, point) -> str | None:
        """The room whose footprint holds the point (x, y[, z]) m, or None."""
        xy = np.asarray(point, float)[:2]
        return next((r for r in self.nodes("room") if points_in_polygon(self.graph.nodes[r]["footprint"], xy)[0]),
                    None)

    def _nearest_place(self, point, room: str | None = None) -> str | None:
        places = [p for p in self.nodes("place") if room is None or self.graph.has_edge(room, p)]
        if not places:
            return None
        xy = np.asarray(point, float)[:2]
        return min(places, key=lambda p: float(np.linalg.norm(self.graph.nodes[p]["position"][:2] - xy)))

    def route(self, a, b) -> list[str]:
        """Shortest walk through places between two rooms ("room:1") or points (x, y); [] if none."""
        ends = []
        for end in (a, b):
            if isinstance(end, str):
                ends.append(self._nearest_place(self.graph.nodes[end]["position"], end))
            else:
                ends.append(self._nearest_place(end))
        if None in ends:
            return []
        places = self.graph.subgraph(self.nodes("place"))
        try:
            return nx.shortest_path(places, ends[0], ends[1], weight="length_m")
        except nx.NetworkXNoPath:
            return []

    def counts(self) -> dict[str, int]:
        return {layer: len(self.nodes(layer)) for layer in LAYERS}

    # -- the project's JSON ----------------------------------------------------------------------
    def to_json(self) -> dict:
        """The graph in docs/scene-graph.schema.json (``"source": "estimated"``)."""
        g = self.graph
        rooms = [{"id": number_of(r), "type": g.nodes[r]["type"], "footprint": _list(g.nodes[r]["footprint"]),
                  "floor_z_m": g.nodes[r]["floor_z_m"], "ceiling_z_m": g.nodes[r]["ceiling_z_m"],
                  "area_m2": round(g.nodes[r]["area_m2"], 4), "centroid": _list(g.nodes[r]["position"][:2])}
                 for r in self.nodes("room")]
        doors = [{"rooms": sorted([number_of(a), number_of(b)]), "center": _list(d["center"]), "width_m": d["width_m"]}
                 for a, b, d in g.edges(data=True) if d.get("kind") == "opening"]
        doors.sort(key=lambda d: d["rooms"])
        places = [{"id": number_of(p), "position": _list(g.nodes[p]["position"]),
                   "clearance_m": round(g.nodes[p]["clearance_m"], 4),
                   "room_id": next((number_of(n) for n in g.neighbors(p) if n.startswith("room:")), None),
                   "neighbours": sorted(number_of(n) for n in g.neighbors(p) if n.startswith("place:"))}
                  for p in self.nodes("place")]
        objects = []
        for o in self.nodes("object"):
            r: ObjectRecord = g.nodes[o]["record"]
            room = next((n for n in g.neighbors(o) if n.startswith("room:")), None)
            objects.append({"id": r.id, "class_id": r.class_id, "class_name": NYU40[r.class_id].name,
                            "room_id": number_of(room) if room else None, "centroid": _list(r.centroid),
                            "box": {"center": _list(r.box_center), "extent": _list(r.extent),
                                    "yaw_rad": round(float(r.yaw_rad), 6)},
                            "points": r.points, "observations": r.observations, "first_seen_s": r.first_seen_s,
                            "last_seen_s": r.last_seen_s, "confidence": round(float(r.confidence), 4),
                            "class_confidence": round(float(r.class_confidence), 4), "moves": [dict(m) for m in r.moved],
                            **({"aabb": {"min": _list(r.aabb[0]), "max": _list(r.aabb[1])}} if r.aabb else {})})
        agents = []
        for a in self.nodes("agent"):
            r: AgentRecord = g.nodes[a]["record"]
            agents.append({"id": r.id, "class_id": r.class_id, "class_name": NYU40[r.class_id].name,
                           "times_s": _list(r.times_s, 6), "positions": _list(r.positions), "active": r.active})
        return {"format": "m2h-scene-graph", "version": 1, "source": "estimated", "rooms": rooms, "doors": doors,
                "places": places, "objects": objects, "agents": agents}

    @classmethod
    def from_json(cls, data: dict) -> SceneGraph:
        """The graph of a ``to_json`` document (estimated or synthetic)."""
        g = nx.Graph()
        g.add_node(node("building", 0), layer="building", position=np.zeros(3))
        for room in data.get("rooms", []):
            footprint = np.array(room["footprint"], float)
            centroid = room.get("centroid", footprint.mean(axis=0))
            g.add_node(node("room", room["id"]), layer="room", position=np.array([*centroid, 0.0]),
                       footprint=footprint, area_m2=room.get("area_m2", abs(polygon_area(footprint))),
                       floor_z_m=room["floor_z_m"], ceiling_z_m=room["ceiling_z_m"], type=room.get("type"))
            g.add_edge(node("building", 0), node("room", room["id"]))
        for door in data.get("doors", []):
            a, b = door["rooms"]
            g.add_edge(node("room", a), node("room", b), kind="opening", center=np.array(door["center"], float),
                       width_m=door["width_m"])
        for place in data.get("places", []):
            pid = node("place", place["id"])
            g.add_node(pid, layer="place", position=np.array(place["position"], float),
                       clearance_m=place["clearance_m"])
            if place.get("room_id") is not None:
                g.add_edge(node("room", place["room_id"]), pid)
        for place in data.get("places", []):
            for other in place["neighbours"]:
                a, b = np.array(place["position"]), g.nodes[node("place", other)]["position"]
                g.add_edge(node("place", place["id"]), node("place", other), length_m=float(np.linalg.norm(a[:2] - b[:2])))
        for obj in data.get("objects", []):
            box = obj["box"]
            record = ObjectRecord(obj["id"], obj["class_id"], np.array(obj.get("centroid", box["center"]), float),
                                  np.array(box["center"], float), np.array(box["extent"], float), box["yaw_rad"],
                                  obj.get("points", 0), obj.get("observations", 0), obj.get("first_seen_s", 0.0),
                                  obj.get("last_seen_s", 0.0), obj.get("confidence", 1.0),
                                  tuple(obj.get("moves", ())),
                                  (tuple(obj["aabb"]["min"]), tuple(obj["aabb"]["max"])) if "aabb" in obj else None,
                                  obj.get("class_confidence", 1.0))
            oid = node("object", obj["id"])
            g.add_node(oid, layer="object", position=record.centroid, record=record)
            if obj.get("room_id") is not None:
                g.add_edge(node("room", obj["room_id"]), oid)
        graph = cls(g)
        for agent in data.get("agents", []):
            record = AgentRecord(agent["id"], agent["class_id"], np.array(agent["times_s"], float),
                                 np.array(agent["positions"], float).reshape(-1, 3), agent.get("active", False))
            aid = node("agent", agent["id"])
            g.add_node(aid, layer="agent", position=record.positions[-1] if len(record.positions) else np.zeros(3),
                       record=record)
            room = graph.room_at(g.nodes[aid]["position"]) if graph.nodes("room") else None
            if room is not None:
                g.add_edge(room, aid)
        return graph


def _list(array, digits: int = 4) -> list:
    return np.round(np.asarray(array, float), digits).tolist()

