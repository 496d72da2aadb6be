"""The agent layer: people (the class table's dynamic classes) tracked in 3D over time.

Per frame, each dynamic-class segment (at least ``object_min_pixels``) is back-projected; the parts of
one body are joined, and a body whose pixels the network was sure of (mean class probability at least
``agent_min_confidence``) and that stands at least ``agent_min_height_m`` tall is a detection at its
median point (furniture mislabelled as a person is mostly neither). Tracks run a constant-velocity
Kalman filter (filterpy); detections are assigned by scipy's assignment solver within ``agent_gate_m``
(wider for a track unseen for a while), first to the agents, then what is left to the tentative tracks.
A tentative track becomes an agent after ``agent_min_hits`` detections in consecutive frames, and is
dropped at its first miss (two people walking close together seen as one, then as two, leave no third
agent). An agent leaves the active layer when unseen for ``agent_max_unseen_s`` and stays in the
history; a person seen again within ``agent_reid_m`` of where an agent of the history was last seen,
plus what ``agent_walk_speed_mps`` covers in the time beyond ``agent_max_unseen_s``, is that agent again
(its filter restarts there). Tracks are matched to where their filter expects them or where they were
last seen, whichever is nearer (a noisy velocity carries the prediction far off while a track is
unseen). Other detections start tentative tracks. People never enter the object layer or the TSDF (the
mapper masks them).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from filterpy.kalman import KalmanFilter
from scipy.optimize import linear_sum_assignment

from m2h_slam.core.config import GraphConfig
from m2h_slam.core.geometry import backproject_pixels, transform_points
from m2h_slam.core.intrinsics import Intrinsics
from m2h_slam.core.labels import IS_DYNAMIC
from m2h_slam.core.records import PoseCorrection
from pipeline.scene_graph.records import AgentRecord
from pipeline.scene_graph.segments import class_mask, class_segments


def _filter(position: np.ndarray, measurement_sigma_m: float) -> KalmanFilter:
    """Constant-velocity filter (position, velocity) starting at ``position`` (3,) m, at rest."""
    kf = KalmanFilter(dim_x=6, dim_z=3)
    kf.x = np.concatenate([position, np.zeros(3)])
    kf.H = np.hstack([np.eye(3), np.zeros((3, 3))])
    kf.P = np.diag([measurement_sigma_m**2] * 3 + [1.0] * 3)
    kf.R = np.eye(3) * measurement_sigma_m**2
    kf.x_post, kf.P_post = kf.x.copy(), kf.P.copy()
    return kf


def _predict(kf: KalmanFilter, dt: float, acceleration_sigma: float) -> None:
    """Step ``kf`` by ``dt`` s; white acceleration noise of ``acceleration_sigma`` m/s^2."""
    F = np.eye(6)
    F[:3, 3:] = np.eye(3) * dt
    q = acceleration_sigma**2
    Q = np.zeros((6, 6))
    Q[:3, :3] = np.eye(3) * q * dt**4 / 4
    Q[:3, 3:] = Q[3:, :3] = np.eye(3) * q * dt**3 / 2
    Q[3:, 3:] = np.eye(3) * q * dt**2
    kf.predict(F=F, Q=Q)


@dataclass
class _Track:
    id: int
    class_id: int
    kf: KalmanFilter
    times_s: list = field(default_factory=list)
    positions: list = field(default_factory=list)  # filtered positions, world frame
    last_time_s: float = 0.0

    @property
    def hits(self) -> int:
        return len(self.times_s)


def detections(semantics: np.ndarray, depth_m: np.ndarray, K: Intrinsics, world_T_camera: np.ndarray,
               min_pixels: int, part_radius_m: float = 0.4, confidence: np.ndarray | None = None,
               min_confidence: float = 0.0, min_height_m: float = 0.0) -> list[tuple[int, np.ndarray]]:
    """(class id, world position (3,)) of every dynamic-class body with depth: segments, with the parts of one body
    (cut apart by an occluder; same class, centres within ``part_radius_m``) joined; a body counts when the mean of
    ``confidence`` (H, W) over its pixels is at least ``min_confidence`` and it is ``min_height_m`` tall (m)."""
    labels = np.asarray(semantics)
    dynamic = class_mask(labels, IS_DYNAMIC) & (depth_m > 0)
    parts = []
    for class_id, pixels in class_segments(labels, dynamic, min_pixels):
        rows, cols = np.divmod(pixels, labels.shape[1])
        points = backproject_pixels(cols, rows, depth_m[rows, cols], K)
        sure = float(confidence[rows, cols].sum()) if confidence is not None else float(len(rows))
        low, high = np.percentile(points[:, 1], [2, 98])  # camera y points down
        parts.append([class_id, np.median(points, axis=0), len(rows), sure, low, high])
    found = []
    while parts:  # join parts of one body: same class, medians closer than a body (side by side, in depth)
        class_id, centre, weight, sure, low, high = parts.pop(0)
        rest = []
        for part in parts:
            if part[0] == class_id and np.linalg.norm(part[1][[0, 2]] - centre[[0, 2]]) < part_radius_m:
                centre = (centre * weight + part[1] * part[2]) / (weight + part[2])
                weight, sure = weight + part[2], sure + part[3]
                low, high = min(low, part[4]), max(high, part[5])
            else:
                rest.append(part)
        parts = rest
        if sure / weight >= min_confidence and high - low >= min_height_m:
            found.append((class_id, transform_points(world_T_camera, centre[None])[0]))
    return found


def _assign(tracks: list, predicted: list, found: list, left: list[int], gates: list[float]) -> list:
    """(track, index into ``found``) pairs: tracks and the detections ``left`` of their class matched one to one,
    nearest first, each pair within its track's gate. ``predicted``: per track a place (3,) or places (K, 3);
    the nearest counts."""
    if not tracks or not left:
        return []
    cost = np.array([[np.linalg.norm(np.atleast_2d(p) - found[k][1], axis=1).min() if t.class_id == found[k][0]
                      else 1e6 for k in left] for t, p in zip(tracks, predicted)])
    return [(tracks[r], left[c]) for r, c in zip(*linear_sum_assignment(cost)) if cost[r, c] <= gates[r]]


class AgentLayer:
    """Agents of a run, in the world frame of the map (see the module doc)."""

    def __init__(self, config: GraphConfig, intrinsics: Intrinsics):
        self.config, self.K = config, intrinsics
        self.tracks: list[_Track] = []
        self.next_id = 1

    def active(self, time_s: float) -> list[_Track]:
        return [t for t in self.tracks if time_s - t.last_time_s <= self.config.agent_max_unseen_s]

    def observe(self, time_s: float, semantics: np.ndarray, depth_m: np.ndarray, world_T_camera: np.ndarray,
                confidence: np.ndarray | None = None) -> int:
        """Track one frame's people (``confidence`` (H, W): the class probability of each pixel's label; None:
        sure everywhere); returns how many were detected."""
        c = self.config
        found = detections(semantics, depth_m, self.K, world_T_camera, c.object_min_pixels, c.agent_part_radius_m,
                           confidence, c.agent_min_confidence, c.agent_min_height_m)
        live = self.active(time_s)
        for track in live:
            _predict(track.kf, max(time_s - track.last_time_s, 1e-3), c.agent_acceleration_sigma)
        agents = [t for t in live if t.hits >= self.config.agent_min_hits]
        tentative = [t for t in live if t.hits < self.config.agent_min_hits]
        left = list(range(len(found)))
        for tracks in (agents, tentative):
            gates = [c.agent_gate_m + c.agent_walk_speed_mps * max(0.0, time_s - t.last_time_s - 0.2)
                     for t in tracks]  # a track unseen for a while (behind furniture) may have gone further
            # where the filter expects it, or where it was last seen: the velocity of a noisy track carries the
            # prediction far off while it is unseen, and people stop and turn
            places = [np.stack([t.kf.x[:3], t.positions[-1]]) for t in tracks]
            for track, k in _assign(tracks, places, found, left, gates):
                self._update(track, found[k][1], time_s)
                left.remove(k)
        for track in live:  # predictions of unmatched tracks are not kept: the filter state is rolled back
            if track.last_time_s != time_s:
                track.kf.x, track.kf.P = track.kf.x_post.copy(), track.kf.P_post.copy()
        missed = {t.id for t in tentative if t.last_time_s != time_s}
        self.tracks = [t for t in self.tracks if t.id not in missed]
        live_ids = {t.id for t in live}
        history = [t for t in self.tracks if t.hits >= self.config.agent_min_hits and t.id not in live_ids]
        reach = [c.agent_reid_m + c.agent_walk_speed_mps * max(0.0, time_s - t.last_time_s - c.agent_max_unseen_s)
                 for t in history] if c.agent_reid_m > 0 else [0.0] * len(history)  # it may have walked on since
        for track, k in _assign(history, [t.positions[-1] for t in history], found, left, reach):
            track.kf = _filter(found[k][1], c.agent_measurement_sigma_m)  # seen again: old velocity says nothing
            self._update(track, found[k][1], time_s, first=True)
            left.remove(k)
        for k in left:
            class_id, position = found[k]
            track = _Track(self.next_id, class_id, _filter(position, c.agent_measurement_sigma_m))
            self.next_id += 1
            self._update(track, position, time_s, first=True)
            self.tracks.append(track)
        return len(found)

    def move(self, correction: PoseCorrection) -> None:
        """Move each track's positions with the correction of their times, and its filter with the latest one (a
        loop closure moved the map)."""
        for track in self.tracks:
            if not track.positions:
                continue
            moves = correction.at(track.times_s)
            track.positions = [T[:3, :3] @ p + T[:3, 3] for T, p in zip(moves, track.positions)]
            R, t = moves[-1][:3, :3], moves[-1][:3, 3]
            x = track.kf.x.copy()
            x[:3], x[3:] = R @ x[:3] + t, R @ x[3:]
            track.kf.x, track.kf.x_post = x, x.copy()

    @staticmethod
    def _update(track: _Track, position: np.ndarray, time_s: float, first: bool = False) -> None:
        if not first:
            track.kf.update(position)
        track.times_s.append(float(time_s))
        track.positions.append(track.kf.x[:3].copy())
        track.last_time_s = float(time_s)

    def records(self, map_T_world: np.ndarray, now_s: float) -> list[AgentRecord]:
        """Agents with their foot points (x, y, 0) in the map frame; ``active``: seen within the time limit."""
        out = []
        for track in self.tracks:
            if track.hits < self.config.agent_min_hits:
                continue
            positions = transform_points(map_T_world, np.array(track.positions))
            positions[:, 2] = 0.0
            out.append(AgentRecord(track.id, track.class_id, np.array(track.times_s), positions,
                                   now_s - track.last_time_s <= self.config.agent_max_unseen_s))
        return out

    def state(self) -> dict:
        return {"next_id": self.next_id, "tracks": [
            {"id": t.id, "class_id": t.class_id, "x": t.kf.x.tolist(), "P": t.kf.P.tolist(), "times_s": t.times_s,
             "positions": np.array(t.positions).tolist(), "last_time_s": t.last_time_s} for t in self.tracks]}

    def load_state(self, state: dict) -> None:
        self.next_id = state["next_id"]
        self.tracks = []
        for t in state["tracks"]:
            kf = _filter(np.zeros(3), self.config.agent_measurement_sigma_m)
            kf.x, kf.P = np.array(t["x"]), np.array(t["P"])
            kf.x_post, kf.P_post = kf.x.copy(), kf.P.copy()
            self.tracks.append(_Track(t["id"], t["class_id"], kf, list(t["times_s"]),
                                      [np.array(p) for p in t["positions"]], t["last_time_s"]))
