"""The library as the README shows it: frames and predictions in; trajectory, map and queryable graph out."""

import re
from pathlib import Path

import numpy as np
import pytest

from m2h_slam.core.config import Config
from m2h_slam.perception.ground_truth import prediction_from_ground_truth
from m2h_slam.sources import ReadOptions, open_sequence
from m2h_slam.synthetic import WorldSpec
from pipeline import Mapper, SceneMapper

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture(scope="module")
def apartment(apartments):
    return apartments(WorldSpec(seed=3, frames=40, rooms=2, people=1), size=(160, 120))


@pytest.mark.slow
def test_the_readme_example_runs_and_gives_the_whole_product(apartment, capsys):
    """The README's library block, run as written on a generated apartment (the network: the demo weights)."""
    code = re.search(r"## Library\n\n```python\n(.*?)```", README.read_text(), re.S).group(1)
    assert 'open_sequence("clip.mp4")' in code
    namespace: dict = {}
    exec(code.replace('"clip.mp4"', repr(str(apartment))), namespace)
    result = namespace["result"]
    assert result.map_T_camera.shape == (40, 4, 4) and len(result.timestamps_s) == 40
    assert len(result.mesh.vertices) > 1000
    assert namespace["scene"].mapper.odometry.config.method == "intensity"  # network depth: photometric odometry
    assert result.graph is None or result.graph.nodes("room") == namespace["rooms"]


def test_scene_mapper_with_true_perception_answers_graph_queries(apartment):
    sequence = open_sequence(apartment)
    scene = SceneMapper(Config(), sequence.intrinsics)
    truth = []
    for frame in sequence:
        scene.step(frame, prediction_from_ground_truth(frame), frame.world_T_camera)
        truth.append(frame.world_T_camera)
    result = scene.finish()
    graph = result.graph
    assert graph is not None and result.graph_status["state"] == "built"
    np.testing.assert_allclose(result.map_T_world, np.eye(4))  # ground-truth poses: their world is the map
    np.testing.assert_allclose(result.map_T_camera, np.array(truth), atol=1e-9)
    rooms = graph.nodes("room")
    assert rooms and any(graph.objects_in(room) for room in rooms)
    camera_room = graph.room_at(result.map_T_camera[-1][:3, 3])
    assert camera_room in rooms
    if len(rooms) > 1:
        assert graph.route(rooms[0], rooms[-1])
    instances = result.mesh.instances
    assert instances.shape == (len(result.mesh.vertices),) and (instances > 0).any()  # object ids per vertex


@pytest.mark.parametrize("ground_truth, method", [(True, "hybrid"), (False, "intensity")])
def test_the_mapper_picks_its_odometry_by_where_the_depth_came_from(apartment, ground_truth, method):
    """No flag to forget: measured depth gets the hybrid odometry, network depth the photometric one."""
    sequence = open_sequence(apartment, ReadOptions(max_frames=2))
    mapper = Mapper(Config(), sequence.intrinsics)
    for frame in sequence:
        prediction = prediction_from_ground_truth(frame)
        if not ground_truth:  # the same depth, declared as a network's
            prediction = type(prediction)(**{**prediction.__dict__, "depth_source": "network"})
        mapper.step(frame, prediction)
    assert mapper.odometry.config.method == method
    assert Mapper(Config(), sequence.intrinsics, predicted_depth=True).odometry.config.method == "intensity"
