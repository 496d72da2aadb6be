"""The mapping back end: fusion quality, odometry accuracy, dynamic masking, robustness,
resume, torch-free operation, and `m2h-slam run` end to end."""

import dataclasses
import json
import re
import subprocess
import sys

import numpy as np
import pytest
from conftest import run_cli

from m2h_slam.core.config import Config
from m2h_slam.core.geometry import backproject, transform_from_quaternion, transform_points
from m2h_slam.core.labels import class_id
from m2h_slam.core.o3d import open3d
from m2h_slam.core.records import Prediction
from m2h_slam.formats.ply_io import read_labelled_ply
from m2h_slam.perception.ground_truth import prediction_from_ground_truth
from m2h_slam.sources import ReadOptions, open_sequence
from m2h_slam.synthetic import WorldSpec
from pipeline import Mapper
from pipeline.mapping.fusion import SemanticTSDF

PERSON = class_id("person")


@pytest.fixture(scope="module")
def apartment(apartments):
    """60 frames, 160x120, two people walking, exact ground truth (rendered once per session; read only)."""
    return apartments(WorldSpec(seed=7, frames=60, rooms=3, people=2), size=(160, 120))


def _map(path, poses="vo", frames=None):
    sequence = open_sequence(path, ReadOptions(max_frames=frames))
    mapper = Mapper(Config(), sequence.intrinsics)
    truth = []
    for frame in sequence:
        mapper.step(frame, prediction_from_ground_truth(frame), frame.world_T_camera if poses == "gt" else None)
        truth.append(frame)
    return mapper, mapper.finish(), truth


@pytest.fixture(scope="module")
def gt_mapped(apartment):
    """The apartment mapped with its exact poses: (mapper, result, frames). Read only."""
    return _map(apartment, poses="gt")


def _distances(points, vertices, triangles):
    o3d = open3d()
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.core.Tensor(vertices.astype(np.float32)), o3d.core.Tensor(triangles.astype(np.uint32)))
    return scene.compute_distance(o3d.core.Tensor(points.astype(np.float32))).numpy()


def test_fusing_ground_truth_reproduces_the_scene(apartment, gt_mapped):
    mapper, result, frames = gt_mapped
    gt = read_labelled_ply(apartment / "mesh.ply")
    # Precision: fused vertices near the true surface. Recall: observed true surface near the fused mesh.
    precision = np.mean(_distances(result.mesh.vertices, gt.vertices, gt.triangles) < 0.05)
    observed = []
    for frame in frames[::6]:
        keep = (frame.depth_m > 0) & (frame.depth_m < 5.0) & (frame.semantics != PERSON)
        observed.append(transform_points(frame.world_T_camera, backproject(frame.depth_m, frame.intrinsics)[keep][::7]))
    observed = np.concatenate(observed)
    recall = np.mean(_distances(observed, result.mesh.vertices, result.mesh.triangles) < 0.05)
    f1 = 2 * precision * recall / (precision + recall)
    assert f1 >= 0.9, (precision, recall)
    # The fused classes agree with the true ones for most of the mesh.
    o3d = open3d()
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.core.Tensor(gt.vertices.astype(np.float32)), o3d.core.Tensor(gt.triangles.astype(np.uint32)))
    closest = scene.compute_closest_points(o3d.core.Tensor(result.mesh.vertices.astype(np.float32)))
    true_labels = gt.labels[gt.triangles[closest["primitive_ids"].numpy(), 0]]
    labelled = result.mesh.labels > 0
    assert np.mean(result.mesh.labels[labelled] == true_labels[labelled]) > 0.85


def test_people_are_absent_from_the_map(gt_mapped):
    mapper, result, frames = gt_mapped
    assert any((f.semantics == PERSON).any() for f in frames)  # people were in view
    _, voxel_labels, _ = mapper.volume.labelled_voxels()
    assert PERSON not in set(voxel_labels.tolist()) and PERSON not in set(result.mesh.labels.tolist())
    assert result.counts.moving_objects == 0  # nothing else moves in this apartment


def _map_with(path, config):
    sequence = open_sequence(path)
    mapper = Mapper(config, sequence.intrinsics)
    steps = [mapper.step(f, prediction_from_ground_truth(f), f.world_T_camera) for f in sequence]
    return mapper, steps


def test_an_object_moved_into_seen_free_space_stays_out_of_the_map(apartments):
    """A static camera sees a place empty, then a chair is put there (mid-sequence): the chair is
    detected as moving, masked in every later frame, and never fused."""
    out = apartments(WorldSpec(seed=10, frames=30, rooms=2, people=0, static_camera=True, move_object=True),
                     size=(160, 120))
    moved = next(o for o in json.loads((out / "scene_graph.json").read_text())["objects"] if "moved" in o)
    after = np.array(moved["moved"]["box"]["center"])
    chair = moved["class_id"]

    def chair_voxels_at_new_place(mapper):
        points, labels, _ = mapper.volume.labelled_voxels()
        return int(np.sum((labels == chair) & (np.linalg.norm(points[:, :2] - after[:2], axis=1) < 0.4)))

    mapper, steps = _map_with(out, Config())
    first = next(s.index for s in steps if s.masked_pixels.get("moving"))
    assert 14 <= first <= 16 and all(s.masked_pixels.get("moving", 0) > 100 for s in steps[first:])
    assert mapper.state.counts["moving_objects"] == 1 and "chair" in mapper.state.events[0]
    assert chair_voxels_at_new_place(mapper) == 0
    # Depth that disagrees with the map where nothing moves (here: scaled by 0.8, as a poor network
    # might) reveals no new movers; the known one stays tracked.
    from pipeline.mapping.moving import find_moving

    frame = list(open_sequence(out))[-1]
    tracks = [list(t) for t in mapper.state.moving_tracks]
    scaled = find_moving(frame.semantics, 0.8 * frame.depth_m, frame.intrinsics, frame.world_T_camera, mapper.volume,
                         [], Config().fusion)
    kept = find_moving(frame.semantics, frame.depth_m, frame.intrinsics, frame.world_T_camera, mapper.volume, tracks,
                       Config().fusion)
    assert not scaled.mask.any() and not scaled.new and kept.mask.sum() > 500 and not kept.new
    # Without the detector the chair enters the map (so the check above can fail).
    off = dataclasses.replace(Config().fusion, moving_free_space_ratio=0.0)
    assert chair_voxels_at_new_place(_map_with(out, dataclasses.replace(Config(), fusion=off))[0]) > 20


def test_odometry_stays_close_to_ground_truth(apartment):
    _, result, frames = _map(apartment, poses="vo")
    truth = np.array([f.world_T_camera for f in frames])
    error = np.linalg.norm(result.poses[:, :3, 3] - truth[:, :3, 3], axis=1)
    path = np.sum(np.linalg.norm(np.diff(truth[:, :3, 3], axis=0), axis=1))
    assert path > 1.0 and result.counts.lost == 0
    # 160x120 keeps the test fast; at 320x240 the benchmark reaches about 0.3% (README).
    assert np.sqrt(np.mean(error**2)) <= 0.02 * path


@pytest.mark.slow
def test_odometry_on_downsampled_frames_stays_close(apartments):
    """By default (``odometry.max_width_px: 200``) a 320x240 walk is aligned at 160x120, a quarter of the
    pixels; the poses stay within the bound of the full-size test."""
    sequence = open_sequence(apartments(WorldSpec(seed=7, frames=40, rooms=3, people=2), size=(320, 240)))
    mapper = Mapper(Config(), sequence.intrinsics, predicted_depth=False)
    assert mapper.odometry.factor == 2
    frames = list(sequence)
    for frame in frames:
        mapper.step(frame, prediction_from_ground_truth(frame))
    result = mapper.finish()
    truth = np.array([f.world_T_camera for f in frames])
    error = np.linalg.norm(result.poses[:, :3, 3] - truth[:, :3, 3], axis=1)
    path = np.sum(np.linalg.norm(np.diff(truth[:, :3, 3], axis=0), axis=1))
    assert result.counts.lost == 0 and np.sqrt(np.mean(error**2)) <= 0.02 * path


def test_velocity_after_a_lost_frame_comes_from_the_last_measured_pose(apartment):
    """A frame without a measured pose gets a predicted one; the next tracked frame's velocity is the per-frame
    share of the motion since the last measured pose, so a poor prediction does not spoil the prior."""
    frames = list(open_sequence(apartment))[:23]
    mapper = Mapper(Config(), frames[0].intrinsics)
    for frame in frames[:20]:
        mapper.step(frame, prediction_from_ground_truth(frame))
    blind = prediction_from_ground_truth(frames[20])
    assert mapper.step(frames[20], dataclasses.replace(blind, depth_m=np.zeros_like(blind.depth_m))).tracking == "no-depth"
    mapper.state.poses[-1][3] += 0.06  # a poor prediction: 6 cm off in x
    assert mapper.step(frames[21], prediction_from_ground_truth(frames[21])).tracking == "ok"
    velocity = np.array(mapper.state.velocity).reshape(4, 4)
    true_step = np.linalg.inv(frames[20].world_T_camera) @ frames[21].world_T_camera
    assert np.linalg.norm(velocity[:3, 3] - true_step[:3, 3]) < 0.02  # from the predicted pose: ~0.06 m off
    assert mapper.step(frames[22], prediction_from_ground_truth(frames[22])).tracking == "ok"


@pytest.mark.parametrize("window", [1, 6])
def test_a_blind_frame_moves_by_the_mean_of_the_last_measured_steps(apartment, window):
    """A frame nothing measures is placed by the mean per-frame motion of the last ``odometry.blind_motion_frames``
    measured frames: a last measurement 8 cm off (an occluder coming into view) shifts it by a sixth of that with
    the default 6, by all of it with 1."""
    frames = list(open_sequence(apartment))[:21]
    config = Config()
    config = dataclasses.replace(config, odometry=dataclasses.replace(config.odometry, blind_motion_frames=window))
    mapper = Mapper(config, frames[0].intrinsics)
    for frame in frames[:20]:
        mapper.step(frame, prediction_from_ground_truth(frame))
    mapper.state.poses[-1][3] += 0.08  # the last measured pose 8 cm off in x, and the step that led to it
    mapper.state.velocity = (np.linalg.inv(mapper.state.pose(-2)) @ mapper.state.pose(-1)).ravel().tolist()
    blind = prediction_from_ground_truth(frames[20])
    step = mapper.step(frames[20], dataclasses.replace(blind, depth_m=np.zeros_like(blind.depth_m)))
    assert step.tracking == "no-depth"
    moved = (np.linalg.inv(mapper.state.pose(-2)) @ step.world_T_camera)[:3, 3]
    true_step = (np.linalg.inv(frames[19].world_T_camera) @ frames[20].world_T_camera)[:3, 3]
    off = np.linalg.norm(moved - true_step)
    assert off < 0.025 if window == 6 else off > 0.06, off


def test_a_poor_alignment_may_confirm_the_prediction_but_not_overrule_it():
    """The bound on the distance from the constant-velocity prediction shrinks with the alignment's fitness below
    odometry.full_trust_fitness: an 8 deg surprise passes a good fit and fails a poor one, a 2 deg one passes both."""
    from scipy.spatial.transform import Rotation

    from m2h_slam.core.intrinsics import Intrinsics
    from pipeline.mapping.odometry import RgbdOdometry

    def turn(deg: float) -> np.ndarray:
        motion = np.eye(4)
        motion[:3, :3] = Rotation.from_euler("y", deg, degrees=True).as_matrix()
        return motion

    config = Config().odometry.for_depth(True)
    odometry = RgbdOdometry(config, Intrinsics.from_fov(320, 240, 70.0), open3d().core.Device("CPU:0"))
    predicted = turn(8.0)
    assert config.full_trust_fitness == 0.4 and config.max_prediction_error_deg == 10.0
    assert odometry.motion_problem(turn(16.0), predicted, fitness=0.8) == ""
    assert odometry.motion_problem(turn(16.0), predicted, fitness=0.19) == "8.0 deg off the constant-velocity prediction"
    assert odometry.motion_problem(turn(10.0), predicted, fitness=0.19) == ""
    assert odometry.motion_problem(turn(16.0), None, fitness=0.19) == ""  # no trusted prediction: nothing to keep


def test_per_frame_motion_adds_up():
    from scipy.spatial.transform import Rotation

    from pipeline.mapping.odometry import per_frame_motion

    motion = np.eye(4)
    motion[:3, :3] = Rotation.from_rotvec([0.02, -0.06, 0.03]).as_matrix()
    motion[:3, 3] = [0.09, -0.02, 0.12]
    assert np.allclose(per_frame_motion(motion, 1), motion)
    step = per_frame_motion(motion, 3)
    composed = step @ step @ step
    assert np.allclose(composed[:3, :3], motion[:3, :3], atol=1e-9)
    assert np.linalg.norm(composed[:3, 3] - motion[:3, 3]) < 0.005 and np.linalg.norm(step[:3, 3]) < 0.06


def test_block_mean_keeps_points_on_their_surface():
    """Shrunk depth with the shrunk intrinsics puts each block's point on the plane its pixels saw; a block
    with a pixel without depth gets none."""
    from m2h_slam.core.intrinsics import Intrinsics
    from pipeline.mapping.odometry import RgbdOdometry, block_mean

    K = Intrinsics.from_fov(64, 48, 70.0)
    normal, distance = np.array([0.2, -0.1, 1.0]) / np.linalg.norm([0.2, -0.1, 1.0]), 2.0  # n . X = d
    v, u = np.mgrid[0:48, 0:64].astype(np.float64)
    rays = np.stack([(u - K.cx) / K.fx, (v - K.cy) / K.fy, np.ones_like(u)], -1)
    depth = (distance / (rays @ normal)).astype(np.float32)
    depth[10, 20] = 0
    rgb = np.zeros((48, 64, 3), np.uint8)
    small_rgb, small_depth = block_mean(rgb, depth, 2)
    assert small_depth.shape == (24, 32) and small_rgb.shape == (24, 32, 3) and small_depth[5, 10] == 0
    settings = dataclasses.replace(Config().odometry, max_width_px=32).for_depth(False)
    odometry = RgbdOdometry(settings, K, open3d().core.Device("CPU:0"))
    small = Intrinsics.from_matrix(odometry.K.numpy(), 32, 24)
    points = backproject(small_depth, small)[small_depth > 0]
    off_plane = np.abs(points @ normal - distance)
    assert len(points) == 24 * 32 - 1 and off_plane.max() < 3e-4  # the centres of cx / 2, cy / 2 give 2.7 mm


def test_bad_frames_give_events_not_crashes(apartment):
    sequence = open_sequence(apartment, ReadOptions(max_frames=12))
    mapper = Mapper(Config(), sequence.intrinsics)
    rng = np.random.default_rng(0)
    results = []
    for frame in sequence:
        p = prediction_from_ground_truth(frame)
        if frame.index == 4:  # no valid depth at all
            p = dataclasses.replace(p, depth_m=np.zeros_like(p.depth_m))
        if frame.index == 6:  # NaN everywhere
            p = dataclasses.replace(p, depth_m=np.full_like(p.depth_m, np.nan), normals=np.full_like(p.normals, np.nan))
        if frame.index == 8:  # a frame that cannot be tracked: a flat wall in front of the camera, and noise
            p = dataclasses.replace(p, depth_m=np.full_like(p.depth_m, 0.4))
            frame = frame.replace(rgb=rng.integers(0, 256, frame.rgb.shape, dtype=np.uint8))
        results.append(mapper.step(frame, p))
    states = [r.tracking for r in results]
    assert states[4] == "no-depth" and states[6] == "no-depth" and states[8] == "lost"
    assert states[-1] == "ok" and results[8].fused_voxels == 0
    result = mapper.finish()
    # Frames 4, 6 and 8 are reported (the frame after the noise may be lost too before recovery).
    assert [e.split(":")[0] for e in result.events][:3] == ["frame 4", "frame 6", "frame 8"]
    assert len(result.events) <= 4 and len(result.mesh.vertices) > 1000
    assert np.isfinite(result.poses).all()


@pytest.mark.slow
def test_a_run_with_true_perception_never_imports_torch(apartment, tmp_path):
    """The back end, the scene graph and the run loop work where torch is missing (and do not pay for it)."""
    code = f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("hidden")
sys.meta_path.insert(0, Block())
from m2h_slam import cli
status = cli.main(["-q", "run", {str(apartment)!r}, "--out", {str(tmp_path / "run")!r}, "--gt-perception",
                   "--max-frames", "6"])
print(status, "torch" in sys.modules)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.split() == ["0", "False"], result.stderr
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["counts"]["fused"] == 6 and record["mesh"]["vertices"] > 0
    assert record["versions"]["torch"]  # read from the package's metadata, not by importing it


@pytest.mark.parametrize("poses", ["gt", pytest.param("vo", marks=pytest.mark.slow)])
def test_resume_continues_an_interrupted_run(apartment, tmp_path, monkeypatch, poses):
    """With given poses a resumed run is bit-identical to an uninterrupted one. With odometry it keeps the
    snapshot's poses exactly and tracks on from them (Open3D 0.20's CPU odometry differs in the last bits
    between identical calls, so two odometry runs are never bit-identical)."""
    from m2h_slam.app.run_loop import RunOptions, run
    from m2h_slam.perception.perception import Perception

    def sequence():
        return open_sequence(apartment, ReadOptions(max_frames=30))

    options = RunOptions(poses=poses, gt_perception=True, snapshot_every=10, progress=False)
    config = Config()
    full = run(sequence(), tmp_path / "full", config, options)
    # Interrupt at frame 17 (after the snapshot at 10), then resume.
    original = Perception.__call__

    def interrupting(self, frame):
        if frame.index == 17:
            raise KeyboardInterrupt
        return original(self, frame)

    monkeypatch.setattr(Perception, "__call__", interrupting)
    with pytest.raises(KeyboardInterrupt):
        run(sequence(), tmp_path / "resumed", config, options)
    snapshot = tmp_path / "resumed" / ".snapshot"
    assert json.loads((snapshot / "state.json").read_text())["counts"]["frames"] == 17
    before = np.array(json.loads((snapshot / "state.json").read_text())["poses"]).reshape(-1, 4, 4)
    assert not (tmp_path / "resumed" / "mesh.ply").exists()
    monkeypatch.setattr(Perception, "__call__", original)
    resumed = run(sequence(), tmp_path / "resumed", config, dataclasses.replace(options, resume=True))
    a = np.loadtxt(tmp_path / "full" / "trajectory.txt")
    b = np.loadtxt(tmp_path / "resumed" / "trajectory.txt")
    assert a.shape == b.shape == (30, 8)
    assert resumed["resumed"] and full["counts"]["frames"] == resumed["counts"]["frames"] == 30
    run_json = json.loads((tmp_path / "full" / "run.json").read_text())["counts"]  # run.json's counts as before
    assert list(run_json) == ["frames", "fused", "lost", "keyframes", "no_depth", "moving_objects", "blocks",
                              "budget_hit"] and all(type(v) is int for v in run_json.values())
    assert not snapshot.exists()
    if poses == "gt":
        for name in ("mesh.ply", "mesh_rgb.ply", "trajectory.txt"):
            assert (tmp_path / "full" / name).read_bytes() == (tmp_path / "resumed" / name).read_bytes(), name
        return
    truth = np.array([f.world_T_camera for f in sequence()])

    def world_poses(rows, folder):  # trajectory.txt is in the map frame (upright, floor at 0): back to the world
        map_T_world = np.array(json.loads((folder / "run.json").read_text())["scene_graph"]["map_T_world"])
        return np.linalg.inv(map_T_world) @ np.array([transform_from_quaternion(r[1:4], r[4:]) for r in rows])

    resumed_poses = world_poses(b, tmp_path / "resumed")
    assert np.allclose(resumed_poses[:17], before, atol=1e-5)  # the snapshot's poses, as written
    full_poses = world_poses(a, tmp_path / "full")
    error_full = np.abs(full_poses[:, :3, 3] - truth[:, :3, 3]).max()
    error_resumed = np.abs(resumed_poses[:, :3, 3] - truth[:, :3, 3]).max()
    assert error_resumed < 2 * error_full + 0.01, (error_resumed, error_full)  # tracked on from them as well


@pytest.mark.slow
def test_cli_run_on_real_video(tmp_path, bikes_path):
    out = tmp_path / "bikes"
    result = run_cli("run", str(bikes_path), "--out", str(out), "--max-frames", "24", "--stride", "2",
                     "--fov-deg", "60", "--resize", "320x136", "-q")
    assert result.returncode == 0, result.stderr
    for name in ("mesh.ply", "mesh_rgb.ply", "trajectory.txt", "run.json", "preview.png"):
        assert (out / name).is_file(), name
    record = json.loads((out / "run.json").read_text())
    assert record["counts"]["frames"] == 24 and record["input"]["format"] == "video"
    assert record["odometry"] == {"method": "intensity", "depth_outlier_m": 0.3}  # 'auto' for predicted depth
    network = record["network"]  # the cached export or the faster variant that passed its check
    assert network["runtime"] == "onnx" and re.fullmatch(r"m2h_tiny_synthetic-\w+-224x168-v\d+(-\w+)?\.onnx",
                                                           network["model"]), network
    assert set(record["timings"]) >= {"predict", "mask", "odometry", "fusion", "export"}
    trajectory = np.loadtxt(out / "trajectory.txt")
    assert trajectory.shape == (24, 8) and np.isfinite(trajectory).all()
    again = run_cli("run", str(bikes_path), "--out", str(out))
    assert again.returncode == 2 and "not empty" in again.stderr
    # nothing was saved there (as after a stop before the first frame): --resume starts from the first frame
    fresh = run_cli("run", str(bikes_path), "--out", str(tmp_path / "fresh"), "--resume", "--max-frames", "2")
    assert fresh.returncode == 0 and "starting from the first frame" in fresh.stderr


def test_prediction_sanitising_keeps_shapes():
    p = Prediction(np.array([[np.nan, 1.0, -2.0, 3.0]], np.float32), np.zeros((1, 4), np.uint8),
                   np.array([[1, np.nan, 1, 1]], np.float32),
                   np.array([[[np.nan, 0, 1], [0, 0, 1], [0, 0, 1], [0, np.inf, 1]]], np.float32),
                   np.array([[0, 0, np.inf, 0]], np.float32), depth_source="measured")
    q = p.sanitised()
    assert q.depth_source == "measured"  # every field not cleaned is kept
    assert q.depth_m.tolist() == [[0.0, 1.0, 0.0, 0.0]] and q.depth_m.dtype == np.float32
    assert np.isfinite(q.normals).all() and q.normals[0, [0, 3]].tolist() == [[0, 0, 0], [0, 0, 0]]
    assert q.confidence.tolist() == [[1, 0, 1, 1]] and q.edges.tolist() == [[0, 0, 0, 0]]
    assert q.sanitised() is q  # nothing left to clean


def test_semantics_survive_hash_map_growth(apartment):
    """The grid's hash map moves blocks when it grows; every voxel attribute must follow them."""
    from pipeline.mapping.masks import fusion_mask

    sequence = open_sequence(apartment, ReadOptions(max_frames=8))
    volumes = [SemanticTSDF(Config().fusion, initial_blocks=n) for n in (10000, 16)]
    for frame in sequence:
        p = prediction_from_ground_truth(frame)
        depth, weight, _ = fusion_mask(p, frame.intrinsics, Config().fusion)
        for volume in volumes:
            volume.integrate(depth, weight, frame.rgb, frame.intrinsics, frame.world_T_camera, p.semantics,
                             p.confidence, p.normals)
    assert volumes[1].grid.hashmap().capacity() > 16  # it grew
    (ca, la, fa), (cb, lb, fb) = (v.labelled_voxels() for v in volumes)
    assert len(ca) > 1000 and np.array_equal(ca, cb) and np.array_equal(la, lb) and np.allclose(fa, fb)


def _wall(K, depth_m=2.0, normal=(0.0, 0.0, -1.0)):
    """Prediction of a fronto-parallel wall at ``depth_m`` with the given camera-frame normal everywhere."""
    H, W = K.height, K.width
    normals = np.broadcast_to(np.asarray(normal, np.float32) / np.float32(np.linalg.norm(normal)), (H, W, 3)).copy()
    return Prediction(np.full((H, W), depth_m, np.float32), np.full((H, W), class_id("wall"), np.uint8),
                      np.ones((H, W), np.float32), normals, np.zeros((H, W), np.float32))


def test_fusion_mask_reasons():
    from m2h_slam.core.intrinsics import Intrinsics
    from pipeline.mapping.masks import fusion_mask, unit_rays

    K = Intrinsics.from_fov(80, 60, 70.0)
    p = _wall(K)
    p.depth_m[:, 40:] = 3.0  # a depth jump between columns 39 and 40
    p.depth_m[0, :5] = np.nan
    p.semantics[30:40, 10:20] = PERSON
    p.edges[50:, 60:70] = 0.9
    config = dataclasses.replace(Config().fusion, dynamic_dilation_px=0)
    depth, weight, counts = fusion_mask(p, K, config)
    assert counts["invalid_depth"] == 5 and counts["dynamic"] == 100
    assert counts["edges"] == 2 * 60 + 100  # both sides of the jump, and the edge block
    assert np.all(depth[:, 39:41] == 0) and np.all(depth[30:40, 10:20] == 0) and np.all(depth[50:, 60:70] == 0)
    assert np.all((weight > 0) == (depth > 0)) and np.all(weight <= 1)
    # Weight is the view cosine: the centre ray meets the wall head-on, the corners obliquely.
    assert weight[30, 38] > 0.99 and 0.72 < weight[59, 79] < 0.8  # corner ray: cos = 0.757
    tilted = _wall(K, normal=(0.0, np.sin(np.radians(85)), -np.cos(np.radians(85))))
    grazing = np.abs(unit_rays(K) @ tilted.normals[0, 0]) < config.min_view_cos
    assert grazing.sum() > 1000 and fusion_mask(tilted, K, config)[2]["grazing"] == grazing.sum()


def test_tsdf_weights_follow_the_view_angle():
    """Oblique (but not grazing) views fuse with less weight: weight = |cos(view angle)|."""
    from m2h_slam.core.intrinsics import Intrinsics
    from pipeline.mapping.masks import fusion_mask

    K = Intrinsics.from_fov(64, 48, 40.0)
    config = Config().fusion
    weights = []
    for normal in ((0.0, 0.0, -1.0), (0.0, np.sin(np.radians(60)), -np.cos(np.radians(60)))):
        volume = SemanticTSDF(config)
        p = _wall(K, normal=normal)
        depth, weight, _ = fusion_mask(p, K, config)
        volume.integrate(depth, weight, np.zeros((48, 64, 3), np.uint8), K, np.eye(4), p.semantics, p.confidence,
                         p.normals)
        w = volume.voxels("weight")
        weights.append(np.median(w[w > 0]))
        points, labels, confidence = volume.labelled_voxels()
        assert len(points) and np.all(labels == class_id("wall")) and np.allclose(confidence, 1.0)
        assert np.all(np.abs(points[:, 2] - 2.0) <= config.voxel_size_m + 1e-6)  # votes only near the surface
    assert weights[0] == pytest.approx(1.0, abs=0.06) and weights[1] / weights[0] == pytest.approx(0.5, abs=0.05)


def test_cli_run_records_a_rerun_file(apartment, tmp_path):
    rrd = tmp_path / "view.rrd"
    result = run_cli("run", str(apartment), "--out", str(tmp_path / "out"), "--gt-perception", "--max-frames", "12",
                     "--rerun-save", str(rrd), "-q")
    assert result.returncode == 0, result.stderr
    data = rrd.read_bytes()
    assert data[:4] == b"RRF2"  # rerun's file header
    for entity in (b"/world/camera/image/rgb", b"/world/camera/image/depth", b"/semantics", b"/tracking",
                   b"/world/trajectory", b"/world/mesh", b"/world/graph/rooms", b"/world/graph/objects",
                   b"/world/graph/places"):
        assert entity in data, entity


def test_rerun_missing_is_one_clear_error(apartment, tmp_path, monkeypatch):
    from m2h_slam.core.errors import InputError
    from m2h_slam.viz.rerun_view import RerunViewer

    monkeypatch.setitem(sys.modules, "rerun", None)  # as if not installed
    with pytest.raises(InputError, match=r"pip install 'm2h-slam\[viz\]'"):
        RerunViewer(tmp_path / "x.rrd")


def test_map_raycast_matches_the_true_depth(apartment):
    """The recovery target: the map rendered from a frame's pose agrees with that frame's true depth."""
    frames = list(open_sequence(apartment, ReadOptions(max_frames=25)))
    mapper = Mapper(Config(), frames[0].intrinsics)
    for frame in frames[:-1]:
        mapper.step(frame, prediction_from_ground_truth(frame), frame.world_T_camera)
    last = frames[-1]
    depth, colour = mapper.volume.raycast(last.world_T_camera, last.intrinsics, mapper._last_depth)
    both = (depth > 0) & (last.depth_m > 0) & (last.semantics != PERSON)
    assert both.mean() > 0.5 and colour.shape == last.rgb.shape and colour.max() <= 1.0
    assert np.median(np.abs(depth[both] - last.depth_m[both])) < 0.02
    assert np.median(np.abs(colour[both] * 255 - last.rgb[both])) < 12


def test_blocks_touched_by_a_frame_are_those_open3d_would_allocate(apartment):
    """Our compiled block selection gives exactly the blocks of Open3D's compute_unique_block_coordinates, also
    for depth with holes and beyond the range, and none for an empty frame."""
    o3d = open3d()
    volume = SemanticTSDF(Config().fusion)
    for frame in open_sequence(apartment, ReadOptions(max_frames=6, stride=5)):
        depth = frame.depth_m.astype(np.float32).copy()
        depth[::7, ::3] = 0.0
        depth[:10] = 20.0  # beyond depth_max_m
        ours = volume._blocks_seen(depth, frame.intrinsics, frame.world_T_camera).numpy()
        theirs = volume.grid.compute_unique_block_coordinates(
            o3d.t.geometry.Image(o3d.core.Tensor(depth[..., None])),
            o3d.core.Tensor(frame.intrinsics.matrix, o3d.core.float64),
            o3d.core.Tensor(np.linalg.inv(frame.world_T_camera), o3d.core.float64), 1.0,
            volume.config.depth_max_m, volume.config.truncation_m / volume.config.voxel_size_m).numpy()
        assert len(ours) > 10 and {tuple(k) for k in ours} == {tuple(k) for k in theirs} and len(ours) == len(theirs)
    assert volume._blocks_seen(np.zeros_like(depth), frame.intrinsics, frame.world_T_camera).shape[0] == 0


def test_predicted_depth_settings_track_through_depth_scale_flicker(apartment):
    """Network depth's scale flickers by a few % from frame to frame. With the settings for predicted depth
    (photometric odometry, 0.3 m depth outliers) a current frame whose depth is 6 % too far gives almost the
    motion that its true depth gives; the measured-depth settings (geometry in the loss) are pulled off by it."""
    from pipeline.mapping.odometry import RgbdOdometry

    frames = list(open_sequence(apartment, ReadOptions(max_frames=18)))
    device = open3d().core.Device("CPU:0")

    def shifts(predicted: bool) -> list[float]:
        odometry = RgbdOdometry(Config().odometry.for_depth(predicted), frames[0].intrinsics, device)
        out = []
        for previous, current in zip(frames[0:16:2], frames[1:17:2]):
            target = odometry.image(previous.rgb, previous.depth_m)
            motions = [odometry.track(odometry.image(current.rgb, current.depth_m * scale), target, np.eye(4),
                                      check_motion=False) for scale in (1.0, 1.06)]
            assert all(m.ok for m in motions)
            out.append(float(np.linalg.norm(motions[0].prev_T_current[:3, 3] - motions[1].prev_T_current[:3, 3])))
        return out

    predicted, measured = shifts(True), shifts(False)
    assert max(predicted) < 0.01, predicted
    # Means 4.6 cm against 3.5 mm when written.
    assert max(measured) > 0.02 and np.mean(measured) > 5 * np.mean(predicted), (measured, predicted)


def test_odometry_settings_follow_the_depth_source():
    """'auto' picks photometric odometry and wide depth outliers for predicted depth, Open3D's hybrid loss
    and 7 cm for measured depth; explicit values stay; the odometry refuses unresolved settings."""
    from m2h_slam.core.config import OdometryConfig
    from m2h_slam.core.intrinsics import Intrinsics
    from pipeline.mapping.odometry import RgbdOdometry

    auto = OdometryConfig()
    assert (auto.for_depth(True).method, auto.for_depth(True).depth_outlier_m) == ("intensity", 0.3)
    assert (auto.for_depth(False).method, auto.for_depth(False).depth_outlier_m) == ("hybrid", 0.07)
    fixed = OdometryConfig(method="point_to_plane", depth_outlier_m=0.2)
    assert fixed.for_depth(True) == fixed.for_depth(False) == fixed
    with pytest.raises(ValueError, match="for_depth"):
        RgbdOdometry(auto, Intrinsics.from_fov(64, 48, 70.0), open3d().core.Device("CPU:0"))
