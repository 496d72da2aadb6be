"""TUM RGB-D: association, depth scale, pose convention, known calibrations."""

import numpy as np
import pytest
from conftest import make_frames

from m2h_slam.core import geometry as g
from m2h_slam.core.errors import InputError
from m2h_slam.formats.trajectory_io import read_tum_trajectory
from m2h_slam.sources import open_sequence
from m2h_slam.sources.tum import associate, write_tum_sequence


def _write_tum(root, frames, depth_offset_s=0.004):
    """A TUM folder whose depth stamps lag rgb by ``depth_offset_s`` (as the Kinect's do) and with extra GT lines."""
    write_tum_sequence(root, frames)
    depth_lines = (root / "depth.txt").read_text().splitlines()
    shifted = [depth_lines[0]] + [f"{float(l.split()[0]) + depth_offset_s:.6f} {l.split()[1]}" for l in depth_lines[1:]]
    (root / "depth.txt").write_text("\n".join(shifted) + "\n")
    return root


def test_round_trip(tmp_path):
    frames = make_frames(6, 64, 48)
    root = _write_tum(tmp_path / "rgbd_dataset_freiburg1_desk", frames)
    sequence = open_sequence(root)
    assert sequence.format == "tum-rgbd" and len(sequence) == 6
    assert sequence.ground_truth == ("depth_m", "world_T_camera")
    assert "freiburg1" in sequence.intrinsics_source
    assert sequence.intrinsics.fx == pytest.approx(517.3 / 10)  # published fr1 calibration, rescaled to 64x48
    for original, read in zip(frames, sequence):
        assert read.timestamp_s == pytest.approx(original.timestamp_s)
        assert np.array_equal(read.rgb, original.rgb)
        # 5000 units per metre: 0.2 mm steps.
        assert np.abs(read.depth_m - original.depth_m).max() <= 0.0001 + 1e-6
        np.testing.assert_allclose(read.world_T_camera, original.world_T_camera, atol=1e-8)


def test_depth_png_is_5000_per_metre(tmp_path):
    import cv2

    frames = make_frames(1)
    write_tum_sequence(tmp_path / "t", frames)
    name = (tmp_path / "t" / "depth.txt").read_text().splitlines()[1].split()[1]
    raw = cv2.imread(str(tmp_path / "t" / name), cv2.IMREAD_UNCHANGED)
    assert raw.dtype == np.uint16
    np.testing.assert_allclose(raw / 5000.0, frames[0].depth_m, atol=1e-4)


def test_pose_convention_is_camera_to_world(tmp_path):
    """groundtruth.txt holds world_T_camera: the camera centre is the translation; a point ahead of the camera
    lies along the rotated +z axis."""
    pose = g.transform_from_quaternion([1.0, 2.0, 3.0], [0.0, np.sin(np.pi / 4), 0.0, np.cos(np.pi / 4)])  # yaw 90 deg
    (tmp_path / "groundtruth.txt").write_text("1.0 1 2 3 0 0.7071067811865476 0 0.7071067811865476\n")
    stamps, poses = read_tum_trajectory(tmp_path / "groundtruth.txt")
    np.testing.assert_allclose(poses[0], pose, atol=1e-12)
    ahead = g.transform_points(poses[0], np.array([0.0, 0.0, 1.0]))
    np.testing.assert_allclose(ahead, [2.0, 2.0, 3.0], atol=1e-12)


def test_association_is_one_to_one_within_window():
    rgb = np.array([0.00, 0.033, 0.066, 0.100, 0.500])
    depth = np.array([0.005, 0.030, 0.031, 0.110, 0.90])
    pairs = associate(rgb, depth, 0.02)
    # 0.033 takes 0.031 (2 ms) over 0.030 (3 ms), and 0.030 is left; 0.066 and 0.5 have no partner within 20 ms.
    assert pairs == [(0, 0), (1, 2), (3, 3)]


def test_unmatched_frames_are_dropped_and_missing_gt_is_none(tmp_path):
    frames = make_frames(4, 32, 24)
    root = _write_tum(tmp_path / "fr2_test", frames, depth_offset_s=0.0)
    lines = (root / "depth.txt").read_text().splitlines()
    (root / "depth.txt").write_text("\n".join(lines[:-1]) + "\n")  # drop the last depth image
    gt = (root / "groundtruth.txt").read_text().splitlines()
    (root / "groundtruth.txt").write_text("\n".join(gt[:2]) + "\n")  # poses for the first frame only
    read = list(open_sequence(root))
    assert len(read) == 3
    assert read[0].world_T_camera is not None and read[1].world_T_camera is None


def test_non_monotonic_timestamps(tmp_path):
    root = write_tum_sequence(tmp_path / "t", make_frames(3))
    lines = (root / "rgb.txt").read_text().splitlines()
    lines[2], lines[3] = lines[3], lines[2]
    (root / "rgb.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match="timestamps do not increase") as error:
        open_sequence(root)
    assert str(root / "rgb.txt") in str(error.value)


def test_unknown_sensor_uses_default_and_file_overrides(tmp_path, caplog):
    root = write_tum_sequence(tmp_path / "mine", make_frames(2, 64, 48))
    assert "TUM default" in open_sequence(root).intrinsics_source
    assert "sensor unknown" in caplog.text
    (root / "calibration.yaml").write_text("fx: 50\nfy: 51\ncx: 31.5\ncy: 23.5\nwidth: 64\nheight: 48\n")
    sequence = open_sequence(root)
    assert sequence.intrinsics.fy == 51 and "calibration.yaml" in sequence.intrinsics_source
