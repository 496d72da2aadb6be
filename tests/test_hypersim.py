"""The Hypersim reader on a scene written here from the documented layout (datasets/README.md): two cameras,
ray distances in float16 with NaNs, OpenGL camera orientations, meters_per_asset_unit != 1; per-scene cameras
from ``metadata_camera_parameters.csv`` and the official split ``metadata_images_split_scene_v1.csv``, both
written with the column layout of the files in apple/ml-hypersim."""

import logging

import numpy as np
import pytest

from m2h_slam.core.config import InputConfig
from m2h_slam.core.errors import InputError
from m2h_slam.sources import ReadOptions, open_sequence
from m2h_slam.sources.hypersim import (
    HypersimSequence,
    camera_intrinsics,
    scene_camera,
    split_cameras,
    split_frames,
)

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


def camera_from_uv(hfov_deg=60.0, shift=(0.0, 0.0), tilt=(0.0, 0.0)):
    """(3, 3) M_cam_from_uv as Hypersim defines it: [u, v, 1] (u, v in [-1, 1] edge to edge, v up) -> camera-space
    ray, OpenGL axes. ``shift``: principal point offset (lens shift); ``tilt``: the bottom-row terms a tilted image
    plane gives (V-Ray's horizontal_shift / lens_shift)."""
    a = np.tan(np.radians(hfov_deg) / 2)
    return np.array([[a, 0.0, shift[0]], [0.0, a * H / W, shift[1]], [tilt[0], tilt[1], -1.0]])


def pixel_rays_gl(M, width=W, height=H):
    """(H, W, 3) unit rays of the pixel centres in Hypersim's camera frame (OpenGL axes), independent of the reader."""
    u, v = np.meshgrid((2 * np.arange(width) + 1) / width - 1, 1 - (2 * np.arange(height) + 1) / height)
    rays = np.stack([u, v, np.ones_like(u)], axis=-1) @ np.asarray(M).T
    return rays / np.linalg.norm(rays, axis=-1, keepdims=True)


def write_scene(root, cameras=("cam_00", "cam_01"), frames=2, camera=None, name="ai_001_001"):
    """A scene whose ray distances are those of ``camera`` (M_cam_from_uv; None = the 60 deg default) to a wall
    PLANAR_DEPTH_M ahead of Hypersim's camera axis."""
    scene = root / name
    (scene / "_detail").mkdir(parents=True)
    (scene / "_detail" / "metadata_scene.csv").write_text(
        f"parameter_name,parameter_value\nmeters_per_asset_unit,{METERS_PER_UNIT}\n")
    rays = pixel_rays_gl(camera_from_uv() if camera is None else camera)
    ray = 1.0 / -rays[..., 2]  # distance to the wall along each pixel's ray, per metre of depth
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


# -- metadata_camera_parameters.csv -------------------------------------------------------------------------------

CAMERA_PHYSICAL = """anisotropy blades_enable blades_num blades_rotation bmpaperture_affects_exposure bmpaperture_enable
    bmpaperture_resolution bmpaperture_tex center_bias distortion distortion_tex distortion_type dof_display_threshold
    dont_affect_settings enable_thin_lens_equation exposure f_number film_width focal_length focus_distance fov
    horizontal_offset horizontal_shift ISO latency lens_file lens_shift optical_vignetting rolling_shutter_duration
    rolling_shutter_mode shutter_angle shutter_offset shutter_speed specify_focus specify_fov subdivs target_distance
    targeted type use_dof use_moblur vertical_offset vignetting white_balance zoom_factor""".split()
SETTINGS_CAMERA = ("auto_corrections_mode auto_exposure auto_exposure_compensation auto_fit auto_white_balance curve "
                   "dist dont_affect_settings fov height image_planes type").split()
CAMERA_PARAMETERS_HEADER = (
    ["scene_name", "settings_output_img_height", "settings_output_img_width", "settings_units_info_meters_scale",
     "use_camera_physical"] + [f"camera_physical_{n}" for n in CAMERA_PHYSICAL] + [f"settings_camera_{n}" for n in
     SETTINGS_CAMERA] + [f"M_cam_from_uv_{i}{j}" for i in range(3) for j in range(3)]
    + [f"M_proj_{i}{j}" for i in range(4) for j in range(4)])


def camera_parameters_row(scene_name, M, hfov_deg=60.0, size=(1024, 768)):
    """One row as the real file has it (rendered at 1024x768): M_proj maps camera points to clip space so that
    NDC x, y = u, v of M (rows 0, 1, 3 = inverse of M; near 1, far 1000 as in the authors' script)."""
    M_inv = np.linalg.pinv(M)  # pinv: rows with a singular M can be written too
    M_proj = np.zeros((4, 4))
    M_proj[0, :3], M_proj[1, :3], M_proj[3, :3] = M_inv[0], M_inv[1], M_inv[2]
    M_proj[2, :3], M_proj[2, 3] = -M_proj[3, :3] * -(1000 + 1) / (1000 - 1), -2 * 1000 / (1000 - 1)
    values = {"scene_name": scene_name, "settings_output_img_height": f"{size[1]:.1f}",
              "settings_output_img_width": f"{size[0]:.1f}", "settings_units_info_meters_scale": METERS_PER_UNIT,
              "use_camera_physical": "True", "camera_physical_fov": np.radians(hfov_deg),
              "settings_camera_fov": np.radians(60.0), "settings_camera_type": 0.0}
    values.update({f"M_cam_from_uv_{i}{j}": repr(float(M[i, j])) for i in range(3) for j in range(3)})
    values.update({f"M_proj_{i}{j}": repr(float(M_proj[i, j])) for i in range(4) for j in range(4)})
    return ",".join(str(values.get(column, "")) for column in CAMERA_PARAMETERS_HEADER)


def write_camera_parameters(path, *rows):
    path.write_text(",".join(CAMERA_PARAMETERS_HEADER) + "\n" + "".join(row + "\n" for row in rows))
    return path


def test_m_proj_written_here_agrees_with_m_cam_from_uv():
    """Our test rows are self-consistent: projecting a point on a ray of M with M_proj gives that ray's u, v."""
    M = camera_from_uv(70.0, shift=(0.08, -0.05), tilt=(0.0, 0.15))
    row = dict(zip(CAMERA_PARAMETERS_HEADER, camera_parameters_row("x", M).split(","), strict=True))
    M_proj = np.array([float(row[f"M_proj_{i}{j}"]) for i in range(4) for j in range(4)]).reshape(4, 4)
    clip = M_proj @ np.append(M @ np.array([0.3, -0.6, 1.0]) * 4.0, 1.0)
    assert np.allclose(clip[:2] / clip[3], [0.3, -0.6]) and -1 < clip[2] / clip[3] < 1


def back_projected_world(frame):
    """(H, W, 3) world points (m) of every pixel from the frame's own K, planar depth and pose."""
    K = frame.intrinsics
    u, v = np.meshgrid(np.arange(K.width), np.arange(K.height))
    points = np.stack([(u - K.cx) / K.fx, (v - K.cy) / K.fy, np.ones(u.shape)], -1) * frame.depth_m[..., None]
    return points @ frame.world_T_camera[:3, :3].T + frame.world_T_camera[:3, 3]


def true_world(sequence, frame, M):
    """(H, W, 3) world points (m) along M's rays at the distances stored in the scene (float16)."""
    number = sequence.numbers[frame.index]
    distance = np.asarray(sequence._geometry(number, "depth_meters"), np.float64)
    rays_world = pixel_rays_gl(M) @ np.asarray(sequence.orientations[number], np.float64).T
    return sequence.positions[number] * METERS_PER_UNIT + rays_world * distance[..., None]


def test_shifted_lens_with_another_fov_gives_exact_intrinsics_and_correct_depth(tmp_path):
    hfov, (c, d) = 70.0, (0.08, -0.05)  # lens shift: the centre pixel's ray points right (c) and down (d, v up)
    M = camera_from_uv(hfov, shift=(c, d))
    scene = write_scene(tmp_path, camera=M)
    write_camera_parameters(scene / "metadata_camera_parameters.csv", camera_parameters_row("ai_001_001", M, hfov))
    a, b = M[0, 0], M[1, 1]  # u, v edge to edge: fx = W / 2a; the ray x = 0 at u = -c / a, y = 0 at v = -d / b
    expected = (W / (2 * a), H / (2 * b), (W - 1) / 2 - c * W / (2 * a), (H - 1) / 2 + d * H / (2 * b))
    K = camera_intrinsics(scene / "metadata_camera_parameters.csv", "ai_001_001", W, H)
    assert (K.fx, K.fy, K.cx, K.cy) == pytest.approx(expected, rel=1e-12)
    assert K.cx < (W - 1) / 2 - 0.5 and K.cy < (H - 1) / 2 - 0.5  # so the principal point is left of and above it
    big = camera_intrinsics(scene / "metadata_camera_parameters.csv", "ai_001_001", 1024, 768)
    assert big.fx == pytest.approx(1024 / (2 * a)) and big.cx == pytest.approx(511.5 - c * 1024 / (2 * a))

    sequence = open_sequence(scene, ReadOptions(camera="cam_01"))
    assert sequence.intrinsics_source.startswith("Hypersim metadata_camera_parameters.csv")
    assert sequence.intrinsics == K and np.array_equal(sequence.hypersim_R_camera, np.eye(3))
    for frame in sequence:
        assert frame.intrinsics == K
        assert np.allclose(frame.depth_m[1:, 1:], PLANAR_DEPTH_M, rtol=2e-3)  # the wall is square to the axis
        assert np.allclose(back_projected_world(frame)[1:, 1:], true_world(sequence, frame, M)[1:, 1:], atol=1e-5)


def test_tilted_lens_is_a_rotated_pinhole(tmp_path, caplog):
    """A tilt-shift row (bottom-row terms: 273 of the 482 published rows tilt by more than 0.001 deg): K plus a
    rotated camera frame; poses, planar depth and normals all in that frame, so back-projection lands on the scene's
    true points."""
    M = camera_from_uv(50.0, shift=(-0.04, 0.06), tilt=(0.0, 0.25))  # vertical tilt only: no skew
    scene = write_scene(tmp_path, cameras=("cam_00",), camera=M)
    write_camera_parameters(tmp_path / "metadata_camera_parameters.csv",  # the data set root, beside other scenes
                            camera_parameters_row("ai_007_003", camera_from_uv(80.0)),
                            camera_parameters_row("ai_001_001", M, 50.0))
    camera = scene_camera(tmp_path / "metadata_camera_parameters.csv", "ai_001_001", W, H)
    R, K = camera.hypersim_R_camera, camera.intrinsics
    assert np.allclose(R.T @ R, np.eye(3)) and np.isclose(np.linalg.det(R), 1.0) and not np.allclose(R, np.eye(3))
    assert camera.skew_px == pytest.approx(0.0, abs=1e-9) and np.allclose(R[:, 0], [1, 0, 0])  # tilt about x
    assert not 0 <= K.cy <= H - 1  # a window shifted off the pinhole's axis
    u, v = np.meshgrid(np.arange(W), np.arange(H))
    ours = np.stack([(u - K.cx) / K.fx, (v - K.cy) / K.fy, np.ones(u.shape)], -1) @ R.T
    truth = pixel_rays_gl(M) * [1, -1, -1]  # OpenGL -> OpenCV axes
    assert np.allclose(ours / np.linalg.norm(ours, axis=-1, keepdims=True), truth, atol=1e-12)

    with caplog.at_level(logging.INFO, logger="m2h_slam"):
        sequence = open_sequence(scene)
    assert "tilt-shift" in caplog.text and "skew" not in caplog.text
    assert sequence.intrinsics == K and np.allclose(sequence.hypersim_R_camera, R)
    for frame in sequence:
        valid = frame.depth_m > 0
        assert not np.allclose(frame.depth_m[valid], PLANAR_DEPTH_M, rtol=1e-2)  # the wall is oblique to this axis
        assert np.allclose(back_projected_world(frame)[valid], true_world(sequence, frame, M)[valid], atol=1e-5)
        pose = frame.world_T_camera
        assert np.allclose(pose[:3, :3].T @ pose[:3, :3], np.eye(3)) and np.isclose(np.linalg.det(pose[:3, :3]), 1)
        gl = sequence.orientations[sequence.numbers[frame.index]]
        assert np.allclose(frame.normals @ pose[:3, :3].T, gl @ np.array([0.0, 0.0, 1.0]), atol=1e-6)  # same wall

    overridden = open_sequence(scene, ReadOptions(fov_deg=60.0))  # --fov-deg: the user's pinhole, no rotation
    assert overridden.intrinsics_source == "--fov-deg 60" and np.array_equal(overridden.hypersim_R_camera, np.eye(3))


def test_lens_tilted_both_ways_warns_of_its_skew(tmp_path, caplog):
    M = camera_from_uv(60.0, tilt=(0.2, 0.3))
    scene = write_scene(tmp_path, cameras=("cam_00",), frames=1, camera=M)
    write_camera_parameters(scene / "metadata_camera_parameters.csv", camera_parameters_row("ai_001_001", M))
    camera = scene_camera(scene / "metadata_camera_parameters.csv", "ai_001_001", W, H)
    assert camera.skew_px > 0.5
    u, v = np.meshgrid(np.arange(W), np.arange(H))  # dropping the skew moves pixels by at most skew_px
    K, R = camera.intrinsics, camera.hypersim_R_camera
    rays = (pixel_rays_gl(M) * [1, -1, -1]) @ R  # in the pinhole frame
    u_proj = K.fx * rays[..., 0] / rays[..., 2] + K.cx
    assert np.abs(u_proj - u).max() == pytest.approx(camera.skew_px, rel=1e-6)
    with caplog.at_level(logging.WARNING, logger="m2h_slam"):
        open_sequence(scene)
    assert "skew" in caplog.text and "metadata_camera_parameters.csv" in caplog.text


def test_scene_without_a_row_keeps_the_default_camera(tmp_path):
    scene = write_scene(tmp_path, cameras=("cam_00",), frames=1)
    write_camera_parameters(tmp_path / "metadata_camera_parameters.csv",
                            camera_parameters_row("ai_055_010", camera_from_uv(80.0)))
    assert camera_intrinsics(tmp_path / "metadata_camera_parameters.csv", "ai_001_001", W, H) is None
    sequence = open_sequence(scene)
    assert sequence.intrinsics_source.startswith("Hypersim default camera")
    assert sequence.intrinsics.fx == pytest.approx(W / 2 / np.tan(np.radians(30)))


def test_camera_parameter_mistakes_name_the_file(tmp_path):
    scene = write_scene(tmp_path, cameras=("cam_00",), frames=1)
    path = scene / "metadata_camera_parameters.csv"
    path.write_text("scene_name,settings_output_img_height,settings_output_img_width,M_proj_00\n"
                    "ai_001_001,768,1024,1\n")
    with pytest.raises(InputError, match="metadata_camera_parameters.csv: has no column M_cam_from_uv_00"):
        open_sequence(scene)
    row = camera_parameters_row("ai_001_001", camera_from_uv())
    write_camera_parameters(path, row.replace("0.5773502691896257", "wide", 1))
    with pytest.raises(InputError, match="metadata_camera_parameters.csv: line 2: M_cam_from_uv_00 is not a number"):
        open_sequence(scene)
    write_camera_parameters(path, camera_parameters_row("ai_001_001", camera_from_uv(), size=(1024, 1024)))
    with pytest.raises(InputError, match="metadata_camera_parameters.csv: .*1024x1024.*16x12"):
        open_sequence(scene)
    singular = camera_from_uv()
    singular[:, 1] = 0.0
    write_camera_parameters(path, camera_parameters_row("ai_001_001", singular))
    with pytest.raises(InputError, match="metadata_camera_parameters.csv: line 2: M_cam_from_uv of ai_001_001"):
        open_sequence(scene)
    with pytest.raises(InputError, match="nothing.csv: missing"):
        camera_intrinsics(tmp_path / "nothing.csv", "ai_001_001", W, H)


# -- the official split: metadata_images_split_scene_v1.csv -------------------------------------------------------

SPLIT_HEADER = "scene_name,camera_name,frame_id,included_in_public_release,exclude_reason,split_partition_name"
SPLIT_ROWS = """ai_001_001,cam_00,0,True,,train
ai_001_001,cam_00,1,False,CONTENT FLAGGED FOR REMOVAL,
ai_001_001,cam_00,2,True,,train
ai_001_001,cam_01,0,True,,train
ai_002_001,cam_00,0,False,OUTSIDE VIEWING AREA (BAD INITIALIZATION),
ai_002_001,cam_00,1,False,OUTSIDE VIEWING AREA (BAD INITIALIZATION),
ai_002_002,cam_00,5,True,,val
ai_002_002,cam_00,3,True,,val
ai_003_001,cam_01,0,True,,test
ai_001_001,cam_00,3,True,,train
"""


def test_official_split(tmp_path):
    path = tmp_path / "metadata_images_split_scene_v1.csv"
    path.write_text(SPLIT_HEADER + "\n" + SPLIT_ROWS)
    assert split_cameras(path, "train") == [("ai_001_001", "cam_00"), ("ai_001_001", "cam_01")]
    assert split_cameras(path, "val") == [("ai_002_002", "cam_00")]  # ai_002_001: not in the public release
    assert split_cameras(str(path), "test") == [("ai_003_001", "cam_01")]
    assert split_frames(path, "ai_001_001", "cam_00", "train") == [0, 2, 3]  # frame 1 is excluded
    assert split_frames(path, "ai_002_002", "cam_00", "val") == [5, 3]  # file order
    assert split_frames(path, "ai_002_002", "cam_00", "train") == []
    path.write_text(SPLIT_HEADER + "\n" + SPLIT_ROWS.replace("ai_003_001,cam_01", "ai_003_002,cam_00"))
    assert split_cameras(path, "test") == [("ai_003_002", "cam_00")]  # a rewritten file is read again


def test_split_mistakes_name_the_file(tmp_path):
    path = tmp_path / "metadata_images_split_scene_v1.csv"
    path.write_text(SPLIT_HEADER + "\n" + SPLIT_ROWS)
    with pytest.raises(InputError, match=r"metadata_images_split_scene_v1.csv: unknown split 'validation'.*val"):
        split_cameras(path, "validation")
    with pytest.raises(InputError, match="metadata_images_split_scene_v1.csv: unknown split 'training'"):
        split_frames(path, "ai_001_001", "cam_00", "training")
    path.write_text(SPLIT_HEADER.replace(",split_partition_name", "") + "\nai_001_001,cam_00,0,True,\n")
    with pytest.raises(InputError, match="metadata_images_split_scene_v1.csv: has no column split_partition_name"):
        split_cameras(path, "train")
    path.write_text(SPLIT_HEADER + "\nai_001_001,cam_00,first,True,,train\n")
    with pytest.raises(InputError, match="metadata_images_split_scene_v1.csv: line 2: frame_id"):
        split_frames(path, "ai_001_001", "cam_00", "train")
    path.write_text(SPLIT_HEADER + "\nai_001_001,cam_00,0,yes,,train\n")
    with pytest.raises(InputError, match="metadata_images_split_scene_v1.csv: line 2: included_in_public_release"):
        split_cameras(path, "train")
    with pytest.raises(InputError, match="absent.csv: missing"):
        split_cameras(tmp_path / "absent.csv", "train")


def test_reading_only_the_split_frames(tmp_path):
    scene = write_scene(tmp_path, cameras=("cam_00",), frames=3)
    sequence = HypersimSequence(scene, ReadOptions(), InputConfig(), frames=[2, 0])
    frames = list(sequence)
    assert len(sequence) == 2 and [f.timestamp_s for f in frames] == pytest.approx([0.0, 0.2])
    assert [f.index for f in frames] == [0, 1]
    assert np.allclose(frames[1].world_T_camera[:3, 3], np.array([20.0, 50.0, -40.0]) * METERS_PER_UNIT)
    assert len(HypersimSequence(scene, ReadOptions(), InputConfig())) == 3  # the base signature: every frame
    with pytest.raises(InputError, match=r"images: 2 requested frame\(s\) of cam_00 are not there.*: 3, 7"):
        HypersimSequence(scene, ReadOptions(), InputConfig(), frames=[0, 3, 7])
