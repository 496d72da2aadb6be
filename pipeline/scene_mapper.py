"""``SceneMapper``: the whole back end behind one object. Frames and predictions in; the trajectory, the map and
the queryable scene graph out, all in the gravity-aligned map frame (z up, floor at z = 0).

    scene = SceneMapper(Config(), sequence.intrinsics)
    for frame in sequence:
        scene.step(frame, predictor.predict(frame.rgb))      # mapping every frame, graph layers fed
    result = scene.finish()
    result.map_T_camera, result.mesh                          # (N, 4, 4) poses; LabelledMesh with object ids
    result.health.verdict                                     # ok / doubtful / unreliable, with reasons
    graph = result.graph                                      # SceneGraph (without the floor: no rooms, not upright)
    graph.objects_in("room:1"), graph.room_at([x, y, z]), graph.route("room:1", "room:2")
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from m2h_slam.core.config import Config
from m2h_slam.core.geometry import transform_points
from m2h_slam.core.intrinsics import Intrinsics
from m2h_slam.core.records import Frame, LabelledMesh, Prediction
from pipeline.mapping.health import HealthMonitor, HealthReport
from pipeline.mapping.mapper import MapCounts, Mapper, MapResult, StepResult
from pipeline.scene_graph.builder import SceneGraphBuilder
from pipeline.scene_graph.graph import SceneGraph

HEALTH_FILE = "health.json"


@dataclass(frozen=True)
class SceneResult:
    """A finished map in the map frame. map_T_camera: (N, 4, 4) pose of every frame, timestamps_s (N,);
    mesh: labelled mesh with per-vertex object ids (``instances``); mesh_rgb (V, 3) uint8 fused colour;
    map_T_world (4, 4): the map frame in the poses' world (identity while ``graph`` is None); health: whether the
    perception and tracking behind it can be trusted."""

    map_T_camera: np.ndarray
    timestamps_s: np.ndarray
    mesh: LabelledMesh
    mesh_rgb: np.ndarray
    graph: SceneGraph | None
    graph_status: dict
    map_T_world: np.ndarray
    events: list[str]
    counts: MapCounts
    health: HealthReport


class SceneMapper:
    """``Mapper`` (every frame) and ``SceneGraphBuilder`` (fed every frame, built when asked) as one object.

    ``predicted_depth``: see ``Mapper`` (None: as the predictions say). ``mapper`` and ``builder`` are public
    for snapshots and live views; the graph reads the map only through ``mapper.view()``."""

    def __init__(self, config: Config, intrinsics: Intrinsics, device: str = "CPU:0",
                 predicted_depth: bool | None = None):
        self.mapper = Mapper(config, intrinsics, device=device, predicted_depth=predicted_depth)
        self.builder = SceneGraphBuilder(config, intrinsics)
        self.health = HealthMonitor(config.health)

    def step(self, frame: Frame, prediction: Prediction, world_T_camera: np.ndarray | None = None) -> StepResult:
        """Map one frame (``world_T_camera`` given: that pose, else odometry) and feed the graph layers."""
        result = self.mapper.step(frame, prediction, world_T_camera)
        self.health.observe(result)
        start = time.perf_counter()
        if result.correction is not None:
            self.builder.move(result.correction)
        self.builder.update(frame, result)
        result.timings_ms["scene_graph"] = 1000 * (time.perf_counter() - start)
        return result

    def graph(self) -> tuple[SceneGraph | None, dict]:
        """The scene graph of the map so far (a look: changes nothing), and its status."""
        return self.builder.build(self.mapper.view(), final=False)

    def finish(self) -> SceneResult:
        """The final map, trajectory and graph in the map frame."""
        return self.result(self.mapper.finish(), *self.builder.build(self.mapper.view()))

    def result(self, mapped: MapResult, graph: SceneGraph | None, status: dict) -> SceneResult:
        """``mapped`` (world frame) moved into the map frame of ``graph``'s build, with object ids per vertex."""
        map_T_world = self.builder.last_map_T_world if graph is not None else np.eye(4)
        mesh = mapped.mesh
        vertices = transform_points(map_T_world, mesh.vertices) if len(mesh.vertices) else mesh.vertices
        instances = self.builder.instances(vertices, mesh.labels) if graph is not None else mesh.instances
        return SceneResult(map_T_world @ mapped.poses, mapped.timestamps_s,
                           LabelledMesh(vertices, mesh.triangles, mesh.colours, mesh.labels, instances),
                           mapped.mesh_rgb, graph, status, map_T_world, mapped.events, mapped.counts,
                           self.health.report())

    # -- snapshots -------------------------------------------------------------------------------
    def save(self, folder: str | os.PathLike) -> None:
        """Write the mapper, graph-layer and health state into ``folder`` (a new folder; callers make it atomic)."""
        self.mapper.save_snapshot(folder)
        self.builder.save(folder)
        (Path(folder) / HEALTH_FILE).write_text(json.dumps(self.health.state()))

    def load(self, folder: str | os.PathLike) -> None:
        """Restore what ``save`` wrote."""
        self.mapper.load_snapshot(folder)
        self.builder.load(folder)
        path = Path(folder) / HEALTH_FILE
        if path.is_file():
            self.health.load_state(json.loads(path.read_text()))
