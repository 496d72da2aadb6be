"""What a loop closure moves besides the poses: the scene graph's objects and agents, the stored keyframes that
rebuild the map, the snapshot and the live view."""

from __future__ import annotations

import dataclasses
import os
import sys
import threading

import numpy as np
import pytest

from m2h_slam.core.config import Config
from m2h_slam.core.intrinsics import Intrinsics
from m2h_slam.core.records import PoseCorrection
from pipeline.mapping.keyframe_store import KeyframeStore


def _shift(x_m: float) -> np.ndarray:
    T = np.eye(4)
    T[0, 3] = x_m
    return T


CORRECTION = PoseCorrection(np.array([1.0, 2.0]), np.stack([_shift(0.1), _shift(0.3)]))


def test_a_correction_moves_what_was_placed_with_its_keyframe():
    moves = CORRECTION.at([0.5, 1.0, 1.5, 2.0, 9.0])
    assert moves[:, 0, 3].tolist() == [0.0, 0.1, 0.1, 0.3, 0.3]  # before the first keyframe nothing moves
    assert np.allclose(CORRECTION.latest, _shift(0.3))


def test_objects_and_agents_move_with_the_correction_of_their_time():
    from pipeline.scene_graph.agents import AgentLayer, _filter, _Track
    from pipeline.scene_graph.objects import ObjectLayer, _Object

    config = Config().graph
    K = Intrinsics(100.0, 100.0, 80.0, 60.0, 160, 120)
    objects = ObjectLayer(config, K)
    cells = np.stack(np.meshgrid(np.arange(10), np.arange(4), np.arange(3), indexing="ij"), -1).reshape(-1, 3)
    keys = objects._keys((cells + 0.5) * config.object_voxel_m)
    objects.objects = [_Object(1, 5, keys, 5, 0.0, 0.5), _Object(2, 5, keys, 5, 0.0, 1.5)]
    before = [objects._centres(o.voxels).mean(axis=0) for o in objects.objects]
    objects.move(CORRECTION)
    after = [objects._centres(o.voxels).mean(axis=0) for o in objects.objects]
    assert np.allclose(after[0], before[0])  # last seen before the first keyframe
    assert np.allclose(after[1] - before[1], [0.1, 0, 0], atol=0.01)

    agents = AgentLayer(config, K)
    track = _Track(1, 31, _filter(np.zeros(3), 0.1), [0.5, 1.5, 2.5], [np.zeros(3), np.zeros(3), np.zeros(3)], 2.5)
    agents.tracks = [track]
    agents.move(CORRECTION)
    assert [p[0] for p in track.positions] == pytest.approx([0.0, 0.1, 0.3])
    assert track.kf.x[0] == pytest.approx(0.3)  # the filter continues where the corrected track is


def test_stored_keyframes_are_compact_and_stand_for_their_frames(tmp_path):
    store = KeyframeStore(budget_mb=1.0)
    depth = np.full((120, 160), 2.5, np.float32)
    normals = np.zeros((120, 160, 3), np.float32)
    normals[..., 2] = -1
    args = (np.full((120, 160), 0.8, np.float32), np.zeros((120, 160, 3), np.uint8), np.full((120, 160), 3, np.uint8),
            np.full((120, 160), 0.9, np.float32), normals)
    store.add(0, depth, *args)
    store.count_fused()
    store.count_fused()
    view = store.view(0)
    assert view.depth_m.shape == (60, 80) and view.depth_m.dtype == np.float32
    assert view.weight[0, 0] == pytest.approx(0.8 * 3, rel=1e-3)  # it stands for three fused frames
    assert view.confidence[0, 0] == pytest.approx(0.9, abs=0.005) and np.allclose(view.normals[0, 0], [0, 0, -1])
    assert store.nbytes == 60 * 80 * 12  # bytes per stored pixel
    assert KeyframeStore.intrinsics(Intrinsics(100.0, 100.0, 80.0, 60.0, 160, 120)).cx == 40.0

    for k in range(1, 40):  # 1 MB holds about 17 views: the store thins itself, keeping the last one
        store.add(k, depth, *args)
    assert store.nbytes <= 1e6 and store.entries[-1].number == 39 and store.view(39) is not None
    assert sum(e.frames for e in store.entries) == 42  # every fused frame is still stood for
    again = KeyframeStore(budget_mb=1.0)
    again.load_arrays(store.arrays())
    assert [(e.number, e.frames) for e in again.entries] == [(e.number, e.frames) for e in store.entries]
    assert np.array_equal(again.view(39).depth_m, store.view(39).depth_m)


def test_the_map_is_rebuilt_in_the_background_as_it_would_be_at_once():
    """A rebuild in the worker, collected after more keyframes were stored, holds what a rebuild at once holds."""
    from m2h_slam.core.config import FusionConfig
    from pipeline.mapping.map_rebuild import MapRebuilder

    K = Intrinsics(100.0, 100.0, 80.0, 60.0, 160, 120)
    store = KeyframeStore()
    depth = np.full((120, 160), 2.0, np.float32)
    normals = np.zeros((120, 160, 3), np.float32)
    normals[..., 2] = -1
    args = (np.ones((120, 160), np.float32), np.full((120, 160, 3), 200, np.uint8), np.full((120, 160), 1, np.uint8),
            np.ones((120, 160), np.float32), normals)
    poses = [_shift(0.05 * k) for k in range(6)]
    for k in range(4):
        store.add(k, depth, *args)
    config = FusionConfig()
    worker = MapRebuilder(config, store, K, background=True)
    assert worker.request(poses) is None and worker.running
    for k in range(4, 6):  # stored while the worker runs
        store.add(k, depth, *args)
    background = worker.collect(poses, wait=True)
    at_once = MapRebuilder(config, store, K, background=False).request(poses)
    assert not worker.running and len(worker.seconds) == 1
    assert background.block_count == at_once.block_count > 0
    for name in ("tsdf", "weight"):
        assert np.allclose(np.sort(background.voxels(name).ravel()), np.sort(at_once.voxels(name).ravel()))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="threads have their own priority on Linux only")
def test_the_rebuild_worker_yields_the_cores_to_the_frame_loop():
    """The worker thread's nice value goes up (lower priority), and so does a thread it starts; the calling thread
    keeps its own."""
    from pipeline.mapping.map_rebuild import WORKER_NICENESS, lower_this_threads_priority

    def nice() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    seen = {}

    def worker() -> None:
        lower_this_threads_priority()
        seen["worker"] = nice()
        child = threading.Thread(target=lambda: seen.update(child=nice()))
        child.start()
        child.join()

    before = nice()
    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert nice() == before
    assert seen["worker"] == seen["child"] == min(19, before + WORKER_NICENESS)
    assert seen["worker"] > before or before == 19  # already the lowest priority: nothing lower to go to


def test_a_mapper_with_closures_resumes_from_its_snapshot(apartments, tmp_path):
    """The pose graph and the stored keyframes survive a snapshot: a resumed mapper ends where an unbroken one
    ends."""
    from m2h_slam.perception.ground_truth import prediction_from_ground_truth
    from m2h_slam.sources import open_sequence
    from m2h_slam.synthetic import WorldSpec
    from pipeline import Mapper

    frames = list(open_sequence(apartments(WorldSpec(seed=7, frames=60, rooms=3, people=0), size=(320, 240))))
    order = list(range(20, 51)) + list(range(49, 23, -1))  # out and back: revisits
    frames = [dataclasses.replace(frames[k], index=i, timestamp_s=i / 15) for i, k in enumerate(order)]
    config = Config()
    config = dataclasses.replace(config, odometry=dataclasses.replace(config.odometry, revisit_min_gap_keyframes=2,
                                                                      deterministic=True))
    whole = Mapper(config, frames[0].intrinsics, predicted_depth=False)
    for frame in frames:
        whole.step(frame, prediction_from_ground_truth(frame))
    first = Mapper(config, frames[0].intrinsics, predicted_depth=False)
    for frame in frames[:40]:
        first.step(frame, prediction_from_ground_truth(frame))
    first.save_snapshot(tmp_path)
    resumed = Mapper(config, frames[0].intrinsics, predicted_depth=False)
    resumed.load_snapshot(tmp_path)
    for frame in frames[40:]:
        resumed.step(frame, prediction_from_ground_truth(frame))
    assert any(r["corrected"] for r in whole.state.revisits)
    assert resumed.state.revisits == whole.state.revisits
    assert np.allclose(resumed.poses, whole.poses, atol=1e-6)
    assert len(resumed._graph.poses) == len(whole._graph.poses) and len(resumed._stored) == len(whole._stored)


def test_the_live_view_shows_closures(tmp_path):
    pytest.importorskip("rerun")
    from m2h_slam.viz.rerun_view import RerunViewer

    rrd = tmp_path / "view.rrd"
    viewer = RerunViewer(save=rrd)
    poses = np.stack([_shift(0.1 * k) for k in range(5)])
    viewer.revisit({"frames": [0, 4], "inliers": 50, "drift_m": 0.2, "corrected": True, "moved_m": 0.15}, poses)
    viewer.rr.disconnect()
    data = rrd.read_bytes()
    assert b"/world/closures/0_4" in data and b"/closures" in data and b"/world/trajectory_so_far" in data
