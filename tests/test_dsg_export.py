"""The spark_dsg export: every attribute set, loadable by spark_dsg itself, the same bytes for the same graph."""

import datetime
import json

import numpy as np
import pytest
import spark_dsg

from m2h_slam.core.labels import NYU40, PALETTE
from pipeline.scene_graph.dsg_export import headings, write_spark_dsg
from pipeline.scene_graph.graph import SceneGraph
from pipeline.scene_graph.records import AgentRecord, ObjectRecord

#: keys that spark_dsg itself writes as null when their container is empty
EMPTY_CONTAINERS = {"data", "dbow_ids", "dbow_values"}


def _suspicious(value, key: str = "") -> tuple[set[str], list[float]]:
    """Keys holding null, and numbers so close to zero that only uninitialised memory makes them, in a document."""
    nulls, tiny = set(), []
    if value is None:
        nulls.add(key)
    elif isinstance(value, float) and 0 < abs(value) < 1e-200:
        tiny.append(value)
    elif isinstance(value, dict):
        for k, v in value.items():
            n, s = _suspicious(v, k)
            nulls |= n
            tiny += s
    elif isinstance(value, list):
        for v in value:
            n, s = _suspicious(v, key)
            nulls |= n
            tiny += s
    return nulls, tiny


def _walkers(count: int = 3, steps: int = 20) -> list[AgentRecord]:
    """People walking straight lines in different directions, one standing still for a while."""
    agents = []
    for k in range(count):
        direction = np.array([np.cos(k), np.sin(k), 0.0])
        times = 0.1 * np.arange(steps) + k
        positions = np.array([1.0 * k, 0.0, 0.0]) + 0.05 * np.arange(steps)[:, None] * direction
        if k == 0:
            positions[5:10] = positions[5]  # standing: keeps the heading it had
        agents.append(AgentRecord(k + 1, 31, times, positions, active=k != 2))
    return agents


def _objects() -> list[ObjectRecord]:
    return [ObjectRecord(k, cid, np.array([k, 1.0, 0.4]), np.array([k, 1.0, 0.45]), np.array([1.0, 0.5, 0.8]),
                         0.3 * k, 100, 5, 0.0, 2.0 + k, 0.9) for k, cid in ((1, 5), (2, 4), (3, 39))]


@pytest.fixture(scope="module")
def graph():
    return SceneGraph.build(None, None, None, _objects(), _walkers())


def test_headings_follow_the_walk():
    positions = np.array([[0, 0, 0], [1, 0, 0], [1, 0, 0], [1, 1, 0], [1, 1, 0]], float)
    np.testing.assert_allclose(headings(positions), [0, 0, 0, np.pi / 2, np.pi / 2])
    np.testing.assert_allclose(headings(np.zeros((3, 3))), [0, 0, 0])  # never moved: identity
    np.testing.assert_allclose(headings(np.array([[0, 0, 0], [-1, 0, 0]], float)), [np.pi, np.pi])


def test_spark_dsg_loads_every_node_with_the_attributes_written(graph, tmp_path):
    path = tmp_path / "scene_graph_dsg.json"
    write_spark_dsg(graph, path)
    nulls, tiny = _suspicious(json.loads(path.read_text()))
    assert nulls <= EMPTY_CONTAINERS and tiny == []  # NaN is written as null, leftover memory as 1e-305
    loaded = spark_dsg.DynamicSceneGraph.load(str(path))
    agents = {n.id.category_id: n for n in loaded.nodes if n.id.category == "a"}
    records = graph.nodes("agent")
    expected = [(graph.graph.nodes[a]["record"], k) for a in records
                for k in range(len(graph.graph.nodes[a]["record"].times_s))]
    assert len(agents) == len(expected) >= 50
    for number, (record, k) in enumerate(expected):
        attrs = agents[number].attributes
        np.testing.assert_allclose(attrs.position, record.positions[k])
        yaw = headings(record.positions)[k]
        q = attrs.world_R_body
        np.testing.assert_allclose([q.w, q.x, q.y, q.z], [np.cos(yaw / 2), 0, 0, np.sin(yaw / 2)], atol=1e-12)
        assert attrs.timestamp == datetime.timedelta(seconds=float(record.times_s[k]))
        assert attrs.last_update_time_ns == round(record.times_s[k] * 1e9)
        assert attrs.external_key == number and attrs.is_active == record.active
    standing = [agents[n].attributes.world_R_body for n in range(5, 10)]  # agent 1 stands: keeps its heading
    assert len({(q.w, q.z) for q in standing}) == 1
    objects = {n.id.category_id: n.attributes for n in loaded.nodes if n.id.category == "O"}
    assert sorted(objects) == [1, 2, 3]
    for record in _objects():
        attrs = objects[record.id]
        assert attrs.name == NYU40[record.class_id].name and attrs.semantic_label == record.class_id
        np.testing.assert_array_equal(attrs.color, PALETTE[record.class_id])
        np.testing.assert_allclose(attrs.position, record.centroid)
        np.testing.assert_allclose(attrs.bounding_box.dimensions, record.extent)
        np.testing.assert_allclose(attrs.bounding_box.world_P_center, record.box_center)
        q = attrs.world_R_object
        np.testing.assert_allclose([q.w, q.z], [np.cos(record.yaw_rad / 2), np.sin(record.yaw_rad / 2)])
        assert attrs.last_update_time_ns == round(record.last_seen_s * 1e9)


def test_the_same_graph_is_written_as_the_same_bytes(graph, tmp_path):
    """Two exports of one graph, and of a second graph built from the same records, are byte for byte equal."""
    write_spark_dsg(graph, tmp_path / "a.json")
    write_spark_dsg(graph, tmp_path / "b.json")
    write_spark_dsg(SceneGraph.build(None, None, None, _objects(), _walkers()), tmp_path / "c.json")
    first = (tmp_path / "a.json").read_bytes()
    assert first == (tmp_path / "b.json").read_bytes() == (tmp_path / "c.json").read_bytes()
