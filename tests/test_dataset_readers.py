"""ScanNet, Replica and NYUD-MT readers and the datasets/check_*.py scripts, on small data sets written here
from the documented layouts (datasets/README.md) with analytic ground truth: planes seen from known poses."""

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from m2h_slam.core import geometry as g
from m2h_slam.core.errors import InputError
from m2h_slam.core.intrinsics import Intrinsics
from m2h_slam.formats import image_io
from m2h_slam.sources import ReadOptions, open_sequence
from m2h_slam.sources.nyudmt import open_nyudmt

REPO = Path(__file__).resolve().parents[1]


def _rotation(yaw_deg=0.0, pitch_deg=0.0):
    """Rotation about the camera's y (yaw) then x (pitch) axes."""
    a, b = np.radians(yaw_deg), np.radians(pitch_deg)
    yaw = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    pitch = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    return yaw @ pitch


def _pose(yaw_deg, pitch_deg, position):
    pose = np.eye(4)
    pose[:3, :3], pose[:3, 3] = _rotation(yaw_deg, pitch_deg), position
    return pose


def render_planes(K, world_T_camera, planes, max_m=9.9):
    """Planar depth (m) of the nearest of ``planes`` ((normal, offset): n . X = offset, world frame); 0 = none or
    beyond ``max_m`` (what a 16-bit depth PNG can hold)."""
    u, v = g.pixel_grid(K.width, K.height)
    rays = np.stack([(u - K.cx) / K.fx, (v - K.cy) / K.fy, np.ones_like(u)], axis=-1)  # z = 1: t is planar depth
    rays_world = rays @ world_T_camera[:3, :3].T
    centre = world_T_camera[:3, 3]
    depth = np.full(u.shape, np.inf)
    for normal, offset in planes:
        normal = np.asarray(normal, float)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (offset - normal @ centre) / (rays_world @ normal)
        depth = np.where((t > 0.1) & (t < depth), t, depth)
    return np.where(depth <= max_m, depth, 0.0)


def _plane_residual_m(points, planes):
    """Distance of each (N, 3) point to the nearest plane."""
    return np.min([np.abs(points @ np.asarray(n, float) - c) for n, c in planes], axis=0)


# ---------------------------------------------------------------------------------------------------- ScanNet
SCANNET_DEPTH_K = np.array([[577.590698, 0, 318.905426, 0], [0, 578.729797, 242.683609, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
SCANNET_COLOR_K = np.array([[1169.621094, 0, 646.295044, 0], [0, 1167.105103, 489.927032, 0], [0, 0, 1, 0],
                            [0, 0, 0, 1]])
WALL = [((0.0, 0.0, 1.0), 3.0)]  # the plane z = 3 m
LABELS_TSV = "id\traw_category\tcategory\tcount\tnyu40id\tnyu40class\n1\twall\twall\t8277\t1\twall\n" \
             "21\tdoor\tdoor\t1400\t8\tdoor\n"


def scannet_pose(k):
    return _pose(2.0 * k, -1.0 * k, [0.1 * k, -0.05 * k, 0.02 * k])


def write_scannet(root, frames=12, lost=(5,)):
    """A scene of ``frames`` frames looking at the wall z = 3 m; depth 64x48, colour 96x72, labels, a mesh."""
    scene = root / "scans" / "scene0000_00"
    K = Intrinsics.from_matrix(SCANNET_DEPTH_K[:3, :3], 640, 480).rescaled(64, 48)
    for k in range(frames):
        image_io.write_rgb(scene / "color" / f"{k}.jpg", np.full((72, 96, 3), 10 * k, np.uint8))
        image_io.write_depth(scene / "depth" / f"{k}.png", render_planes(K, scannet_pose(k), WALL), 1000.0)
        pose = np.full((4, 4), -np.inf) if k in lost else scannet_pose(k)
        (scene / "pose").mkdir(exist_ok=True)
        (scene / "pose" / f"{k}.txt").write_text("\n".join(" ".join(f"{x:f}" for x in row) for row in pose) + "\n")
        raw = np.full((72, 96), 1, np.uint16)
        raw[:, 48:] = 21
        raw[54:, :] = 999  # an id the table lacks
        image_io.write_labels(scene / "label-filt" / f"{k}.png", raw)
    (scene / "intrinsic").mkdir()
    for name, matrix in (("intrinsic_depth.txt", SCANNET_DEPTH_K), ("intrinsic_color.txt", SCANNET_COLOR_K)):
        (scene / "intrinsic" / name).write_text("\n".join(" ".join(f"{x:f}" for x in row) for row in matrix) + "\n")
    (root / "scannetv2-labels.combined.tsv").write_text(LABELS_TSV)  # ScanNet root, above scans/
    (scene / "scene0000_00_vh_clean_2.ply").write_text("ply\n")
    return scene, K


def test_scannet_reads_metres_opencv_poses_nyu40_in_numeric_order(tmp_path):
    scene, K = write_scannet(tmp_path)
    sequence = open_sequence(scene)
    assert sequence.format == "scannet" and len(sequence) == 12
    assert sequence.ground_truth == ("depth_m", "world_T_camera", "semantics")
    assert sequence.intrinsics == K and "intrinsic_depth.txt" in sequence.intrinsics_source  # 640x480 -> 64x48
    assert sequence.reference_mesh == scene / "scene0000_00_vh_clean_2.ply"
    frames = list(sequence)
    assert [f.timestamp_s for f in frames] == pytest.approx([k / 30 for k in range(12)])  # 10 after 9, at 30 Hz
    for k, frame in enumerate(frames):
        assert frame.rgb.shape == (48, 64, 3) and abs(frame.rgb.mean() - 10 * k) < 2  # colour resized to depth size
        assert np.abs(frame.depth_m - render_planes(K, scannet_pose(k), WALL)).max() < 0.0005 + 1e-6  # mm -> m
        if k == 5:
            assert frame.world_T_camera is None  # -inf pose: kept, without a pose
            continue
        np.testing.assert_allclose(frame.world_T_camera, scannet_pose(k), atol=1e-6)
        world = g.transform_points(frame.world_T_camera, g.backproject(frame.depth_m, K))  # OpenCV axes as they are
        assert np.abs(world[..., 2] - 3.0).max() < 0.002
    expected = np.where(np.arange(64) < 32, 1, 8)[None, :].repeat(48, 0)  # raw 1 -> wall, 21 -> door (8)
    expected[36:] = 0  # raw 999 -> unknown
    assert np.array_equal(frames[0].semantics, expected)


def test_scannet_mistakes_name_the_file(tmp_path):
    scene, _ = write_scannet(tmp_path, frames=4, lost=())
    (scene / "pose" / "2.txt").unlink()
    with pytest.raises(InputError, match=r"pose[/\\]2\.txt: missing"):
        open_sequence(scene)
    (scene / "pose" / "2.txt").write_text("1 0 0 0\n0 1 0 0\n0 0 1 0\n")
    with pytest.raises(InputError, match=r"pose[/\\]2\.txt: holds 12 numbers"):
        open_sequence(scene)
    (scene / "pose" / "2.txt").write_text("1 0 0 0\n0 1 0 0\n0 0 1 0\n0 0 0 1\n")
    (scene / "depth" / "3.png").write_bytes(b"not a png")
    sequence = open_sequence(scene)
    with pytest.raises(InputError, match=r"depth[/\\]3\.png: cannot decode"):
        list(sequence)
    (scene / "intrinsic" / "intrinsic_depth.txt").unlink()
    with pytest.raises(InputError, match=r"intrinsic_depth\.txt: missing"):
        open_sequence(scene)


# ---------------------------------------------------------------------------------------------------- Replica
REPLICA_K = Intrinsics(60.0, 60.0, 59.5, 33.5, 120, 68)  # the 1200x680 render camera at a tenth of the size
ROOM = [((0.0, -1.0, 0.0), -1.2), ((0.3, 0.0, 1.0), 4.0)]  # a floor 1.2 m below the origin (y down) and a wall
REPLICA_POSES = [_pose(0, 10, [0.0, 0.0, 0.0]), _pose(8, 12, [0.2, 0.1, 0.3]), _pose(-15, 5, [-0.3, -0.1, 0.5])]


def write_replica(root, poses=REPLICA_POSES):
    scene = root / "Replica" / "room0"
    for k, pose in enumerate(poses):
        image_io.write_rgb(scene / "results" / f"frame{k:06d}.jpg", np.full((68, 120, 3), 40 * k, np.uint8))
        image_io.write_depth(scene / "results" / f"depth{k:06d}.png", render_planes(REPLICA_K, pose, ROOM), 6553.5)
    (scene / "traj.txt").write_text("".join(" ".join(f"{x:.10f}" for x in p.ravel()) + "\n" for p in poses))
    (root / "Replica" / "room0_mesh.ply").write_text("ply\n")
    return scene


def test_replica_depth_scale_intrinsics_and_mesh(tmp_path):
    scene = write_replica(tmp_path)
    sequence = open_sequence(scene)
    assert sequence.format == "replica" and len(sequence) == 3 and sequence.fps == 30.0
    assert sequence.intrinsics == REPLICA_K
    assert sequence.reference_mesh == tmp_path / "Replica" / "room0_mesh.ply"
    for k, frame in enumerate(sequence):
        assert np.abs(frame.depth_m - render_planes(REPLICA_K, REPLICA_POSES[k], ROOM)).max() < 1 / 6553.5
        np.testing.assert_allclose(frame.world_T_camera, REPLICA_POSES[k], atol=1e-9)
        assert frame.timestamp_s == pytest.approx(k / 30)


def test_replica_poses_are_opencv_two_frames_see_the_same_points(tmp_path):
    """Depth of frames 0 and 2 back-projected with the poses of traj.txt as they are lands on the same surface,
    and frame 0's points project into frame 2 at frame 2's depth. With NICE-SLAM's y/z flip applied to the
    poses (its OpenGL-style renderer's convention) neither holds."""
    frames = list(open_sequence(write_replica(tmp_path)))
    a, b = frames[0], frames[2]

    def world_points(frame, pose):
        valid = frame.depth_m > 0
        return g.transform_points(pose, g.backproject(frame.depth_m, frame.intrinsics)[valid])

    def reprojection_error_m(pose_a, pose_b):
        points_b = g.transform_points(g.invert_transform(pose_b), world_points(a, pose_a))
        pixels, z = g.project(points_b, b.intrinsics)
        inside = (z > 0) & (pixels[:, 0] >= 0) & (pixels[:, 0] <= b.intrinsics.width - 1) & \
                 (pixels[:, 1] >= 0) & (pixels[:, 1] <= b.intrinsics.height - 1)
        seen = cv2.remap(b.depth_m, pixels[inside, 0].astype(np.float32)[:, None],
                         pixels[inside, 1].astype(np.float32)[:, None], cv2.INTER_LINEAR)[:, 0]
        return np.median(np.abs(seen - z[inside])), inside.mean()

    for frame in (a, b):
        assert np.percentile(_plane_residual_m(world_points(frame, frame.world_T_camera), ROOM), 99) < 0.002
    error, overlap = reprojection_error_m(a.world_T_camera, b.world_T_camera)
    assert overlap > 0.5 and error < 0.002
    flip = np.diag([1.0, -1.0, -1.0, 1.0])  # what NICE-SLAM does to the columns when it loads traj.txt
    assert np.median(_plane_residual_m(world_points(b, b.world_T_camera @ flip), ROOM)) > 0.1


def test_replica_mistakes_name_the_file(tmp_path):
    scene = write_replica(tmp_path)
    lines = (scene / "traj.txt").read_text().splitlines()
    (scene / "traj.txt").write_text("\n".join(lines[:2]) + "\n")
    with pytest.raises(InputError, match=r"traj\.txt: holds 2 poses but results/ has frame000002\.jpg"):
        open_sequence(scene)
    (scene / "traj.txt").write_text("\n".join(lines[:2] + [" ".join(lines[2].split()[:15])]) + "\n")
    with pytest.raises(InputError, match=r"traj\.txt: line 3: 15 numbers"):
        open_sequence(scene)
    (scene / "traj.txt").write_text("\n".join(lines) + "\n")
    (scene / "results" / "depth000001.png").unlink()
    with pytest.raises(InputError, match=r"depth000001\.png: missing"):
        open_sequence(scene)
    image_io.write_rgb(scene / "results" / "depth000001.png", np.zeros((68, 120, 3), np.uint8))  # 8-bit colour
    with pytest.raises(InputError, match=r"depth000001\.png: depth must be a single-channel 16-bit"):
        list(open_sequence(scene))


# ---------------------------------------------------------------------------------------------------- NYUD-MT
def nyu_normals(height, width, seed):
    """Unit normals in the NYU convention (x right, y down, z towards the camera) with an invalid corner."""
    rng = np.random.default_rng(seed)
    normals = rng.normal(size=(height, width, 3))
    normals[..., 2] = np.abs(normals[..., 2]) + 0.3  # facing the camera: +z towards it
    normals /= np.linalg.norm(normals, axis=-1, keepdims=True)
    normals[:4, :4] = 0.0
    return normals.astype(np.float32)


def write_nyudmt(root, size=(64, 48), names=None, encoding="npy"):
    """A NYUD-MT release: ``encoding`` "npy" (ATRC / MTI-Net files) or "png" (InvPT files)."""
    names = names or {"val": ["0003", "0001", "0010"], "train": ["0002", "0004"]}
    width, height = size
    (root / "gt_sets").mkdir(parents=True)
    truth = {}
    for split, listed in names.items():
        (root / "gt_sets" / f"{split}.txt").write_text("\n".join(listed) + "\n")
        for k, name in enumerate(listed):
            seed = int(name)
            image_io.write_rgb(root / "images" / f"{name}.{'jpg' if encoding == 'npy' else 'png'}",
                               np.full((height, width, 3), 20 * seed, np.uint8))
            depth = np.full((height, width), 1.0 + 0.25 * seed, np.float32)
            depth[0, 0] = np.nan
            (root / "depth").mkdir(exist_ok=True)
            np.save(root / "depth" / f"{name}.npy", depth)
            semantics = ((np.arange(width)[None, :] + np.arange(height)[:, None] + seed) % 41).astype(np.uint8)
            semantics[-1, -1] = 255  # ignore -> unknown
            image_io.write_labels(root / "segmentation" / f"{name}.png", semantics)
            normals = nyu_normals(height, width, seed)
            edges = (semantics % 7 == 0).astype(np.uint8)
            (root / "normals").mkdir(exist_ok=True)
            (root / "edge").mkdir(exist_ok=True)
            if encoding == "npy":
                np.save(root / "normals" / f"{name}.npy", normals)
                np.save(root / "edge" / f"{name}.npy", edges.astype(np.float32))
            else:
                codes = np.round((normals + 1) / 2 * 255).astype(np.uint8)
                codes[:4, :4] = 0  # black: no normal
                image_io.write_rgb(root / "normals" / f"{name}.png", codes)
                image_io.write_labels(root / "edge" / f"{name}.png", edges * 255)
            truth[name] = (seed, semantics, normals, edges)
    return root, truth


def _check_nyud_frame(frame, seed, semantics, normals, edges, normal_tolerance):
    assert abs(frame.rgb.mean() - 20 * seed) < 2
    assert frame.depth_m[0, 0] == 0.0 and np.allclose(frame.depth_m.ravel()[1:], 1.0 + 0.25 * seed)  # NaN -> 0
    expected_semantics = semantics.copy()
    expected_semantics[-1, -1] = 0
    assert np.array_equal(frame.semantics, expected_semantics)
    assert np.array_equal(frame.edges, edges)
    expected = normals * np.array([1.0, 1.0, -1.0], np.float32)  # NYU z towards the camera -> OpenCV z away
    assert np.abs(frame.normals - expected).max() < normal_tolerance
    assert (frame.normals[:4, :4] == 0).all()
    valid = np.linalg.norm(frame.normals, axis=-1) > 0
    assert np.allclose(np.linalg.norm(frame.normals[valid], axis=-1), 1.0, atol=1e-5)
    assert (frame.normals[valid][:, 2] < 0).all()  # facing the camera in OpenCV axes
    assert frame.world_T_camera is None


def test_nyudmt_val_by_default_conversions_and_intrinsics(tmp_path):
    root, truth = write_nyudmt(tmp_path / "NYUD_MT")
    sequence = open_sequence(root)
    assert sequence.format == "nyudmt" and sequence.split == "val" and len(sequence) == 3
    assert sequence.ground_truth == ("depth_m", "semantics", "normals", "edges")
    full = Intrinsics(518.857901, 519.469611, 324.582449, 252.736166, 640, 480)  # toolbox cx, cy are 1-based
    assert sequence.intrinsics == full.rescaled(64, 48)
    frames = list(sequence)
    assert [truth_name for truth_name in ("0003", "0001", "0010")] == sequence.names  # split file order
    for frame, name in zip(frames, sequence.names):
        _check_nyud_frame(frame, *truth[name], normal_tolerance=1e-6)
    train = open_nyudmt(root, "train")
    assert len(train) == 2 and train.names == ["0002", "0004"]
    by_file = open_sequence(root / "gt_sets" / "train.txt")
    assert by_file.split == "train" and by_file.names == train.names


def test_nyudmt_png_release_and_standard_crop(tmp_path):
    """InvPT's files (png images, 8-bit normals and edges) at the 560x425 crop, scaled to 112x85."""
    root, truth = write_nyudmt(tmp_path / "NYUDv2", size=(112, 85), names={"val": ["0005"], "train": ["0006"]},
                               encoding="png")
    sequence = open_sequence(root)
    crop = Intrinsics(518.857901, 519.469611, 324.582449 - 40, 252.736166 - 44, 560, 425)
    assert sequence.intrinsics == crop.rescaled(112, 85) and "crop" in sequence.intrinsics_source
    _check_nyud_frame(next(iter(sequence)), *truth["0005"], normal_tolerance=0.02)


def test_nyudmt_mistakes_name_the_file(tmp_path):
    root, _ = write_nyudmt(tmp_path / "NYUD_MT")
    with pytest.raises(InputError, match=r"gt_sets[/\\]test\.txt: split file missing"):
        open_nyudmt(root, "test")
    (root / "depth" / "0010.npy").unlink()
    with pytest.raises(InputError, match=r"depth[/\\]0010\.npy: missing \(listed in gt_sets/val\.txt"):
        open_sequence(root)
    (root / "depth" / "0010.npy").write_bytes(b"garbage")
    with pytest.raises(InputError, match=r"0010\.npy: cannot read as a \.npy array"):
        list(open_sequence(root))


# ---------------------------------------------------------------------------------------------------- detection, CLI
def test_open_sequence_detects_each_format_and_info_prints_it(tmp_path, capsys):
    from m2h_slam.cli import main

    scannet, _ = write_scannet(tmp_path / "s", frames=2, lost=())
    replica = write_replica(tmp_path / "r")
    nyud, _ = write_nyudmt(tmp_path / "n" / "NYUD_MT")
    cases = [(scannet, "scannet", 2), (replica, "replica", 3), (nyud, "nyudmt", 3),
             (nyud / "gt_sets" / "train.txt", "nyudmt", 2)]
    for path, kind, count in cases:
        assert open_sequence(path).format == kind
        capsys.readouterr()
        assert main(["info", str(path), "--json"]) == 0
        record = json.loads(capsys.readouterr().out)
        assert record["format"] == kind and record["num_frames"] == count, record
    with pytest.raises(InputError, match="--camera"):
        open_sequence(replica, ReadOptions(camera="cam_00"))


def test_normals_depth_agreement_that_check_nyudmt_reports():
    """The check's normals-vs-depth angle is small for a plane's depth and its OpenCV normal (facing the camera),
    and large for the normal with z towards the camera (NYUD-MT's stored convention, unconverted)."""
    from m2h_slam.dataset_tools.check import normals_depth_angle_deg

    K = Intrinsics(50.0, 50.0, 31.5, 23.5, 64, 48)
    normal_world, pose = np.array([0.3, -0.4, -1.0]), _pose(0, 0, [0.0, 0.0, 0.0])
    depth = render_planes(K, pose, [(normal_world, -3.0)]).astype(np.float32)
    normal = (normal_world / np.linalg.norm(normal_world)).astype(np.float32)  # n . X = -3: faces the origin
    normals = np.broadcast_to(normal, (48, 64, 3))
    assert normals_depth_angle_deg(normals, depth, K) < 0.5
    assert normals_depth_angle_deg(normals * np.float32([1, 1, -1]), depth, K) > 30


# ---------------------------------------------------------------------------------------------------- check scripts
def write_hypersim(root):
    import h5py

    def write(path, array):
        path.parent.mkdir(parents=True, exist_ok=True)
        with h5py.File(path, "w") as file:
            file.create_dataset("dataset", data=array)

    scene = root / "ai_001_001"
    (scene / "_detail").mkdir(parents=True)
    (scene / "_detail" / "metadata_scene.csv").write_text("parameter_name,parameter_value\nmeters_per_asset_unit,1\n")
    write(scene / "_detail" / "cam_00" / "camera_keyframe_positions.hdf5", np.zeros((2, 3)))
    write(scene / "_detail" / "cam_00" / "camera_keyframe_orientations.hdf5", np.stack([np.eye(3)] * 2))
    for k in range(2):
        colour = np.ones((6, 8, 3), np.float16)
        write(scene / "images" / "scene_cam_00_final_hdf5" / f"frame.{k:04d}.color.hdf5", colour)
        for kind in ("depth_meters", "semantic"):
            write(scene / "images" / "scene_cam_00_geometry_hdf5" / f"frame.{k:04d}.{kind}.hdf5", np.ones((6, 8)))
    return scene


def _run_check(kind, path):
    """``python datasets/check_KIND.py PATH`` run as a script (``__main__``) in this process: (status, output)."""
    import contextlib
    import io
    import runpy

    output, argv = io.StringIO(), sys.argv
    sys.argv = [str(REPO / "datasets" / f"check_{kind}.py"), str(path)]
    try:
        with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
            try:
                runpy.run_path(sys.argv[0], run_name="__main__")
                status = 0
            except SystemExit as exit_:
                status = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    finally:
        sys.argv = argv
    return status, output.getvalue()


@pytest.mark.parametrize("kind, write, remove", [
    ("scannet", lambda root: write_scannet(root, frames=3, lost=(1,))[0].parent.parent,
     "scans/scene0000_00/pose/2.txt"),
    ("replica", lambda root: write_replica(root).parent.parent, "Replica/room0/results/depth000001.png"),
    ("nyudmt", lambda root: write_nyudmt(root / "NYUD_MT")[0], "NYUD_MT/normals/0004.npy"),
    ("hypersim", lambda root: write_hypersim(root).parent,
     "ai_001_001/images/scene_cam_00_geometry_hdf5/frame.0001.semantic.hdf5"),
])
def test_check_scripts_report_complete_and_missing(tmp_path, kind, write, remove):
    root = write(tmp_path)
    code, text = _run_check(kind, root)
    assert code == 0 and ": complete" in text and "1 complete, 0 incomplete" in text, text
    (tmp_path / remove).unlink()
    code, text = _run_check(kind, root)
    missing = "/".join(remove.split("/")[-2:])
    assert code == 1 and "INCOMPLETE" in text and missing in text, text


def _dataset(kind, root):
    """A small data set of each reader's format (the writers above and beside), its path to open."""
    if kind == "scannet":
        return write_scannet(root)[0]
    if kind == "replica":
        return write_replica(root)
    if kind == "nyudmt":
        return write_nyudmt(root)[0]
    if kind == "hypersim":
        from test_hypersim import write_scene

        return write_scene(root)
    from conftest import make_frames

    from m2h_slam.sources.tum import write_tum_sequence

    return write_tum_sequence(root / "tum", make_frames(3))


@pytest.mark.parametrize("kind", ["scannet", "replica", "nyudmt", "hypersim", "tum"])
def test_every_reader_skips_ground_truth_images_when_nothing_needs_them(tmp_path, kind):
    """Inside ``without_ground_truth_images`` (a run on the network's perception) every reader gives the same RGB and
    poses and no depth, classes, instances, normals or edges; afterwards it reads them again."""
    sequence = open_sequence(_dataset(kind, tmp_path))
    full = list(sequence)
    with sequence.without_ground_truth_images():
        light = list(sequence)
    assert [f.index for f in light] == [f.index for f in full] and len(full) >= 2
    for a, b in zip(full, light):
        assert np.array_equal(a.rgb, b.rgb)
        assert (a.world_T_camera is None) == (b.world_T_camera is None)
        assert a.world_T_camera is None or np.array_equal(a.world_T_camera, b.world_T_camera)
        assert all(getattr(b, field) is None for field in ("depth_m", "semantics", "instances", "normals", "edges"))
    assert any(f.depth_m is not None for f in full) and all(f.depth_m is not None for f in list(sequence)[:1])
