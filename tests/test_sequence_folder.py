"""The project's sequence folder format: lossless round trip and clear errors."""

import numpy as np
import pytest
from conftest import make_frames

from m2h_slam.core.errors import InputError
from m2h_slam.core.records import GROUND_TRUTH_FIELDS
from m2h_slam.formats import image_io
from m2h_slam.sources import ReadOptions, SequenceWriter, open_sequence


def _write(path, frames):
    with SequenceWriter(path, frames[0].intrinsics, fps=10.0, name="test") as writer:
        for frame in frames:
            writer.write(frame)
    return path


def test_round_trip_every_ground_truth_kind(tmp_path):
    frames = make_frames(4)
    sequence = open_sequence(_write(tmp_path / "seq", frames))
    assert sequence.ground_truth == GROUND_TRUTH_FIELDS
    assert sequence.fps == 10.0 and sequence.intrinsics == frames[0].intrinsics
    for a, b in zip(frames, sequence):
        assert b.index == a.index and b.timestamp_s == pytest.approx(a.timestamp_s)
        assert np.array_equal(b.rgb, a.rgb)
        np.testing.assert_allclose(b.depth_m, a.depth_m, atol=5e-4)
        np.testing.assert_allclose(b.world_T_camera, a.world_T_camera, atol=1e-8)
        for field in ("semantics", "instances", "edges", "rooms"):
            assert np.array_equal(getattr(b, field), getattr(a, field)), field
        np.testing.assert_allclose(b.normals, a.normals, atol=2e-5)


def test_frames_without_ground_truth_images_keep_rgb_and_poses(tmp_path):
    """What a run on the network's perception reads: RGB and poses, none of the ground-truth images (decoding them
    cost ~8 ms per frame); afterwards the sequence reads them again."""
    frames = make_frames(3)
    sequence = open_sequence(_write(tmp_path / "seq", frames))
    with sequence.without_ground_truth_images():
        read = list(sequence)
    assert [f.index for f in read] == [0, 1, 2] and all(np.array_equal(f.rgb, a.rgb) for f, a in zip(read, frames))
    assert all(f.world_T_camera is not None for f in read)
    assert all(getattr(f, field) is None for f in read for field in GROUND_TRUTH_FIELDS if field != "world_T_camera")
    assert all(f.depth_m is not None and f.normals is not None for f in sequence)


def test_stride_limit_and_resize(tmp_path):
    sequence = open_sequence(_write(tmp_path / "s", make_frames(5)), ReadOptions(stride=2, max_frames=2, resize=(16, 12)))
    frames = list(sequence)
    assert [f.index for f in frames] == [0, 2]
    assert frames[0].semantics.shape == (12, 16) and frames[0].normals.shape == (12, 16, 3)
    assert frames[0].intrinsics.size == (16, 12) == sequence.intrinsics.size


def test_depth_of_another_size(tmp_path):
    root = _write(tmp_path / "s", make_frames(2))
    image_io.write_depth(root / "depth" / "000001.png", np.ones((10, 10), np.float32), 1000.0)
    frames = iter(open_sequence(root))
    next(frames)
    with pytest.raises(InputError, match="depth_m is 10x10 but the sequence is 32x24") as error:
        next(frames)
    assert "000001.png" in str(error.value)


def test_truncated_image(tmp_path):
    root = _write(tmp_path / "s", make_frames(2))
    path = root / "rgb" / "000001.png"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(InputError, match="unreadable or truncated") as error:
        list(open_sequence(root))
    assert str(path) in str(error.value)


def test_missing_frame_image(tmp_path):
    root = _write(tmp_path / "s", make_frames(3))
    (root / "semantics" / "000002.png").unlink()
    with pytest.raises(InputError, match="semantics image of frame 2 is missing"):
        open_sequence(root)


def test_non_monotonic_frame_list(tmp_path):
    root = _write(tmp_path / "s", make_frames(3))
    (root / "frames.txt").write_text("000000 0.0\n000001 0.2\n000002 0.1\n")
    with pytest.raises(InputError, match="frames.txt: timestamps do not increase"):
        open_sequence(root)


def test_malformed_intrinsics_in_manifest(tmp_path):
    root = _write(tmp_path / "s", make_frames(1))
    text = (root / "sequence.yaml").read_text().replace("fx: 30.0", "fx: -3")
    (root / "sequence.yaml").write_text(text)
    with pytest.raises(InputError, match="sequence.yaml: malformed intrinsics: focal lengths must be positive"):
        open_sequence(root)


def test_writer_rejects_mixed_ground_truth(tmp_path):
    frames = make_frames(2)
    with pytest.raises(ValueError, match="ground truth"):
        with SequenceWriter(tmp_path / "s", frames[0].intrinsics) as writer:
            writer.write(frames[0])
            writer.write(frames[1].replace(normals=None))


def test_writes_are_atomic(tmp_path, monkeypatch):
    """A writer that fails half-way leaves the previous file intact and no temporary files."""
    from m2h_slam.core.atomic import atomic_write, atomic_write_text

    target = tmp_path / "x.txt"
    atomic_write_text(target, "old")

    def failing(tmp):
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        atomic_write(target, failing)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.txt"]


def test_labels_outside_nyu40_are_read_as_unknown_with_one_warning(tmp_path, caplog):
    from conftest import run_cli

    frames = make_frames(3)
    root = _write(tmp_path / "s", frames)
    void = frames[1].semantics.copy()
    void[:2, :3] = 255
    image_io.write_labels(root / "semantics" / "000001.png", void)
    wide = frames[2].semantics.astype(np.uint16)
    wide[0, 0] = 256 + 5  # would wrap to 5 (chair) in uint8
    image_io.write_labels(root / "semantics" / "000002.png", wide)
    read = list(open_sequence(root))
    assert (read[1].semantics[:2, :3] == 0).all() and np.array_equal(read[1].semantics[2:], frames[1].semantics[2:])
    assert read[2].semantics[0, 0] == 0 and np.array_equal(read[2].semantics[1:], frames[2].semantics[1:])
    warnings = [r.getMessage() for r in caplog.records if "outside NYU40" in r.getMessage()]
    assert len(warnings) == 1 and "semantics/000001.png" in warnings[0] and "6 px of frame 1" in warnings[0]
    result = run_cli("info", root, "--check")  # the same check as run's, reported on stdout
    assert result.returncode == 0 and "semantics/000001.png: semantic ids above 40" in result.stdout, result


def test_bad_manifest_numbers_and_binary_frame_list(tmp_path):
    import yaml

    root = _write(tmp_path / "s", make_frames(2))
    manifest = yaml.safe_load((root / "sequence.yaml").read_text())
    for fps in (-15, 0, ".nan", "fast", True):
        (root / "sequence.yaml").write_text(yaml.safe_dump({**manifest, "fps": fps}))
        with pytest.raises(InputError, match="fps must be a positive number"):
            open_sequence(root)
    (root / "sequence.yaml").write_text(yaml.safe_dump({**manifest, "fps": None}))
    assert open_sequence(root).fps is None  # null: unknown
    (root / "frames.txt").write_bytes(b"\xff\xfe" * 10)
    with pytest.raises(InputError, match="frames.txt: not a text file"):
        open_sequence(root)
