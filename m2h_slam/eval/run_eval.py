"""Evaluate a run folder against a sequence with ground truth (trajectory, reconstruction, scene graph)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from m2h_slam.core.errors import InputError
from m2h_slam.core.geometry import backproject, transform_points
from m2h_slam.core.labels import IS_DYNAMIC, IS_OBJECT
from m2h_slam.eval.metrics import mesh_score, relative_pose_error, trajectory_error
from m2h_slam.formats.ply_io import read_labelled_ply, read_surface
from m2h_slam.formats.trajectory_io import read_tum_trajectory
from m2h_slam.sources import ReadOptions, open_sequence


def observed_surface(sequence, every: int = 5, stride_px: int = 7, depth_max_m: float = 5.0) -> np.ndarray:
    """World points of the ground-truth depth of every ``every``-th frame (static classes only)."""
    points = []
    for k, frame in enumerate(sequence):
        if k % every or frame.depth_m is None or frame.world_T_camera is None:
            continue
        keep = (frame.depth_m > 0) & (frame.depth_m < depth_max_m)
        if frame.semantics is not None:
            keep &= ~IS_DYNAMIC[frame.semantics]
        points.append(transform_points(frame.world_T_camera, backproject(frame.depth_m, frame.intrinsics)[keep][::stride_px]))
    return np.concatenate(points) if points else np.zeros((0, 3))


def evaluate_run(run_dir: str | Path, ground_truth: str | Path, correct_scale: bool = False,
                 threshold_m: float = 0.05, camera: str | None = None) -> dict:
    """Scores of a finished run against the sequence it mapped (``ground_truth``: any source with ground-truth
    poses, e.g. a synthetic m2h sequence with mesh.ply, a ScanNet or Replica scene, ``camera`` of a Hypersim
    scene); see ``score_run``."""
    run_dir, ground_truth = Path(run_dir), Path(ground_truth)
    if (ground_truth / "run.json").is_file():
        raise InputError(ground_truth, "is the output of m2h-slam run, not a sequence with ground truth; "
                                       "pass the sequence that was mapped as --gt")
    return score_run(run_dir, open_sequence(ground_truth, ReadOptions(camera=camera)), correct_scale, threshold_m)


def score_run(run_dir: Path, sequence, correct_scale: bool = False, threshold_m: float = 0.05,
              figures: Path | None = None) -> dict:
    """ATE (evo, aligned; Sim(3) with ``correct_scale``), RPE over consecutive frames (after the same alignment),
    reconstruction accuracy / completeness / precision / recall / F1 at ``threshold_m`` and, when the sequence
    has a true scene graph, the graph scores. The reconstruction reference is ``sequence.reference_mesh`` (any
    surface Open3D reads), else the observed true surface (back-projected ground-truth depth); completeness is
    measured on the observed true surface (space never in view cannot be mapped). ``figures``: a folder to
    draw the trajectory and the top-down map against the ground truth into (trajectory.png, topdown.png)."""
    for needed in (run_dir / "trajectory.txt", run_dir / "mesh.ply"):
        if not needed.is_file():
            raise InputError(needed, "missing (evaluation needs a finished run)")
    frames = [f for f in sequence if f.world_T_camera is not None]  # ScanNet marks some poses invalid
    if len(frames) < 2:
        raise InputError(sequence.path, "sequence has no ground-truth poses (fewer than 2 frames with one)")
    ref_stamps, ref_poses = np.array([f.timestamp_s for f in frames]), np.array([f.world_T_camera for f in frames])
    est_stamps, est_poses = read_tum_trajectory(run_dir / "trajectory.txt")
    try:
        ate = trajectory_error(ref_stamps, ref_poses, est_stamps, est_poses, align=True, correct_scale=correct_scale)
        aligned = np.einsum("ij,njk->nik", ate.reference_T_estimate, est_poses)
        aligned[:, :3, :3] /= ate.scale
        rpe = relative_pose_error(ref_stamps, ref_poses, est_stamps, aligned)
    except ValueError as error:
        raise InputError(run_dir / "trajectory.txt", str(error)) from None
    estimate = read_labelled_ply(run_dir / "mesh.ply")
    vertices = transform_points(ate.reference_T_estimate, estimate.vertices)  # the map, in the reference frame
    seen = observed_surface(frames)
    if sequence.reference_mesh is not None:
        reference_vertices, reference_triangles = read_surface(sequence.reference_mesh)
    else:
        reference_vertices, reference_triangles = seen, np.zeros((0, 3), np.int64)
    score = mesh_score(vertices, estimate.triangles, reference_vertices, reference_triangles, seen, threshold_m)
    if figures is not None:
        from m2h_slam.eval.report import topdown_figure, trajectory_figure

        trajectory_figure(figures / "trajectory.png", ref_poses[:, :3, 3], aligned[:, :3, 3])
        topdown_figure(figures / "topdown.png", seen, vertices, ref_poses[:, :3, 3])
    scores = {
        "ate_rmse_m": round(ate.rmse_m, 4), "ate_percent_of_path": round(ate.rmse_percent_of_path, 3),
        "rpe_rmse_m": round(rpe.rmse_m, 4), "path_length_m": round(ate.path_length_m, 3),
        "poses_matched": ate.matched, "scale": round(ate.scale, 4),
        "mesh_accuracy_m": round(score.accuracy_m, 4), "mesh_completeness_m": round(score.completeness_m, 4),
        f"mesh_precision@{threshold_m}m": round(score.precision, 4), f"mesh_recall@{threshold_m}m": round(score.recall, 4),
        f"mesh_f1@{threshold_m}m": round(score.f1, 4),
        "mesh_reference": "reference mesh" if sequence.reference_mesh is not None else "observed true surface",
    }
    truth_graph = sequence.path / "scene_graph.json"
    if (run_dir / "scene_graph.json").is_file() and truth_graph.is_file():
        scores.update(graph_scores(run_dir / "scene_graph.json", truth_graph, frames, ate.reference_T_estimate, seen))
    return scores


GRAPH_LAYERS = ("objects", "rooms", "agents")  # what the graph scores read of a scene_graph.json


def read_graph_document(path: Path, layers: tuple[str, ...] = GRAPH_LAYERS, required: bool = True) -> dict:
    """A scene_graph.json as m2h-slam writes it (an object whose ``layers`` are lists of objects; ``required``:
    each of them present); ``InputError`` naming the file otherwise."""
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise InputError(path, "not valid JSON") from None
    if not isinstance(data, dict):
        raise InputError(path, f"holds a JSON {type(data).__name__}, not the scene graph object m2h-slam writes")
    for layer in layers:
        items = data.get(layer) if required else data.get(layer, [])
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise InputError(path, f"'{layer}' is not a list of objects (not a scene graph m2h-slam writes)")
    return data


def seen_instances(frames, min_pixels: int = 40, min_frames: int = 3) -> dict[int, np.ndarray]:
    """Instance ids of objects and people covering ``min_pixels`` in at least ``min_frames`` frames -> the centre
    (3,) m of the box around what the camera saw of them (true depth and poses, in those frames)."""
    counts: dict[int, int] = {}
    low: dict[int, np.ndarray] = {}
    high: dict[int, np.ndarray] = {}
    for frame in frames:
        if frame.instances is None or frame.semantics is None:
            continue
        ids, sizes = np.unique(frame.instances[(IS_OBJECT | IS_DYNAMIC)[frame.semantics]], return_counts=True)
        big = ids[(sizes >= min_pixels) & (ids > 0)]
        for i in big.tolist():
            counts[i] = counts.get(i, 0) + 1
        if frame.depth_m is None or frame.world_T_camera is None or not len(big):
            continue
        keep = np.isin(frame.instances, big) & (frame.depth_m > 0)
        points = transform_points(frame.world_T_camera, backproject(frame.depth_m, frame.intrinsics)[keep])
        owner = frame.instances[keep]
        for i in big.tolist():
            mine = points[owner == i]
            if len(mine):
                low[i] = np.minimum(low.get(i, mine.min(axis=0)), mine.min(axis=0))
                high[i] = np.maximum(high.get(i, mine.max(axis=0)), mine.max(axis=0))
    return {i: (low[i] + high[i]) / 2 if i in low else np.full(3, np.nan) for i, n in counts.items()
            if n >= min_frames}


def graph_scores(estimated_path: Path, truth_path: Path, frames, reference_T_estimate: np.ndarray,
                 seen_points: np.ndarray) -> dict:
    """Object, room and agent scores of a run's scene graph against the sequence's ground truth;
    ``seen_points`` (N, 3): observed true surface. Objects and rooms also count when they match the part the camera
    saw; the ``_strict`` scores compare with whole true objects and rooms only."""
    from m2h_slam.eval.graph_metrics import agent_scores, object_scores, room_scores

    estimated, truth = read_graph_document(estimated_path), read_graph_document(truth_path)
    seen = seen_instances(frames)
    camera_xy = np.array([f.world_T_camera[:2, 3] for f in frames])
    objects = object_scores(estimated["objects"], truth["objects"], seen, reference_T_estimate)
    strict_objects = object_scores(estimated["objects"], truth["objects"], dict.fromkeys(seen, np.full(3, np.nan)),
                                   reference_T_estimate)
    rooms = room_scores(estimated["rooms"], truth["rooms"], camera_xy, reference_T_estimate, seen_points)
    strict_rooms = room_scores(estimated["rooms"], truth["rooms"], camera_xy, reference_T_estimate)
    agents = agent_scores(estimated["agents"], truth["agents"], seen, reference_T_estimate)
    return {"objects_precision": objects["precision"], "objects_recall": objects["recall"], "objects_f1": objects["f1"],
            "objects_estimated": objects["estimated"], "objects_seen": objects["seen"],
            "rooms_precision": rooms["precision"], "rooms_recall": rooms["recall"], "rooms_estimated": rooms["estimated"],
            "rooms_visited": rooms["visited"], "objects_f1_strict": strict_objects["f1"],
            "rooms_precision_strict": strict_rooms["precision"], "rooms_recall_strict": strict_rooms["recall"],
            "agents": agents["agents"], "people_seen": agents["people_seen"],
            "people_followed": agents["people_followed"],
            "agent_id_switches": agents["id_switches"], "agent_most_switches_per_person": agents["most_switches_per_person"]}
