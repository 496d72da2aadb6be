"""``Mapper``: the mapping back end, one frame at a time.

    mapper = Mapper(config, intrinsics)
    for frame, prediction in ...:
        mapper.step(frame, prediction)            # or step(frame, prediction, world_T_camera=pose)
    result = mapper.finish()                      # mesh, trajectory, events

Per frame: masks (dynamic classes, edges / discontinuities, grazing views), pose (given,
or RGB-D odometry with a constant-velocity prior against the last keyframe, the previous
frame or a raycast of the map: ``odometry.target``), moving objects (object segments that
stand where the map saw free space, and their tracks: ``pipeline.mapping.moving``), fusion into
the semantic TSDF. A frame that fails the tracking test against the previous frame is
tried against the map raycast from the predicted pose (recovery); if that fails too it
is not fused, its pose is predicted (the mean per-frame motion of the last measured frames:
``odometry.blind_motion_frames``), and the event is recorded.

On the synthetic benchmark, tracking against the last keyframe drifts least; the previous
frame is next; a 5 cm TSDF raycast is about 10x less accurate (it is smoother than a frame).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from m2h_slam.core.config import Config
from m2h_slam.core.geometry import rotation_angle_deg
from m2h_slam.core.intrinsics import Intrinsics
from m2h_slam.core.o3d import open3d
from m2h_slam.core.records import Frame, LabelledMesh, PoseCorrection, Prediction, Tracking
from pipeline.mapping.depth_scale import ScaleFit, fit_depth_scale
from pipeline.mapping.fusion import SemanticTSDF
from pipeline.mapping.keyframe_store import KeyframeStore
from pipeline.mapping.loop_closure import Closure, RevisitFinder
from pipeline.mapping.map_rebuild import MapRebuilder
from pipeline.mapping.map_view import MapView
from pipeline.mapping.masks import fusion_mask
from pipeline.mapping.moving import find_moving
from pipeline.mapping.odometry import RgbdOdometry, per_frame_motion
from pipeline.mapping.pose_graph import PoseGraph
from pipeline.mapping.static_camera import StaticCamera

log = logging.getLogger("m2h_slam")

MIN_FRAME_SIDE_PX = 16  # smaller frames are not tracked or fused
MIN_DEPTH_PIXELS, MIN_DEPTH_SHARE = 16, 0.002  # nor frames with fewer valid depth pixels than both of these
LOOP_SETTLED_M = 0.02  # a closure that finds less drift than this is kept in the graph without optimising now
LOOP_AGREE_PX, LOOP_AGREEING = 4.0, 0.5  # a closure's dense refinement keeps half its PnP inliers within 4 px


@dataclass
class StepResult:
    """What happened to one frame: its pose (4, 4) and how it was found (``Tracking``)."""

    index: int
    timestamp_s: float
    world_T_camera: np.ndarray
    tracking: Tracking
    keyframe: bool
    fused_voxels: int  # voxels updated
    masked_pixels: dict[str, int]
    timings_ms: dict[str, float]
    event: str = ""
    prediction: Prediction | None = None  # the prediction as mapped (``Prediction.sanitised``)
    odometry_residual: float | None = None  # inlier RMSE of the accepted odometry (None: no odometry)
    depth_error: float | None = None  # median relative disagreement with the map after the scale fit (None: none)
    revisit: dict | None = None  # a place this keyframe sees again (run.json's revisits record)
    correction: PoseCorrection | None = None  # how the loop closure at this frame moved what was placed before


@dataclass(frozen=True)
class MapCounts:
    """What a run counted: frames in all, fused, lost by tracking, keyframes, without usable depth, objects seen
    moving; voxel blocks allocated and whether the block budget was hit (1) or not (0)."""

    frames: int
    fused: int
    lost: int
    keyframes: int
    no_depth: int
    moving_objects: int
    blocks: int
    budget_hit: int

    def to_dict(self) -> dict[str, int]:
        """The counts in field order (run.json's ``counts``)."""
        return dataclasses.asdict(self)


@dataclass
class MapResult:
    """The map after the last frame. poses: (N, 4, 4) world_T_camera of every frame, timestamps (N,) s;
    depth_scales (N,): the factor each frame's depth was scaled by to agree with the map (NaN: not aligned);
    revisits: places a keyframe saw again ({"frames": [old, new], "inliers", "drift_m", "corrected", and with a
    closure "moved_m": how far it moved a keyframe}); rebuilds_s: the time each re-integration of the map took."""

    mesh: LabelledMesh
    mesh_rgb: np.ndarray  # (V, 3) uint8 fused colour per mesh vertex
    timestamps_s: np.ndarray
    poses: np.ndarray
    events: list[str]
    counts: MapCounts
    depth_scales: np.ndarray
    revisits: list[dict]
    rebuilds_s: list[float]


@dataclass(frozen=True)
class _Pose:
    """A frame's pose (4, 4), how it was found, the event to report; residual: the accepted odometry's inlier
    RMSE (None: no odometry ran, e.g. a still camera's held pose)."""

    pose: np.ndarray
    tracking: Tracking
    event: str = ""
    residual: float | None = None


@dataclass
class _State:
    """Everything besides the volume that a resumed run needs."""

    timestamps_s: list[float] = field(default_factory=list)
    poses: list[list[float]] = field(default_factory=list)
    velocity: list[float] = field(default_factory=lambda: np.eye(4).ravel().tolist())
    last_keyframe: list[float] | None = None
    untracked: int = 0  # frames since the last measured pose (0: the previous frame's pose was measured)
    guessed_since_keyframe: bool = False  # a pose since the last keyframe was guessed (its pose-graph edge is weak)
    moving_tracks: list[list[float]] = field(default_factory=list)  # [class, x, y, z] of objects seen moving
    events: list[str] = field(default_factory=list)
    depth_scales: list[float | None] = field(default_factory=list)  # per frame; None: not aligned
    revisits: list[dict] = field(default_factory=list)  # places seen again: frames, inliers, drift (m), correction
    rebuilds: list[float] = field(default_factory=list)  # seconds each re-integration of the map took
    # running MapCounts (but blocks and budget_hit), a dict for the snapshot's JSON
    counts: dict[str, int] = field(default_factory=lambda: {"frames": 0, "fused": 0, "lost": 0, "keyframes": 0,
                                                            "no_depth": 0, "moving_objects": 0})

    def pose(self, k: int) -> np.ndarray:
        """world_T_camera (4, 4) of frame ``k`` (negative: from the end); stored flat for the snapshot's JSON."""
        return np.array(self.poses[k], np.float64).reshape(4, 4)

    def pose_array(self) -> np.ndarray:
        """(N, 4, 4) world_T_camera of every frame so far."""
        return np.array(self.poses, np.float64).reshape(-1, 4, 4)


class Mapper:
    """Poses + semantic TSDF from frames and their predictions (no torch here)."""

    def __init__(self, config: Config, intrinsics: Intrinsics, device: str = "CPU:0",
                 predicted_depth: bool | None = None):
        """``predicted_depth``: the depth comes from a network, not a sensor (``OdometryConfig.for_depth``);
        None: as the first prediction says (``Prediction.depth_source``)."""
        self.config, self.K = config, intrinsics
        if config.odometry.deterministic:
            # Open3D's parallel reductions differ in the last bits between runs, and odometry
            # amplifies that; one thread makes every run identical.
            open3d().utility.set_max_threads(1)
        self.volume = SemanticTSDF(config.fusion)
        self._device = device
        self.odometry: RgbdOdometry | None = None  # set with the depth's source (here, or by the first prediction)
        self._align = False  # whether each frame's depth is scaled to the map (fusion.align_depth_scale)
        if predicted_depth is not None:
            self._set_depth_source(predicted_depth)
        self.state = _State()
        self._last_depth: np.ndarray | None = None  # masked depth of the last fused frame (raycast region)
        self._last_rgbd: tuple[np.ndarray, np.ndarray] | None = None  # the previous tracked frame (rgb, depth)
        self._keyframe: tuple[np.ndarray, tuple[np.ndarray, np.ndarray]] | None = None  # (pose, (rgb, depth))
        hold = config.odometry.static_min_unchanged
        self._static = StaticCamera(hold) if hold is not None else None
        c = config.odometry
        self._revisits = RevisitFinder(intrinsics, c.revisit_min_gap_keyframes) if c.revisits else None
        self._graph = PoseGraph()  # the keyframes (with revisits on) and the closures
        self._stored = KeyframeStore(c.loop_keyframes_mb) if c.revisits and c.loop_closure else None
        self._loop_odometry: RgbdOdometry | None = None  # aligns stored keyframes (half resolution)
        # re-integration after closures: in a worker thread, at once when runs must be deterministic
        self._rebuilder = (MapRebuilder(config.fusion, self._stored, intrinsics, background=not c.deterministic,
                                        seconds=self.state.rebuilds) if self._stored is not None else None)

    def _set_depth_source(self, predicted_depth: bool) -> None:
        """Settings that depend on where the depth comes from: the odometry and the alignment to the map."""
        setting = self.config.fusion.align_depth_scale
        self._align = setting == "on" or (setting == "auto" and predicted_depth)
        self.odometry = RgbdOdometry(self.config.odometry.for_depth(predicted_depth), self.K,
                                     open3d().core.Device(self._device))

    # -- one frame ------------------------------------------------------------------------------
    def step(self, frame: Frame, prediction: Prediction, world_T_camera: np.ndarray | None = None) -> StepResult:
        """Add a frame. ``world_T_camera`` given: use that pose; otherwise track with odometry."""
        timings: dict[str, float] = {}
        self._swap_rebuilt(wait=False)
        if self.odometry is None:
            self._set_depth_source(prediction.depth_source == "network")
        start = time.perf_counter()
        prediction = prediction.sanitised()
        depth, weight, masked = fusion_mask(prediction, self.K, self.config.fusion)
        timings["mask"] = 1000 * (time.perf_counter() - start)

        start = time.perf_counter()
        unusable = _unusable(depth)
        if unusable:
            depth = np.zeros_like(depth)  # too little to track or fuse: the frame counts as one without depth
        found = self._pose(frame, prediction, depth, world_T_camera, unusable)
        pose, tracking, event = found.pose, found.tracking, found.event
        if depth.any():
            self._last_rgbd = (frame.rgb, depth)  # the next frame's fallback tracking target
        timings["odometry"] = 1000 * (time.perf_counter() - start)

        scale = fit = None
        every = self.config.fusion.depth_check_every
        if self._align or (every and tracking.placed and self.state.counts["frames"] % every == 0):
            start = time.perf_counter()  # a health check alone compares every second pixel (a quarter of the cost)
            fit = self._depth_scale(depth, pose, 1 if self._align else 2) if tracking.placed else None
            scale = None if fit is None or not self._align else round(fit.scale, 6)
            if scale is not None:
                depth = depth * np.float32(scale)
                prediction = dataclasses.replace(prediction, depth_m=prediction.depth_m * np.float32(scale))
            timings["depth_scale"] = 1000 * (time.perf_counter() - start)
        self.state.depth_scales.append(scale)

        start = time.perf_counter()
        if tracking.measured and self._last_depth is not None:
            c = self.config.fusion  # all pixels of a segment with valid depth (edges too: often the only seen part)
            valid = np.where((prediction.depth_m >= c.depth_min_m) & (prediction.depth_m <= c.depth_max_m),
                             prediction.depth_m, 0)
            moving = find_moving(prediction.semantics, valid, self.K, pose, self.volume, self.state.moving_tracks, c)
            if moving.mask.any():
                masked["moving"] = int((moving.mask & (depth > 0)).sum())
                depth, weight = np.where(moving.mask, 0, depth), np.where(moving.mask, 0, weight)
            for description in moving.new:
                self.state.counts["moving_objects"] += 1
                self.state.events.append(f"frame {frame.index}: moving object: {description}; masked")
                log.info("frame %d: moving object: %s", frame.index, description)
        timings["moving"] = 1000 * (time.perf_counter() - start)

        fused, keyframe = 0, False
        start = time.perf_counter()
        if tracking.placed and (depth > 0).any():
            stats = self.volume.integrate(depth, weight, frame.rgb, self.K, pose, prediction.semantics,
                                          prediction.confidence, prediction.normals)
            fused = stats.voxels_updated
            self._last_depth = depth
            keyframe = self._is_keyframe(pose)
            if keyframe:
                self._keyframe = (pose.copy(), (frame.rgb, depth))
            if self._closes_loops(tracking) and keyframe:  # its pose-graph number is the next one
                self._stored.add(len(self._graph.poses), depth, weight, frame.rgb, prediction.semantics,
                                 prediction.confidence, prediction.normals)
            elif self._closes_loops(tracking):
                self._stored.count_fused()
            self.state.counts["fused"] += 1
        timings["fusion"] = 1000 * (time.perf_counter() - start)

        self.state.untracked = self.state.untracked + 1 if not tracking.placed else 0
        self.state.guessed_since_keyframe |= not tracking.placed
        self.state.timestamps_s.append(float(frame.timestamp_s))
        self.state.poses.append(pose.ravel().tolist())
        self.state.counts["frames"] += 1
        revisit = correction = None
        if keyframe and self._revisits is not None:
            start = time.perf_counter()
            revisit, correction = self._revisit(frame, depth, pose, tracking)
            pose = self.state.pose(-1)  # moved by the closure, if any
            timings["revisits"] = 1000 * (time.perf_counter() - start)
        if event:
            self.state.events.append(event)
            log.warning("%s", event)
        return StepResult(frame.index, frame.timestamp_s, pose, tracking, keyframe, fused, masked, timings, event,
                          prediction, found.residual, None if fit is None else round(fit.error, 4), revisit,
                          correction)

    def _pose(self, frame: Frame, prediction: Prediction, depth: np.ndarray, given: np.ndarray | None,
              unusable: str = "") -> _Pose:
        state = self.state
        if given is not None:
            self._remember_motion(given)
            return _Pose(np.asarray(given, np.float64), Tracking.GIVEN)
        if not state.poses:
            # The map frame starts at the first ground-truth pose when the source has one.
            start = frame.world_T_camera if frame.world_T_camera is not None else np.eye(4)
            self._anchor(frame)
            return _Pose(start.copy(), Tracking.INIT)
        previous = state.pose(-1)
        velocity = np.array(state.velocity).reshape(4, 4)
        if self._last_depth is None and not unusable:  # nothing fused yet: start the map here
            self._anchor(frame)
            return _Pose(self._blind_pose(previous, velocity), Tracking.INIT)
        if not (depth > 0).any():
            state.counts["no_depth"] += 1
            why = unusable or "no usable depth"
            return _Pose(self._blind_pose(previous, velocity), Tracking.NO_DEPTH,
                         f"frame {frame.index}: {why}; pose predicted, frame not fused")
        if state.untracked == 0 and self._static is not None and self._static.still(frame.rgb, prediction.semantics):
            state.velocity = np.eye(4).ravel().tolist()
            return _Pose(previous, Tracking.OK)  # held: the camera stands still
        source = self.odometry.image(frame.rgb, depth)
        # The constant-velocity prediction bounds the motion only while the previous frame was tracked
        # (after a failure the previous pose is itself a prediction).
        trusted = state.untracked == 0
        expected = velocity if trusted else None

        def track(target, init, **kwargs):
            return self.odometry.track(source, target, init, trust_prediction=trusted, **kwargs)

        # Against the last keyframe (default), the previous frame, or the map raycast; if that
        # fails, against the previous frame, then against the map from the predicted pose (recovery).
        if self.config.odometry.target == "model":
            result = track(self._model_view(previous), velocity)
        elif self.config.odometry.target == "keyframe" and self._keyframe is not None:
            key_pose, key_rgbd = self._keyframe
            key_T_previous = np.linalg.inv(key_pose) @ previous
            result = track(self.odometry.image(*key_rgbd), key_T_previous @ velocity, check_motion=False)
            if result.ok:  # express as motion from the previous pose, then check it
                motion = np.linalg.inv(key_T_previous) @ result.prev_T_current
                problem = self.odometry.motion_problem(motion, expected, result.fitness)
                result = dataclasses.replace(result, ok=not problem, prev_T_current=motion if not problem else velocity,
                                             reason=problem)
            if not result.ok:
                result = track(self.odometry.image(*self._last_rgbd), velocity)
        else:
            result = track(self.odometry.image(*self._last_rgbd), velocity)
        if not result.ok and self.config.odometry.target != "model":
            retry = track(self._model_view(previous), velocity)
            result = retry if retry.ok else result
        if not result.ok:
            state.counts["lost"] += 1
            return _Pose(self._blind_pose(previous, velocity), Tracking.LOST,
                         f"frame {frame.index}: tracking failed ({result.reason}); not fused")
        pose = previous @ result.prev_T_current
        # After lost frames the previous pose is a prediction: the velocity comes from the last measured pose.
        measured = state.pose(-1 - state.untracked)
        state.velocity = per_frame_motion(np.linalg.inv(measured) @ pose, state.untracked + 1).ravel().tolist()
        self._anchor(frame)
        return _Pose(pose, Tracking.OK, residual=round(result.inlier_rmse_m, 5))

    def _blind_pose(self, previous: np.ndarray, velocity: np.ndarray) -> np.ndarray:
        """world_T_camera (4, 4) of a frame nothing measures: ``previous`` moved by the mean per-frame motion of the
        last ``odometry.blind_motion_frames`` frames up to the last measured pose (by ``velocity``, the last frame's,
        while the run is shorter)."""
        window = self.config.odometry.blind_motion_frames
        last = len(self.state.poses) - 1 - self.state.untracked  # the last measured pose
        if window <= 1 or last - window < 0:
            return previous @ velocity
        return previous @ per_frame_motion(np.linalg.inv(self.state.pose(last - window)) @ self.state.pose(last),
                                           window)

    def _anchor(self, frame: Frame) -> None:
        """This frame's pose was measured: a still camera is judged against it from now on."""
        if self._static is not None:
            self._static.anchor_at(frame.rgb)

    def _depth_scale(self, depth: np.ndarray, world_T_camera: np.ndarray, step: int = 1) -> ScaleFit | None:
        """The fit that brings ``depth`` (H, W) m, the frame's fusable pixels, to the map seen from its pose
        (compared on every ``step``-th pixel of each row and column); None while the map and the frame share too
        little (``fusion.align_min_share``)."""
        if not self.volume.block_count or not depth.any() or self._last_depth is None:
            return None
        depth, last = depth[::step, ::step], self._last_depth[::step, ::step]
        K = self.K if step == 1 else self.K.rescaled(depth.shape[1], depth.shape[0])
        # The blocks to march through: around the last fused frame's depth (already at the map's scale; this
        # frame's own depth, off by its scale error, would pick blocks in front of or behind the surface).
        view = self.volume.raycast(world_T_camera, K, last)
        if view is None:
            return None
        c = self.config.fusion
        return fit_depth_scale(depth, view[0], max(16, int(c.align_min_share * depth.size)), c.align_max_change)

    def _model_view(self, world_T_camera: np.ndarray):
        """Raycast of the map from a pose (depth and colour); the last fused frame if the map shows too little."""
        view = self.volume.raycast(world_T_camera, self.K, self._last_depth)
        if view is not None and (view[0] > 0).mean() > 0.2:
            return self.odometry.image((view[1] * 255).astype(np.uint8), view[0].astype(np.float32))
        return self.odometry.image(*self._last_rgbd)

    def _closes_loops(self, tracking: Tracking) -> bool:
        """Whether a frame tracked so takes part in loop closure (given poses are the caller's: never corrected,
        so their keyframes are not stored)."""
        return self._stored is not None and tracking != Tracking.GIVEN

    def _revisit(self, frame: Frame, depth: np.ndarray, pose: np.ndarray,
                 tracking: Tracking) -> tuple[dict | None, PoseCorrection | None]:
        """Add the keyframe just mapped (the last pose) to the pose graph and check it against the older ones it
        may see again: the revisit's record and, when the loop is closed, how it moved the map."""
        found = self._revisits.add(frame.index, frame.rgb, depth, pose)
        self._graph.add_keyframe(len(self.state.poses) - 1, pose, self.state.guessed_since_keyframe)
        self.state.guessed_since_keyframe = False
        if found is None:
            return None, None
        old = self._revisits.keyframes[found.old].features.index
        record = {"frames": [old, int(frame.index)], "inliers": int(found.inliers),
                  "drift_m": round(found.correction_m, 4), "corrected": False}
        correction = self._close_loop(found, record) if self._closes_loops(tracking) else None
        self.state.revisits.append(record)
        log.info("frame %d sees again what frame %d saw: %.2f m of drift in between (%s)", frame.index, old,
                 record["drift_m"], f"map moved up to {record['moved_m']:.2f} m" if record["corrected"]
                 else "not corrected")
        return record, correction

    def _close_loop(self, found: Closure, record: dict) -> PoseCorrection | None:
        """Refine the loop ``found``, add it to the pose graph and, when it finds drift, optimise
        and move the poses and, when a keyframe moved more than ``odometry.loop_rebuild_min_m``, the map (rebuilt
        in the background); how the poses moved, None when they did not (``record`` says why)."""
        graph, old, new = self._graph, found.old, found.new
        old_T_new = self._refined(found)
        if old_T_new is None:
            record["refused"] = "the dense alignment of the two keyframes disagrees with their features"
            return None
        where = graph.poses[old] @ old_T_new
        record["drift_m"] = round(float(np.linalg.norm(where[:3, 3] - graph.poses[new][:3, 3])), 4)
        graph.add_loop(old, new, old_T_new)
        if record["drift_m"] < LOOP_SETTLED_M:  # nothing to correct now: the loop waits in the graph for the next
            record.update(corrected=True, moved_m=0.0)
            return None
        optimised, consistent = graph.optimise()
        if not consistent:
            graph.loops.pop()  # it disagrees with the walk and the other loops: a look-alike place
            record["refused"] = "it disagrees with the walk and the other closures"
            return None
        before = np.array(graph.poses)
        moved = np.linalg.norm(optimised[:, :3, 3] - before[:, :3, 3], axis=1)
        correction = PoseCorrection(np.array(self.state.timestamps_s)[graph.frames], optimised @ np.linalg.inv(before))
        graph.poses = list(optimised)
        self._move_poses(correction.new_T_old)
        record.update(corrected=True, moved_m=round(float(moved.max()), 4))
        if moved.max() > self.config.odometry.loop_rebuild_min_m:
            self._use(self._rebuilder.request(graph.poses))
        return correction

    def _refined(self, found: Closure) -> np.ndarray | None:
        """The closure's old_T_new (from a few features) refined by dense RGB-D odometry between the two stored views
        (millimetres where PnP alone is off by centimetres); None unless the alignment converges and keeps
        ``LOOP_AGREEING`` of the PnP inliers within ``LOOP_AGREE_PX`` (dense alignment can slide along a
        flat wall: 0.3-0.5 m on a ground-truth-perception walk, where the features disagreed). Unrefined when the
        old view was thinned out of the store."""
        old_T_new = found.old_T_new
        a, b = self._stored.view(found.old), self._stored.view(found.new)
        if a is None or b is None:
            return old_T_new
        if self._loop_odometry is None:
            self._loop_odometry = RgbdOdometry(self.odometry.config, self._stored.intrinsics(self.K),
                                               self.odometry.device)
        odometry = self._loop_odometry
        result = odometry.track(odometry.image(b.rgb, b.depth_m), odometry.image(a.rgb, a.depth_m), old_T_new,
                                check_motion=False)
        refined = result.prev_T_current
        if not result.ok or found.agreeing(refined, self.K, LOOP_AGREE_PX) < LOOP_AGREEING * found.inliers:
            return None
        return refined

    def _move_poses(self, new_T_old: np.ndarray) -> None:
        """Move every frame's pose with its keyframe's correction (``new_T_old`` (K, 4, 4), keyframe order), and
        what the tracking holds in the world frame with the last one."""
        graph, state = self._graph, self.state
        poses = state.pose_array()
        number = np.searchsorted(np.array(graph.frames), np.arange(len(poses)), side="right") - 1
        moves = np.where((number >= 0)[:, None, None], new_T_old[np.maximum(number, 0)], np.eye(4))
        state.poses = (moves @ poses).reshape(-1, 16).tolist()
        latest = new_T_old[-1]
        state.last_keyframe = graph.poses[-1].ravel().tolist()
        self._keyframe = (graph.poses[-1].copy(), self._keyframe[1])
        state.moving_tracks = [[c, *(latest[:3, :3] @ xyz + latest[:3, 3])] for c, *xyz in state.moving_tracks]
        self._revisits.move(graph.poses)

    def _swap_rebuilt(self, wait: bool) -> None:
        """Take the map the rebuild worker made, if it is done (``wait``: wait for it)."""
        if self._rebuilder is not None:
            self._use(self._rebuilder.collect(self._graph.poses, wait))

    def _use(self, volume: SemanticTSDF | None) -> None:
        """Map into ``volume`` from now on (a rebuilt map; None: keep the current one)."""
        if volume is not None:
            self.volume = volume

    def _remember_motion(self, pose: np.ndarray) -> None:
        if self.state.poses:
            previous = self.state.pose(-1)
            self.state.velocity = (np.linalg.inv(previous) @ pose).ravel().tolist()

    def _is_keyframe(self, pose: np.ndarray) -> bool:
        c, last = self.config.odometry, self.state.last_keyframe
        if last is not None:
            motion = np.linalg.inv(np.array(last).reshape(4, 4)) @ pose
            moved_m, turned_deg = np.linalg.norm(motion[:3, 3]), rotation_angle_deg(motion)
            if moved_m < c.keyframe_translation_m and turned_deg < c.keyframe_rotation_deg:
                return False
        self.state.last_keyframe = pose.ravel().tolist()
        self.state.counts["keyframes"] += 1
        return True

    # -- results and snapshots --------------------------------------------------------------------
    def finish(self) -> MapResult:
        self._swap_rebuilt(wait=True)
        mesh, rgb = self.volume.extract_mesh()
        counts = MapCounts(**self.state.counts, blocks=self.volume.block_count, budget_hit=int(self.volume.budget_hit))
        scales = np.array([np.nan if s is None else s for s in self.state.depth_scales], np.float64)
        return MapResult(mesh, rgb, np.array(self.state.timestamps_s), self.poses, list(self.state.events), counts,
                         scales, list(self.state.revisits), list(self.state.rebuilds))

    @property
    def poses(self) -> np.ndarray:
        """(N, 4, 4) world_T_camera of every frame so far."""
        return self.state.pose_array()

    def view(self) -> MapView:
        """A read-only view of the map for the scene graph (voxels, camera positions, fusion geometry)."""
        c = self.config.fusion
        return MapView(self.volume, lambda: self.poses, c.voxel_size_m, c.truncation_m)

    @property
    def frames_done(self) -> int:
        return self.state.counts["frames"]

    def save_snapshot(self, folder: str | os.PathLike) -> None:
        """Write the whole mapper state into ``folder`` (a new folder; callers make it atomic)."""
        folder = Path(folder)
        self._swap_rebuilt(wait=True)
        self.volume.save(folder)
        arrays = {k: v for k, v in (("last_depth", self._last_depth),) if v is not None}
        if self._last_rgbd is not None:
            arrays["last_rgb"], arrays["last_rgbd_depth"] = self._last_rgbd
        if self._keyframe is not None:
            arrays["keyframe_pose"], (arrays["keyframe_rgb"], arrays["keyframe_depth"]) = self._keyframe
        if self._static is not None and self._static.anchor is not None:
            arrays["static_anchor"] = self._static.anchor
        if self._revisits is not None:
            arrays.update(self._revisits.arrays())
            arrays.update(self._graph.arrays())
        if self._stored is not None:
            arrays.update(self._stored.arrays())
        np.savez(folder / "frames.npz", **arrays)
        (folder / "state.json").write_text(json.dumps(asdict(self.state)))

    def load_snapshot(self, folder: str | os.PathLike) -> None:
        folder = Path(folder)
        self.volume.load(folder)
        data = np.load(folder / "frames.npz")
        self._last_depth = data["last_depth"] if "last_depth" in data else None
        self._last_rgbd = (data["last_rgb"], data["last_rgbd_depth"]) if "last_rgb" in data else None
        self._keyframe = ((data["keyframe_pose"], (data["keyframe_rgb"], data["keyframe_depth"]))
                          if "keyframe_pose" in data else None)
        if self._static is not None:
            self._static.anchor = data.get("static_anchor")
        if self._revisits is not None:
            self._revisits.load_arrays(data)
            self._graph = PoseGraph.from_arrays(data)
        if self._stored is not None:
            self._stored.load_arrays(data)
        self.state = _State(**json.loads((folder / "state.json").read_text()))
        if self._rebuilder is not None:
            self._rebuilder.seconds = self.state.rebuilds  # one list: the rebuilds append to the state's


def _unusable(depth: np.ndarray) -> str:
    """Why a masked depth image is too poor to track or fuse ('' if it is usable)."""
    height, width = depth.shape
    if min(height, width) < MIN_FRAME_SIDE_PX:
        return f"frame of {width}x{height} px is too small (at least {MIN_FRAME_SIDE_PX} px a side)"
    valid = int(np.count_nonzero(depth))
    if valid and valid < max(MIN_DEPTH_PIXELS, MIN_DEPTH_SHARE * depth.size):
        return f"only {valid} valid depth pixels"
    return ""

