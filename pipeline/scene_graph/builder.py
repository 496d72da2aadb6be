"""The scene-graph stage of a run: fed after each mapper step, asked for the graph when it is wanted.

    builder = SceneGraphBuilder(config, intrinsics)
    builder.update(frame, step_result)                # objects and agents, every tracked frame; merges
                                                     # duplicate objects every graph.update_every_frames
    graph, status = builder.build(mapper.view())     # map frame, free space, rooms, places -> SceneGraph

The map frame is the world of the ground truth when the run maps with the ground-truth poses;
otherwise (odometry, a pose file) it is estimated from the fused floor and walls (``pipeline.scene_graph.gravity``).
Without enough floor the graph holds objects and agents only, in the first camera's frame turned upright
(``camera_up_frame``: not gravity-aligned, no rooms or places; ``status`` says so).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from m2h_slam.core.config import Config
from m2h_slam.core.geometry import transform_points
from m2h_slam.core.intrinsics import Intrinsics
from m2h_slam.core.labels import class_id
from m2h_slam.core.records import Frame, PoseCorrection, Tracking
from pipeline.mapping.map_view import MapView
from pipeline.scene_graph.agents import AgentLayer
from pipeline.scene_graph.free_space import free_space_map
from pipeline.scene_graph.graph import SceneGraph
from pipeline.scene_graph.gravity import camera_up_frame, estimate_map_frame
from pipeline.scene_graph.objects import ObjectLayer
from pipeline.scene_graph.places import find_places
from pipeline.scene_graph.rooms import segment_rooms

STATE_FILE = "scene_graph_state.json"
CEILING = class_id("ceiling")


class SceneGraphBuilder:
    """Objects and agents from frames; rooms, places and the map frame from the mapper's map."""

    def __init__(self, config: Config, intrinsics: Intrinsics):
        self.config = config
        self.objects = ObjectLayer(config.graph, intrinsics, config.fusion)
        self.agents = AgentLayer(config.graph, intrinsics)
        self.world_is_map: bool | None = None  # the poses' world is already z-up with the floor at 0
        self.last_time_s = 0.0
        self.last_map_T_world = np.eye(4)  # of the last build
        self.last_support: dict | None = None  # what the map holds in each object's cells, at the last build
        self.tracked_frames = 0

    def update(self, frame: Frame, step) -> None:
        """Feed one mapped frame (``step``: the mapper's ``StepResult``, which holds the prediction as mapped:
        sanitised, depth 0 where invalid)."""
        if self.world_is_map is None:  # mapping with the ground truth's poses: its world is z-up (a pose file's
            # need not be, and odometry started at the first true pose drifts away from it)
            self.world_is_map = (step.tracking == Tracking.GIVEN and frame.world_T_camera is not None
                                 and np.allclose(step.world_T_camera, frame.world_T_camera))
        self.last_time_s = float(frame.timestamp_s)
        if not step.tracking.placed:
            return  # the pose is a guess: nothing is placed with it
        prediction = step.prediction
        self.agents.observe(frame.timestamp_s, prediction.semantics, prediction.depth_m, step.world_T_camera,
                            prediction.confidence)
        g = self.config.graph
        if self.tracked_frames % g.object_every_frames == 0:
            self.objects.observe(frame.timestamp_s, prediction.semantics, prediction.depth_m, prediction.edges,
                                 prediction.confidence, step.world_T_camera)
        self.tracked_frames += 1
        if self.tracked_frames % g.update_every_frames == 0:
            self.objects.merge()  # the periodic pass over duplicates (rooms and places wait for build)

    def move(self, correction: PoseCorrection) -> None:
        """A loop closure moved the map: move the objects and agents placed before it with it."""
        self.objects.move(correction)
        self.agents.move(correction)

    def map_frame(self, points: np.ndarray, labels: np.ndarray, evidence: np.ndarray,
                  normals: np.ndarray | None) -> np.ndarray | None:
        """map_T_world (4, 4) from the voxels (world frame; labelled where ``evidence`` > 0), or None while the
        floor is unknown. ``normals`` are needed only when the map frame is estimated."""
        if self.world_is_map:
            return np.eye(4)
        labelled = evidence > 0
        frame = estimate_map_frame(points[labelled], labels[labelled], normals[labelled],
                                   self.config.graph.map_frame_min_floor_voxels)
        return None if frame is None else frame.map_T_world

    def build(self, view: MapView, final: bool = True) -> tuple[SceneGraph | None, dict]:
        """The scene graph of the map seen through ``view`` (``Mapper.view()``), and a status record for run.json
        (None before the first frame). ``final``: merge the duplicate objects left since the last periodic pass
        first (a look at the graph during the run, ``final=False``, changes nothing)."""
        names = ("tsdf", "label", "evidence") + (() if self.world_is_map else ("normal_sum",))
        points, (tsdf, labels, evidence, *normals) = view.voxels(*names)  # read once per build
        map_T_world = self.map_frame(points, labels, evidence, normals[0] if normals else None)
        upright = map_T_world is not None
        if not upright:
            first = view.first_camera()
            if first is None:
                return None, {"state": "no frames mapped"}
            map_T_world = camera_up_frame(first)
        self.last_map_T_world = map_T_world
        g = self.config.graph
        if final:
            self.objects.merge()
        labels = np.where(evidence > 0, labels, 0)
        surface = (evidence > 0) & (np.abs(tsdf) * view.truncation_m < view.voxel_size_m)
        self.last_support = self.objects.map_support(points[surface], labels[surface], evidence[surface])
        points = transform_points(map_T_world, points) if not self.world_is_map else points
        objects = self.objects.records(map_T_world, self.last_support)
        agents = self.agents.records(map_T_world, self.last_time_s)
        if not upright:  # no floor: no free space, rooms or places; objects and agents still stand
            graph = SceneGraph.build(None, None, None, objects, agents)
            return graph, self._status(graph, map_T_world, "the first camera's, turned upright: not gravity-aligned "
                                       "(too few floor voxels to fix the map frame); no rooms or places", False)
        space = free_space_map(points, tsdf, labels, view.voxel_size_m, view.truncation_m, g.free_space_cell_m,
                               g.free_space_min_z_m, g.free_space_max_z_m, g.free_space_min_wall_m)
        cameras = view.camera_positions()
        rooms = segment_rooms(space, g.room_seed_clearance_m, g.room_min_area_m2, g.room_unseen_reach_m,
                              g.room_door_max_m, transform_points(map_T_world, cameras)[:, :2], g.room_seed_reach_m,
                              g.room_min_seen_floor_m2)
        places = find_places(space, g.place_spacing_m, g.place_min_clearance_m)
        graph = SceneGraph.build(rooms, places, space, objects, agents, ceiling_z_m=_ceiling_height(points[:, 2], labels))
        frame = "the poses' world" if self.world_is_map else "estimated from the floor"
        return graph, self._status(graph, map_T_world, frame, True)

    def _status(self, graph: SceneGraph, map_T_world: np.ndarray, frame: str, upright: bool) -> dict:
        """run.json's record of a build: the map frame (and whether z is up, the floor at 0), counts, events."""
        return {"state": "built" if upright else "built without the floor", "map_frame": frame,
                "gravity_aligned": upright, "map_T_world": np.round(map_T_world, 6).tolist(),
                "counts": graph.counts(), "events": list(self.objects.events)}

    def instances(self, vertices_map: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """(N,) uint16 object id of each mesh vertex (map frame): the object of the vertex's class whose
        voxel is nearest, within one object voxel; 0 elsewhere."""
        from scipy.spatial import cKDTree

        ids = np.zeros(len(vertices_map), np.uint16)
        centres, owners, classes = self.objects.voxel_owners(self.last_map_T_world, self.last_support)
        if not len(centres) or not len(vertices_map):
            return ids
        reach = self.config.graph.object_voxel_m
        distance, nearest = cKDTree(centres).query(vertices_map, distance_upper_bound=reach)
        hit = np.isfinite(distance)
        hit[hit] &= classes[nearest[hit]] == labels[hit]
        ids[hit] = owners[nearest[hit]]
        return ids

    # -- snapshots -------------------------------------------------------------------------------
    def save(self, folder: str | os.PathLike) -> None:
        state = {"world_is_map": self.world_is_map, "last_time_s": self.last_time_s, "events": self.objects.events,
                 "tracked_frames": self.tracked_frames,
                 "objects": self.objects.state(), "agents": self.agents.state()}
        (Path(folder) / STATE_FILE).write_text(json.dumps(state))

    def load(self, folder: str | os.PathLike) -> None:
        path = Path(folder) / STATE_FILE
        if not path.is_file():
            return
        state = json.loads(path.read_text())
        self.world_is_map, self.last_time_s = state["world_is_map"], state["last_time_s"]
        self.tracked_frames = state["tracked_frames"]
        self.objects.events = list(state["events"])
        self.objects.load_state(state["objects"])
        self.agents.load_state(state["agents"])


def _ceiling_height(z_m: np.ndarray, labels: np.ndarray) -> float:
    """Median height (m, map frame) of the ceiling voxels (``labels``: 0 where unlabelled); the highest mapped
    surface if too little ceiling was seen."""
    ceiling = labels == CEILING
    if ceiling.sum() >= 20:
        return round(float(np.median(z_m[ceiling])), 4)
    return round(float(z_m.max()) if len(z_m) else 0.0, 4)
