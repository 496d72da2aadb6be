"""The Hypersim reader on a scene written here from the documented layout (datasets/README.md): two cameras,
ray distances in float16 with NaNs, OpenGL camera orientations, meters_per_asset_unit != 1."""

import numpy as np
import pytest

from m2h_slam.core.errors import InputError
from m2h_slam.data import ReadOptions, open_sequence
from m2h_slam.data.hypersim import default_intrinsics

W, H = 16, 12
METERS_PER_UNIT = 0.0254  # an inch
PLANAR_DEPTH_M = 2.0


def _rot_y(deg):
    a = np.radians(deg)
    return np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])


def _write(path, array):
    import h5py

    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as file:
        file.create_dataset("dataset", data=array)


def write_scene(root, cameras=("cam_00", "cam_01"), frames=2):
    scene = root / "ai_001_001"
    (scene / "_detail").mkdir(parents=True)
    (scene / "_detail" / "metadata_scene.csv").write_text(
        f"parameter_name,parameter_value\nmeters_per_asset_unit,{METERS_PER_UNIT}\n")
    K = default_intrinsics(W, H)
    u, v = np.meshgrid(np.arange(W), np.arange(H))
    ray = np.sqrt(((u - K.cx) / K.fx) ** 2 + ((v - K.cy) / K.fy) ** 2 + 1)
    for c, cam in enumerate(cameras):
        positions = np.array([[100.0 * c + 10 * k, 50.0, -20.0 * k] for k in range(frames)])  # asset units
        orientations = np.stack([_rot_y(30.0 * c + 10 * k) for k in range(frames)])  # camera-to-world, OpenGL
        _write(scene / "_detail" / cam / "camera_keyframe_positions.hdf5", positions)
        _write(scene / "_detail" / cam / "camera_keyframe_orientations.hdf5", orientations)
        for k in range(frames):
            geometry = scene / "images" / f"scene_{cam}_geometry_hdf5"
            distance = (PLANAR_DEPTH_M * ray).astype(np.float16)
            distance[0, 0] = np.nan
            _write(geometry / f"frame.{k:04d}.depth_meters.hdf5", distance)
            semantic = np.full((H, W), 1, np.int16)  # wall
            semantic[:, :3] = -1
            _write(geometry / f"frame.{k:04d}.semantic.hdf5", semantic)
            _write(geometry / f"frame.{k:04d}.semantic_instance.hdf5", np.where(semantic > 0, 7, -1).astype(np.int16))
            normal = np.zeros((H, W, 3), np.float16)
            normal[..., 2] = 1.0  # facing the camera, OpenGL camera axes
            _write(geometry / f"frame.{k:04d}.normal_cam.hdf5", normal)
            hdr = np.full((H, W, 3), 0.2 * (k + 1), np.float16)
            _write(scene / "images" / f"scene_{cam}_final_hdf5" / f"frame.{k:04d}.color.hdf5", hdr)
    return scene


def test_hypersim_reads_back_planar_depth_opencv_poses_and_metres(tmp_path):
    scene = write_scene(tmp_path)
    sequence = open_sequence(scene, ReadOptions(camera="cam_01"))
    assert sequence.format == "hypersim" and len(sequence) == 2
    assert sequence.intrinsics.fx == pytest.approx(W / 2 / np.tan(np.radians(30)))
    frames = list(sequence)
    for k, frame in enumerate(frames):
        assert frame.depth_m[0, 0] == 0.0  # NaN -> invalid
        assert np.allclose(frame.depth_m[1:, 1:], PLANAR_DEPTH_M, rtol=2e-3)  # ray distance -> planar depth
        assert (frame.semantics[:, :3] == 0).all() and (frame.semantics[:, 3:] == 1).all()
        assert (frame.instances[:, 3:] == 7).all() and (frame.instances[:, :3] == 0).all()
        assert np.allclose(frame.normals, [0.0, 0.0, -1.0])  # OpenCV: facing the camera is -z
        pose = frame.world_T_camera
        assert np.allclose(pose[:3, 3], np.array([100.0 + 10 * k, 50.0, -20.0 * k]) * METERS_PER_UNIT)
        gl = _rot_y(30.0 + 10 * k)
        ahead_world = pose[:3, :3] @ np.array([0.0, 0.0, PLANAR_DEPTH_M]) + pose[:3, 3]  # OpenCV: +z ahead
        assert np.allclose(ahead_world, gl @ np.array([0.0, 0.0, -PLANAR_DEPTH_M]) + pose[:3, 3])  # GL: -z ahead
        down_world = pose[:3, :3] @ np.array([0.0, 1.0, 0.0])
        assert np.allclose(down_world, gl @ np.array([0.0, -1.0, 0.0]))  # OpenCV y down = GL -y
        assert np.isclose(np.linalg.det(pose[:3, :3]), 1.0)
    assert frames[1].rgb.mean() == frames[0].rgb.mean()  # tone mapping scales each frame to its own brightness
    first = open_sequence(scene)  # default: the first camera
    assert first.camera == "cam_00"
    by_folder = open_sequence(scene / "images" / "scene_cam_01_final_hdf5")
    assert by_folder.camera == "cam_01" and np.array_equal(next(iter(by_folder)).depth_m, frames[0].depth_m)


def test_info_lists_the_cameras(tmp_path):
    import json

    from conftest import run_cli

    scene = write_scene(tmp_path)
    text = run_cli("info", str(scene))
    assert text.returncode == 0 and "cameras:      cam_00, cam_01 (reading cam_00" in text.stdout, text.stdout
    record = json.loads(run_cli("info", str(scene), "--camera", "cam_01", "--json").stdout)
    assert record["format"] == "hypersim" and record["cameras"] == ["cam_00", "cam_01"] and record["camera"] == "cam_01"
    assert record["num_frames"] == 2


def test_hypersim_mistakes_name_the_file(tmp_path):
    scene = write_scene(tmp_path, cameras=("cam_00",), frames=1)
    with pytest.raises(InputError, match="no camera 'cam_07'.*cam_00"):
        open_sequence(scene, ReadOptions(camera="cam_07"))
    (scene / "_detail" / "cam_00" / "camera_keyframe_positions.hdf5").unlink()
    with pytest.raises(InputError, match="camera_keyframe_positions.hdf5.*missing|missing"):
        open_sequence(scene)
    other = tmp_path / "images_only"
    other.mkdir()
    (other / "a.png").write_bytes(b"")
    with pytest.raises(InputError, match="--camera"):
        open_sequence(other, ReadOptions(camera="cam_00"))
