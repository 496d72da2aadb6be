"""The real-video path: ``predict`` on a video, ``--max-frames`` counting frames read, ``info --check`` on damage.

The videos are written here with OpenCV (mp4v, 96x72, 10 fps, 60 frames); damage is a stretch of the file zeroed,
as in tests/test_video.py, which leaves the container's index intact so the reader reads on past it."""

from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import run_cli

from m2h_slam.sources import ReadOptions, open_sequence

FRAMES = 60


def write_video(path: Path, frames: int = FRAMES, size: tuple[int, int] = (96, 72), fps: float = 10.0) -> Path:
    """A small mp4 of a random texture sliding sideways."""
    width, height = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    assert writer.isOpened()
    texture = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    for k in range(frames):
        writer.write(np.roll(texture, 3 * k, axis=1))
    writer.release()
    return path


def wiped(source: Path, destination: Path, start: float, stop: float) -> Path:
    """A copy of ``source`` with the bytes between the fractions ``start`` and ``stop`` of its length zeroed."""
    data = bytearray(source.read_bytes())
    first, last = int(len(data) * start), int(len(data) * stop)
    data[first:last] = bytes(last - first)
    destination.write_bytes(bytes(data))
    return destination


def readable(path: Path) -> list[int]:
    """Indices of the frames the reader delivers from ``path``."""
    return [frame.index for frame in open_sequence(path, ReadOptions(fov_deg=60))]


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, Path]:
    """clip: intact; damaged: most frames corrupt (the middle 70 % zeroed); scratched: one or a few frames lost."""
    folder = tmp_path_factory.mktemp("videos")
    clip = write_video(folder / "clip.mp4")
    return {"clip": clip, "damaged": wiped(clip, folder / "damaged.mp4", 0.1, 0.8),
            "scratched": wiped(clip, folder / "scratched.mp4", 0.5, 0.53)}


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    """Untrained m2h_tiny weights (fast; what they predict does not matter here)."""
    import torch

    from m2h_slam.perception.model import create_model
    from m2h_slam.perception.model.weights import save_checkpoint

    torch.manual_seed(3)
    return save_checkpoint(create_model("m2h_tiny").eval(), tmp_path_factory.mktemp("weights") / "tiny.safetensors")


def _predict(source: Path, out: Path, weights: Path, *flags: str):
    return run_cli("predict", source, "--out", out, "--weights", weights, "--runtime", "torch",
                   "--input-size", "56x42", "--threads", "1", "-q", *flags)


def _written(out: Path) -> list[str]:
    return sorted(p.name.removesuffix("_preview.png") for p in out.glob("*_preview.png"))


def test_predict_writes_one_prediction_per_frame_read(tmp_path, videos, weights):
    out = tmp_path / "out"
    result = _predict(videos["clip"], out, weights, "--stride", "7", "--max-frames", "4")
    assert result.returncode == 0, result.stderr
    assert _written(out) == ["frame_000000", "frame_000007", "frame_000014", "frame_000021"]
    assert len(list(out.glob("*_depth.png"))) == 4
    assert cv2.imread(str(out / "frame_000014_depth.png"), cv2.IMREAD_UNCHANGED).shape == (72, 96)  # video's size


def test_predict_on_a_damaged_video_names_frames_by_their_index(tmp_path, videos, weights):
    indices = readable(videos["damaged"])
    assert 5 < len(indices) < FRAMES // 2 and indices[-1] == FRAMES - 1  # most frames lost, read to the end
    out = tmp_path / "out"
    result = _predict(videos["damaged"], out, weights, "--max-frames", "5")
    assert result.returncode == 0, result.stderr
    assert _written(out) == [f"frame_{i:06d}" for i in indices[:5]]  # five frames read, past the damage
    assert indices[4] > 5


def test_predict_with_nothing_readable_is_a_one_line_error(tmp_path, weights):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = _predict(empty, tmp_path / "out", weights)
    assert result.returncode == 2 and result.stderr.strip() == f"m2h-slam: error: {empty}: folder holds no images"
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("a.png", "b.jpg"):
        (broken / name).write_bytes(b"not an image")
    result = _predict(broken, tmp_path / "out2", weights)
    assert result.returncode == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]  # after one warning per skipped image
    assert last == f"m2h-slam: error: {broken}: no readable images (2 skipped); nothing was predicted"
    assert not list((tmp_path / "out2").glob("*.png"))


def test_max_frames_counts_frames_read_on_a_damaged_video(videos):
    indices = readable(videos["damaged"])
    sequence = open_sequence(videos["damaged"], ReadOptions(max_frames=8, fov_deg=60))
    assert len(sequence) == 8  # an upper bound the reader reaches here
    frames = list(sequence)
    assert [f.index for f in frames] == indices[:8]  # not only those of indices 0..7 (the old count)
    assert sum(i < 8 for i in indices) < 8 and sequence.frames_corrupt > 0
    # Resuming after 3 frames continues with the 4th frame read, not at source index 3.
    assert [f.index for f in sequence.frames_from(3)] == indices[3:8]
    # With a stride the limit counts frames delivered after it.
    strided = [f.index for f in open_sequence(videos["damaged"], ReadOptions(stride=2, max_frames=4, fov_deg=60))]
    assert strided == [i for i in indices if i % 2 == 0][:4]


def test_len_is_an_upper_bound_when_frames_are_skipped(videos):
    sequence = open_sequence(videos["damaged"], ReadOptions(fov_deg=60))
    assert len(sequence) == FRAMES > len(list(sequence))  # the container's count; fewer frames came


def test_info_check_fails_on_a_mostly_corrupt_video(videos):
    unreadable = FRAMES - len(readable(videos["damaged"]))
    result = run_cli("info", videos["damaged"], "--check", "--fov-deg", "60", "-q")
    assert result.returncode == 2
    line = f"{unreadable} of {FRAMES} frames unreadable ({unreadable / FRAMES:.1%}; --check fails above 10%)"
    error = f"m2h-slam: error: {videos['damaged']}: {line}; a run would map only the {FRAMES - unreadable} readable ones"
    assert result.stderr.strip().splitlines() == [error]
    assert "too damaged" in result.stdout and line in result.stdout


def test_info_check_warns_below_the_limit(videos):
    unreadable = FRAMES - len(readable(videos["scratched"]))
    assert 0 < unreadable <= FRAMES // 10
    result = run_cli("info", videos["scratched"], "--check", "--fov-deg", "60", "-q")
    assert result.returncode == 0, result.stderr
    assert f"{FRAMES - unreadable} frames read; ok" in result.stdout
    assert f"{unreadable} of {FRAMES} frames unreadable ({unreadable / FRAMES:.1%}; --check fails above 10%)" \
        in result.stdout
    clean = run_cli("info", videos["clip"], "--check", "--fov-deg", "60", "-q")
    assert clean.returncode == 0 and f"{FRAMES} frames read; ok" in clean.stdout and "unreadable" not in clean.stdout
