"""Plain image folders, format detection and the ``m2h-slam info`` command as a user runs it."""

import json

import numpy as np
import pytest
from conftest import make_frames, run_cli

from m2h_slam.core.errors import InputError
from m2h_slam.formats.image_io import write_rgb
from m2h_slam.formats.intrinsics_io import save_intrinsics
from m2h_slam.sources import ReadOptions, open_sequence
from m2h_slam.sources.sequence_folder import SequenceWriter


def _image_folder(path, names=("frame2.png", "frame10.png", "frame1.jpg")):
    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name in names:
        write_rgb(path / name, rng.integers(0, 256, (24, 32, 3), dtype=np.uint8))
    return path


def test_natural_order_default_fov_and_timestamps(tmp_path):
    sequence = open_sequence(_image_folder(tmp_path / "imgs"), ReadOptions(fov_deg=90))
    frames = list(sequence)
    assert sequence.format == "image-folder"
    assert [p.name for p in sequence.files] == ["frame1.jpg", "frame2.png", "frame10.png"]
    assert [f.timestamp_s for f in frames] == pytest.approx([0, 1 / 30, 2 / 30])
    assert frames[0].intrinsics.fx == pytest.approx(16.0)


def test_intrinsics_file_in_folder_is_used_and_rescaled(tmp_path):
    folder = _image_folder(tmp_path / "imgs")
    K = make_frames(1)[0].intrinsics  # 32x24
    save_intrinsics(folder / "intrinsics.yaml", K.rescaled(64, 48))
    sequence = open_sequence(folder)
    assert sequence.intrinsics.fx == pytest.approx(K.fx) and "intrinsics.yaml" in sequence.intrinsics_source


def test_images_of_different_sizes(tmp_path):
    folder = _image_folder(tmp_path / "imgs")
    write_rgb(folder / "frame3.png", np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(InputError, match="frame3.png.*10x10"):
        list(open_sequence(folder))


@pytest.mark.parametrize(
    "make, problem",
    [
        (lambda p: p, "no such file or folder"),
        (lambda p: (p.mkdir(), p)[1], "folder is empty"),
        (lambda p: (p.mkdir(), (p / "notes.txt").write_text("x"), p)[2], "unknown format"),
        (lambda p: (p.with_suffix(".mp4").touch(), p.with_suffix(".mp4"))[1], "file is empty"),
        (lambda p: (p.with_suffix(".xyz").write_text("x"), p.with_suffix(".xyz"))[1], "unknown format"),
    ],
)
def test_detection_errors_name_the_path(tmp_path, make, problem):
    path = make(tmp_path / "input")
    with pytest.raises(InputError, match=problem) as error:
        open_sequence(path)
    assert str(path) in str(error.value)


def test_cli_info_on_sequence_text_and_json(tmp_path):
    with SequenceWriter(tmp_path / "seq", make_frames(1)[0].intrinsics, fps=10.0) as writer:
        for frame in make_frames(4):
            writer.write(frame)
    result = run_cli("info", str(tmp_path / "seq"))
    assert result.returncode == 0, result.stderr
    assert "m2h-sequence" in result.stdout and "32x24" in result.stdout and "frames:       4" in result.stdout
    result = run_cli("info", str(tmp_path / "seq"), "--json", "--stride", "2")
    info = json.loads(result.stdout)
    assert info["num_frames"] == 2 and info["width"] == 32 and set(info["ground_truth"]) >= {"depth_m", "semantics"}


def test_cli_video_warns_about_estimated_intrinsics(bikes_path):
    result = run_cli("info", str(bikes_path), "--max-frames", "3")
    assert result.returncode == 0
    assert "frames:       3" in result.stdout and "m2h-slam: warning:" in result.stderr and "--fov-deg" in result.stderr


def test_truncated_image_in_folder_is_skipped_with_a_warning(tmp_path, caplog):
    folder = _image_folder(tmp_path / "imgs", ["a.png", "c.png"])
    (folder / "b.png").write_bytes((folder / "a.png").read_bytes()[:60])
    sequence = open_sequence(folder)
    frames = list(sequence)
    assert [f.index for f in frames] == [0, 2] and sequence.frames_corrupt == 1
    assert any("skipped 1 unreadable image(s)" in r.message and "b.png" in r.message for r in caplog.records)


def test_cli_user_mistakes_are_one_line_without_traceback(tmp_path):
    folder = _image_folder(tmp_path / "imgs")
    bad_k = tmp_path / "k.yaml"
    bad_k.write_text("fx: 10\nfy: -3\n")
    bad_config = tmp_path / "c.yaml"
    bad_config.write_text("input:\n  default_fov: 70\n")
    cases = [
        ([str(tmp_path / "missing")], "missing: no such file"),
        ([str(folder), "--intrinsics", str(bad_k)], "k.yaml"),
        ([str(folder), "--config", str(bad_config)], "default_fov"),
    ]
    for args, words in cases:
        result = run_cli("info", *args)
        assert result.returncode == 2, (args, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("m2h-slam: error:"), result.stderr
        assert words in lines[0] and "Traceback" not in result.stderr
