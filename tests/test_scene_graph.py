"""The scene graph's layers on synthetic apartments mapped with ground-truth perception."""

from __future__ import annotations

import numpy as np
import pytest

from m2h_slam.core.config import Config
from m2h_slam.core.geometry import transform_points
from m2h_slam.data import ReadOptions, open_sequence
from m2h_slam.data.synthetic import WorldSpec, write_synthetic
from pipeline import Mapper
from pipeline.ground_truth import prediction_from_ground_truth
from pipeline.gravity import FLOOR, estimate_map_frame


@pytest.fixture(scope="module")
def apartment(tmp_path_factory):
    return write_synthetic(tmp_path_factory.mktemp("graph") / "apt", WorldSpec(seed=11, frames=90, rooms=3, people=0),
                           size=(160, 120), progress=False)


@pytest.fixture(scope="module")
def camera_frame_map(apartment):
    """The apartment mapped with exact poses expressed in the first camera's frame (as for a video):
    (mapper, world_T_first_camera)."""
    frames = list(open_sequence(apartment, ReadOptions(stride=2)))
    first_T_world = np.linalg.inv(frames[0].world_T_camera)
    mapper = Mapper(Config(), frames[0].intrinsics)
    for frame in frames:
        mapper.step(frame, prediction_from_ground_truth(frame), first_T_world @ frame.world_T_camera)
    return mapper, frames[0].world_T_camera


def test_map_frame_is_gravity_aligned_with_the_floor_at_zero(camera_frame_map):
    mapper, world_T_first = camera_frame_map
    points, (labels, normals) = mapper.volume.voxel_table("label", "normal_sum", require="evidence")
    frame = estimate_map_frame(points, labels, normals)
    assert frame is not None and frame.yaw_from_walls
    up_true = world_T_first[:3, :3].T @ np.array([0.0, 0.0, 1.0])  # world z seen from the first camera
    assert np.degrees(np.arccos(np.clip(frame.up_world @ up_true, -1, 1))) < 1.0
    assert abs(frame.floor_height_m - (-world_T_first[2, 3])) < 0.02
    floor = transform_points(frame.map_T_world, points[labels == FLOOR])
    assert abs(np.median(floor[:, 2])) < 0.01
    # The map frame differs from the (z-up, axis-aligned) world by a turn of k * 90 deg about z only.
    map_T_true = frame.map_T_world @ np.linalg.inv(world_T_first)
    yaw = np.degrees(np.arctan2(map_T_true[1, 0], map_T_true[0, 0]))
    assert abs((yaw + 45) % 90 - 45) < 1.0 and abs(map_T_true[2, 2] - 1) < 1e-3 and abs(map_T_true[2, 3]) < 0.02


def test_map_frame_waits_for_enough_floor(camera_frame_map):
    mapper, _ = camera_frame_map
    points, (labels, normals) = mapper.volume.voxel_table("label", "normal_sum", require="evidence")
    few = np.flatnonzero(labels == FLOOR)[:50]
    assert estimate_map_frame(points[few], labels[few], normals[few]) is None
    assert estimate_map_frame(np.zeros((0, 3)), np.zeros(0, np.uint8), np.zeros((0, 3))) is None


@pytest.fixture(scope="module")
def world_map(apartment):
    """The apartment mapped in its own (z-up) world with exact poses: (mapper, ground-truth scene graph)."""
    import json

    frames = list(open_sequence(apartment, ReadOptions(stride=2)))
    mapper = Mapper(Config(), frames[0].intrinsics)
    for frame in frames:
        mapper.step(frame, prediction_from_ground_truth(frame), frame.world_T_camera)
    return mapper, json.loads((apartment / "scene_graph.json").read_text())


def _space(mapper):
    from pipeline.free_space import free_space_map

    points, (tsdf, labels, evidence) = mapper.volume.voxel_table("tsdf", "label", "evidence")
    c = mapper.config.fusion
    return free_space_map(points, tsdf, np.where(evidence > 0, labels, 0), np.eye(4), c.voxel_size_m, c.truncation_m)


def _room_masks(space, truth):
    from matplotlib.path import Path as Polygon

    rows, cols = np.nonzero(np.ones(space.free.shape, bool))
    xy = space.xy(rows, cols)
    return {room["id"]: Polygon(np.array(room["footprint"])).contains_points(xy).reshape(space.free.shape)
            for room in truth["rooms"]}


def test_free_space_lies_inside_the_apartment(world_map):
    mapper, truth = world_map
    space = _space(mapper)
    inside = np.logical_or.reduce(list(_room_masks(space, truth).values()))
    assert space.free.sum() > 500 and not (space.free & space.occupied).any()
    assert (space.free & inside).sum() / space.free.sum() > 0.97
    assert space.walls.sum() > 100 and (space.walls <= space.occupied).all()


def test_rooms_match_the_true_rooms(world_map):
    from pipeline.rooms import segment_rooms

    mapper, truth = world_map
    space = _space(mapper)
    rooms = segment_rooms(space)
    masks = _room_masks(space, truth)
    assert 2 <= len(rooms.rooms) <= len(masks)
    matched = set()
    for room in rooms.rooms:  # every estimated room lies mostly in one true room, a different one each
        mask = rooms.labels == room.id
        share = {k: (mask & m).sum() / mask.sum() for k, m in masks.items()}
        best = max(share, key=share.get)
        assert share[best] > 0.6 and best not in matched, share
        matched.add(best)
        assert abs(room.area_m2 - mask.sum() * space.cell_m**2) < 1e-9
    assert all(a in range(1, len(rooms.rooms) + 1) and b in range(1, len(rooms.rooms) + 1) and a < b
               for (a, b) in (o.rooms for o in rooms.openings))


def test_places_are_free_with_clearance_and_joined_through_free_space(world_map):
    from pipeline.places import _line_free, find_places

    mapper, _ = world_map
    space = _space(mapper)
    places = find_places(space)
    assert len(places.positions) > 20 and len(places.edges) > len(places.positions) / 2
    assert space.free[places.cells[:, 0], places.cells[:, 1]].all() and (places.clearance_m >= 0.2).all()
    assert all(_line_free(space.free, tuple(places.cells[a]), tuple(places.cells[b])) for a, b in places.edges)


def test_outline_of_an_l_shaped_room():
    from pipeline.free_space import FreeSpaceMap
    from pipeline.rooms import outline

    mask = np.zeros((6, 8), bool)
    mask[1:5, 1:3] = True
    mask[3:5, 3:7] = True  # an L: 8 + 8 cells
    space = FreeSpaceMap(mask, mask, mask, mask, np.array([10.0, 20.0]), 0.5)
    polygon = outline(mask, space)
    x, y = polygon[:, 0], polygon[:, 1]
    area = 0.5 * np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y)
    assert len(polygon) == 6 and area == pytest.approx(16 * 0.25)  # counter-clockwise, six corners
    assert x.min() == pytest.approx(10.0 + 0.5 * 0.5) and y.min() == pytest.approx(20.0 + 0.5 * 0.5)


@pytest.fixture(scope="module")
def graph(world_map):
    """The graph of the mapped apartment with one made-up object per room and one walking agent."""
    from pipeline.graph_records import AgentRecord, ObjectRecord
    from pipeline.places import find_places
    from pipeline.rooms import segment_rooms
    from pipeline.scene_graph import SceneGraph

    mapper, _ = world_map
    space = _space(mapper)
    rooms = segment_rooms(space)
    places = find_places(space)
    objects = []
    for k, room in enumerate(rooms.rooms, start=1):
        centre = np.array([*room.centroid, 0.4])
        cid = 4 if k == 1 else 5  # a bed in the first room, chairs elsewhere
        objects.append(ObjectRecord(k, cid, centre, centre, np.array([1.0, 0.5, 0.8]), 0.3, 100, 5, 0.0, 1.0, 0.9))
    path = np.array([[*rooms.rooms[0].centroid, 0.0], [*rooms.rooms[-1].centroid, 0.0]])
    agents = [AgentRecord(1, 31, np.array([0.0, 2.0]), path, False)]
    return SceneGraph.build(rooms, places, space, objects, agents, ceiling_z_m=2.6), rooms


def test_graph_layers_queries_and_route(graph):
    from pipeline.scene_graph import number_of

    g, rooms = graph
    counts = g.counts()
    assert counts["building"] == 1 and counts["room"] == len(rooms.rooms) and counts["object"] == len(rooms.rooms)
    assert counts["agent"] == 1 and counts["place"] > 20
    assert all(d["layer"] == node.split(":")[0] for node, d in g.graph.nodes(data=True))
    first = "room:1"
    assert g.objects_in(first) == ["object:1"] and g.graph.nodes[first]["type"] == "bedroom"
    assert g.room_at(rooms.rooms[0].centroid) == first and g.room_at((1e3, 1e3)) is None
    route = g.route(first, f"room:{rooms.rooms[-1].id}")
    assert len(route) >= 2 and all(r.startswith("place:") for r in route)
    assert all(g.graph.has_edge(a, b) for a, b in zip(route, route[1:]))
    last_place = g.graph.nodes[route[-1]]
    assert g.room_at(last_place["position"]) == f"room:{rooms.rooms[-1].id}"
    assert g.graph.has_edge(f"room:{rooms.rooms[-1].id}", "agent:1") and number_of("agent:1") == 1


def test_graph_json_validates_and_round_trips(graph):
    import json
    from pathlib import Path

    import jsonschema

    from pipeline.scene_graph import SceneGraph

    g, _ = graph
    data = json.loads(json.dumps(g.to_json()))
    schema = json.loads((Path(__file__).resolve().parents[1] / "docs" / "scene-graph.schema.json").read_text())
    jsonschema.validate(data, schema)
    again = SceneGraph.from_json(data)
    assert again.to_json() == data
    assert set(again.graph.nodes) == set(g.graph.nodes)
    assert {frozenset(e) for e in again.graph.edges} == {frozenset(e) for e in g.graph.edges}
    for n in g.graph.nodes:
        assert np.allclose(again.graph.nodes[n]["position"], g.graph.nodes[n]["position"], atol=1e-4)


def test_spark_dsg_loads_the_export_with_the_same_nodes(graph, tmp_path):
    import spark_dsg

    from pipeline.dsg_export import write_spark_dsg

    g, _ = graph
    path = tmp_path / "scene_graph_dsg.json"
    write_spark_dsg(g, path)
    loaded = spark_dsg.DynamicSceneGraph.load(str(path))
    by_layer: dict = {}
    positions = {}
    for n in loaded.nodes:
        by_layer[str(n.layer)] = by_layer.get(str(n.layer), 0) + 1
        positions[(n.id.category, n.id.category_id)] = n.attributes.position
    counts = g.counts()
    assert by_layer["5"] == 1 and by_layer["4"] == counts["room"] and by_layer["3"] == counts["place"]
    assert by_layer["2"] == counts["object"] and sum(v for k, v in by_layer.items() if k.startswith("2[")) == 2
    for o in g.nodes("object"):
        assert np.allclose(positions[("O", int(o.split(":")[1]))], g.graph.nodes[o]["position"])
    for p in g.nodes("place"):
        assert np.allclose(positions[("p", int(p.split(":")[1]))], g.graph.nodes[p]["position"])


def test_synthetic_ground_truth_graph_still_validates_and_loads(apartment):
    import json
    from pathlib import Path

    import jsonschema

    from pipeline.scene_graph import SceneGraph

    truth = json.loads((apartment / "scene_graph.json").read_text())
    schema = json.loads((Path(__file__).resolve().parents[1] / "docs" / "scene-graph.schema.json").read_text())
    jsonschema.validate(truth, schema)
    graph = SceneGraph.from_json(truth)
    assert graph.counts()["room"] == len(truth["rooms"]) and graph.counts()["object"] == len(truth["objects"])


def test_scene_graph_picture(graph, tmp_path):
    from m2h_slam.data.graph_picture import draw_scene_graph
    from m2h_slam.data.image_io import read_rgb

    g, _ = graph
    draw_scene_graph(g.to_json(), tmp_path / "scene_graph.png")
    picture = read_rgb(tmp_path / "scene_graph.png")
    assert picture.shape[0] > 400 and picture.shape[1] > 400 and picture.std() > 10
