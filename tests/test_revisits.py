"""Revisits: a keyframe that sees a place again is verified in 3D and the drift in between is measured."""

from __future__ import annotations

import dataclasses

import numpy as np

from m2h_slam.core.config import Config
from m2h_slam.perception.ground_truth import prediction_from_ground_truth
from m2h_slam.sources import open_sequence
from m2h_slam.synthetic import WorldSpec
from pipeline import Mapper
from pipeline.mapping.loop_closure import RevisitFinder, features, plausible, verify


def _frames(apartments):
    return list(open_sequence(apartments(WorldSpec(seed=7, frames=60, rooms=3, people=0), size=(320, 240))))


def test_a_revisit_is_verified_and_gives_the_relative_pose(apartments):
    frames = _frames(apartments)
    a, b, far = frames[20], frames[24], frames[59]
    K = a.intrinsics
    found = verify(features(20, a.rgb, a.depth_m, K), features(24, b.rgb, b.depth_m, K), K, 20, 2.0)
    assert found is not None
    a_T_b, points, _ = found
    inliers = len(points)
    truth = np.linalg.inv(a.world_T_camera) @ b.world_T_camera
    assert inliers >= 20 and np.linalg.norm(a_T_b[:3, 3] - truth[:3, 3]) < 0.05, (inliers, a_T_b, truth)
    assert verify(features(20, a.rgb, a.depth_m, K), features(59, far.rgb, far.depth_m, K), K, 30, 2.0) is None


def test_a_walk_back_is_found_and_its_drift_measured(apartments):
    frames = _frames(apartments)
    finder = RevisitFinder(frames[0].intrinsics, min_gap=2)
    drift = np.eye(4)
    drift[:3, 3] = [0.15, 0.0, 0.0]  # odometry that drifted 15 cm by the time it came back
    found = []
    for k in (20, 30, 40, 50, 24):  # away, then back to where frames 20 and 30 looked
        pose = frames[k].world_T_camera @ (drift if k == 24 else np.eye(4))
        found.append(finder.add(k, frames[k].rgb, frames[k].depth_m, pose))
    assert found[:4] == [None] * 4 and found[4] is not None
    assert found[4].old in (0, 1) and found[4].new == 4 and abs(found[4].correction_m - 0.15) < 0.05, found[4]
    assert plausible(0.3, 10.0, 0.05, 0.2) and not plausible(3.0, 10.0, 0.05, 0.2)  # a look-alike 3 m away


def test_an_identical_looking_room_elsewhere_is_not_merged(apartments):
    """The same views seen again 4 m further along the walk (a copy of the room: every pixel identical) are no
    revisit: the copy lies beyond the drift the walk in between allows. The same views where they were are one."""
    frames = _frames(apartments)
    elsewhere = np.eye(4)
    elsewhere[:3, 3] = [4.0, 0.0, 0.0]
    finder = RevisitFinder(frames[0].intrinsics, min_gap=2)
    for k in (20, 30, 40):
        assert finder.add(k, frames[k].rgb, frames[k].depth_m, frames[k].world_T_camera) is None
    for k in (20, 30, 40):
        copy = elsewhere @ frames[k].world_T_camera
        assert finder.add(100 + k, frames[k].rgb, frames[k].depth_m, copy) is None
    assert finder.add(200, frames[20].rgb, frames[20].depth_m, frames[20].world_T_camera) is not None


def test_the_mapper_records_revisits_and_keeps_them_through_a_snapshot(apartments, tmp_path):
    frames = _frames(apartments)
    config = Config()
    config = dataclasses.replace(config, odometry=dataclasses.replace(config.odometry, revisit_min_gap_keyframes=2))
    mapper = Mapper(config, frames[0].intrinsics)
    for k in (20, 30, 40, 50, 24):
        mapper.step(frames[k], prediction_from_ground_truth(frames[k]), frames[k].world_T_camera)
    revisits = mapper.finish().revisits
    assert len(revisits) == 1 and revisits[0]["frames"][1] == 24 and revisits[0]["drift_m"] < 0.05, revisits
    mapper.save_snapshot(tmp_path)
    again = Mapper(config, frames[0].intrinsics)
    again.load_snapshot(tmp_path)
    assert again.finish().revisits == revisits
    saved, loaded = mapper._revisits.arrays(), again._revisits.arrays()
    assert saved.keys() == loaded.keys() and all(np.array_equal(saved[k], loaded[k]) for k in saved)


def _out_and_back(frames):
    """Frames 20..50 and back to 24 (walking backwards, looking the same way), renumbered in time order."""
    order = list(range(20, 51)) + list(range(49, 23, -1))
    return [dataclasses.replace(frames[k], index=i, timestamp_s=i / 15) for i, k in enumerate(order)]


def _drifting(mapper, after: int, step_m: float):
    """Make the mapper's odometry drift ``step_m`` along x per frame once ``after`` frames are mapped."""
    track = mapper.odometry.track

    def drifted(*args, **kwargs):
        result = track(*args, **kwargs)
        if mapper.frames_done >= after and result.ok:
            motion = result.prev_T_current.copy()
            motion[0, 3] += step_m
            result = dataclasses.replace(result, prev_T_current=motion)
        return result

    mapper.odometry.track = drifted


def _map_with_drift(frames, closures: bool):
    config = Config()
    odometry = dataclasses.replace(config.odometry, revisit_min_gap_keyframes=2, loop_closure=closures,
                                   target="frame")
    mapper = Mapper(dataclasses.replace(config, odometry=odometry), frames[0].intrinsics, predicted_depth=False)
    _drifting(mapper, 31, 0.01)
    steps = [mapper.step(f, prediction_from_ground_truth(f)) for f in frames]
    return mapper, steps


def test_a_closure_pulls_the_trajectory_and_the_map_back(apartments):
    """Odometry drifting 1 cm a frame on the way back: the revisit closes the loop, the poses come back towards
    the truth and the map is re-integrated; with closures off nothing moves."""
    frames = _out_and_back(_frames(apartments))
    truth = np.array([f.world_T_camera[:3, 3] for f in frames])
    mapper, steps = _map_with_drift(frames, closures=True)
    plain, _ = _map_with_drift(frames, closures=False)
    closed = [s for s in steps if s.correction is not None]
    assert closed and mapper.state.rebuilds, mapper.state.revisits
    error = np.linalg.norm(mapper.finish().poses[:, :3, 3] - truth, axis=1)
    drifted = np.linalg.norm(plain.finish().poses[:, :3, 3] - truth, axis=1)
    assert drifted[-1] > 0.15 and error[-1] < drifted[-1] / 2, (error[-1], drifted[-1])
    assert plain.state.revisits and not any(r["corrected"] for r in plain.state.revisits)
    early = [r for r in mapper.state.revisits if r["frames"][1] < 31]  # before the drift: closures move little
    assert all(r.get("moved_m", 0) < 0.05 for r in early), early
