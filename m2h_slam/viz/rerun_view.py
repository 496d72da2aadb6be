"""Live view of a run through rerun-sdk (``m2h-slam run --rerun`` / ``--rerun-save FILE.rrd``;
install ``m2h-slam[viz]``): per frame the camera pose, image, predicted depth, semantics and
tracking state; at the end the trajectory and the semantic mesh."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from m2h_slam.core.errors import InputError
from m2h_slam.core.labels import colourize
from m2h_slam.core.records import Frame, Prediction


class RerunViewer:
    """Logs a run to a spawned rerun viewer, or to an .rrd file when ``save`` is given."""

    def __init__(self, save: Path | None = None, application: str = "m2h-slam"):
        try:
            import rerun as rr
        except ImportError:
            raise InputError(Path("--rerun"), "rerun-sdk is not installed; pip install 'm2h-slam[viz]'") from None
        self.rr = rr
        rr.init(application, spawn=save is None)
        if save is not None:
            rr.save(str(save))
        rr.log("world", rr.ViewCoordinates.RDF, static=True)  # OpenCV camera axes

    def __call__(self, frame: Frame, prediction: Prediction, result) -> None:
        rr = self.rr
        rr.set_time("frame", sequence=frame.index)
        pose = result.world_T_camera
        K = frame.intrinsics
        rr.log("world/camera", rr.Transform3D(translation=pose[:3, 3], mat3x3=pose[:3, :3]))
        rr.log("world/camera/image", rr.Pinhole(focal_length=[K.fx, K.fy], principal_point=[K.cx, K.cy],
                                                resolution=[K.width, K.height]))
        rr.log("world/camera/image/rgb", rr.Image(frame.rgb))
        rr.log("world/camera/image/depth", rr.DepthImage(prediction.depth_m, meter=1.0))
        rr.log("semantics", rr.Image(colourize(prediction.semantics)))
        rr.log("tracking", rr.TextLog(result.tracking))

    def revisit(self, record: dict, poses: np.ndarray) -> None:
        """A place seen again (run.json's revisits record, frame numbers as mapped): a line between the two camera
        positions under ``world/closures``, a text line, and the trajectory so far (``poses`` (N, 4, 4), after the
        loop closure moved them) under ``world/trajectory_so_far``."""
        rr = self.rr
        old, new = record["frames"]
        state = f"map moved up to {record['moved_m']:.2f} m" if record["corrected"] else "not corrected"
        rr.log("closures", rr.TextLog(f"frame {new} sees frame {old} again: drift {record['drift_m']:.2f} m, {state}"))
        if max(old, new) < len(poses):
            rr.log(f"world/closures/{old}_{new}", rr.LineStrips3D([[poses[old][:3, 3], poses[new][:3, 3]]],
                                                                   colors=[[255, 0, 255]], radii=0.02))
        rr.log("world/trajectory_so_far", rr.LineStrips3D([poses[:, :3, 3]]))

    def graph(self, data: dict, map_T_world: np.ndarray) -> None:
        """The scene graph (a scene-graph document in the map frame): room outlines, object boxes, places
        and their edges, agent paths, under ``world/graph``."""
        rr = self.rr
        world_T_map = np.linalg.inv(map_T_world)
        rr.log("world/graph", rr.Transform3D(translation=world_T_map[:3, 3], mat3x3=world_T_map[:3, :3]))
        rooms = [np.array([[x, y, 0.0] for x, y in room["footprint"] + room["footprint"][:1]]) for room in data["rooms"]]
        rr.log("world/graph/rooms", rr.LineStrips3D(rooms, labels=[r.get("type") or f"room {r['id']}"
                                                                   for r in data["rooms"]]))
        if data["objects"]:
            boxes = [o["box"] for o in data["objects"]]
            rr.log("world/graph/objects", rr.Boxes3D(
                centers=[b["center"] for b in boxes], half_sizes=[np.array(b["extent"]) / 2 for b in boxes],
                rotation_axis_angles=[rr.RotationAxisAngle(axis=[0, 0, 1], radians=b["yaw_rad"]) for b in boxes],
                labels=[o["class_name"] for o in data["objects"]]))
        places = {p["id"]: p["position"] for p in data["places"]}
        if places:
            rr.log("world/graph/places", rr.Points3D(list(places.values()), radii=0.03))
            edges = [[places[p["id"]], places[q]] for p in data["places"] for q in p["neighbours"] if q > p["id"]]
            rr.log("world/graph/place_edges", rr.LineStrips3D(edges, radii=0.005))
        if data["agents"]:
            rr.log("world/graph/agents", rr.LineStrips3D([a["positions"] for a in data["agents"]],
                                                         labels=[f"agent {a['id']}" for a in data["agents"]]))

    def finish(self, result) -> None:
        """The whole trajectory and the semantic mesh of a finished run (``MapResult``)."""
        rr = self.rr
        rr.log("world/trajectory", rr.LineStrips3D([result.poses[:, :3, 3]]), static=True)
        mesh = result.mesh
        if len(mesh.triangles):
            rr.log("world/mesh", rr.Mesh3D(vertex_positions=mesh.vertices.astype(np.float32),
                                           triangle_indices=mesh.triangles.astype(np.uint32),
                                           vertex_colors=mesh.colours), static=True)
        rr.disconnect()
