"""The object and agent settings of GraphConfig reach the layers that use them."""

import dataclasses

import numpy as np

from m2h_slam.core.config import GraphConfig
from m2h_slam.core.intrinsics import Intrinsics
from m2h_slam.core.labels import class_id
from pipeline.scene_graph.agents import AgentLayer, detections

PERSON = class_id("person")
K = Intrinsics(50.0, 50.0, 20.0, 15.0, 40, 30)


def _two_parts() -> tuple[np.ndarray, np.ndarray]:
    """A person cut in two by a pole: two blobs 8 px (0.32 m at 2 m) apart."""
    semantics = np.zeros((30, 40), np.uint8)
    semantics[5:25, 10:15] = PERSON
    semantics[5:25, 18:23] = PERSON
    return semantics, np.full((30, 40), 2.0, np.float32)


def test_parts_of_one_body_join_within_the_configured_radius():
    semantics, depth = _two_parts()
    assert len(detections(semantics, depth, K, np.eye(4), 25, part_radius_m=0.4)) == 1
    assert len(detections(semantics, depth, K, np.eye(4), 25, part_radius_m=0.1)) == 2
    wide, narrow = (AgentLayer(dataclasses.replace(GraphConfig(), agent_part_radius_m=r), K) for r in (0.4, 0.1))
    assert wide.observe(0.0, semantics, depth, np.eye(4)) == 1
    assert narrow.observe(0.0, semantics, depth, np.eye(4)) == 2


def test_the_walk_speed_widens_the_gate_of_an_unseen_track():
    """A person seen again 1.5 m away after 2 s unseen: the same agent at walking speed, a new one at speed 0."""
    semantics = np.zeros((30, 40), np.uint8)
    semantics[5:25, 18:23] = PERSON
    depth = np.full((30, 40), 2.0, np.float32)
    moved = np.eye(4)
    moved[0, 3] = 1.5
    agents = {}
    for speed in (1.5, 0.0):
        layer = AgentLayer(dataclasses.replace(GraphConfig(), agent_walk_speed_mps=speed, agent_reid_m=0.0), K)
        for k in range(4):  # an agent after 3 hits
            layer.observe(0.1 * k, semantics, depth, np.eye(4))
        for k in range(3):
            layer.observe(1.9 + 0.1 * k, semantics, depth, moved)
        agents[speed] = len(layer.records(np.eye(4), 2.1))
    assert agents == {1.5: 1, 0.0: 2}


def test_a_person_mask_the_network_is_unsure_of_or_too_short_for_a_body_is_no_detection():
    """Furniture mislabelled as a person: a low mean class probability, or a blob 0.2 m tall, detects nobody; the
    same blob, sure and standing 0.8 m, is a person."""
    semantics = np.zeros((30, 40), np.uint8)
    semantics[5:25, 18:23] = PERSON  # 20 px at 2 m: 0.8 m tall
    depth = np.full((30, 40), 2.0, np.float32)
    sure, unsure = np.full((30, 40), 0.9, np.float32), np.full((30, 40), 0.5, np.float32)
    config = GraphConfig()
    args = (K, np.eye(4), 25, 0.4)
    assert len(detections(semantics, depth, *args, sure, config.agent_min_confidence, config.agent_min_height_m)) == 1
    assert detections(semantics, depth, *args, unsure, config.agent_min_confidence, config.agent_min_height_m) == []
    low = np.zeros_like(semantics)
    low[20:25, 10:30] = PERSON  # 5 px at 2 m: 0.2 m tall (a cushion)
    assert detections(low, depth, *args, sure, config.agent_min_confidence, config.agent_min_height_m) == []
    layer = AgentLayer(config, K)
    for k in range(6):  # an unsure mask every frame never becomes an agent
        layer.observe(k / 15, semantics, depth, np.eye(4), unsure)
    assert layer.records(np.eye(4), 6 / 15) == []


def test_a_few_stray_wall_voxels_are_no_wall():
    """A cell needs wall-labelled surface adding up to free_space_min_wall_m of height to be wall: a full-height
    wall column is one, two stray voxels of noisy depth (0.1 m) are not, unless the bound is lowered; floor seen
    in the band (a floor placed too high by predicted depth) is an obstacle, never a wall."""
    from pipeline.scene_graph.free_space import free_space_map

    voxel = 0.05
    wall = np.array([[0.0, 0.0, z] for z in np.arange(0.2, 1.8, voxel)])
    stray = np.array([[1.0, 0.0, 1.0], [1.0, 0.0, 1.05]])
    points = np.concatenate([wall, stray])
    labels = np.full(len(points), class_id("wall"))
    tsdf = np.zeros(len(points))

    def walls(min_wall_m: float) -> set:
        grid = free_space_map(points, tsdf, labels, voxel, 0.15, cell_m=0.1, min_wall_m=min_wall_m)
        return {tuple(np.round(grid.xy(*np.nonzero(grid.walls))[k], 2)) for k in range(int(grid.walls.sum()))}

    floor_in_band = free_space_map(np.array([[2.0, 0.0, z] for z in np.arange(0.2, 1.0, voxel)]), tsdf[:16],
                                   np.full(16, class_id("floor")), voxel, 0.15, cell_m=0.1)
    assert floor_in_band.occupied.any() and not floor_in_band.walls.any()  # an obstacle, not a wall
    assert GraphConfig().free_space_min_wall_m == 0.4
    assert walls(0.4) == {(0.0, 0.0)}
    assert walls(0.05) == {(0.0, 0.0), (1.0, 0.0)}
