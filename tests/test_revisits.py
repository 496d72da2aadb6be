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
    a_T_b, inliers = found
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
