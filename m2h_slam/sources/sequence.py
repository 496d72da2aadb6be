"""The common interface of all sequence readers.

A ``Sequence`` yields ``Frame`` records in time order. Stride, a frame limit and a
resize apply to every reader the same way (``ReadOptions``): every ``stride``-th source
index is tried, and ``max_frames`` counts the frames actually read (a damaged video
yields that many if it holds them); intrinsics come from,
in order: ``--intrinsics FILE`` or ``--fov-deg`` (not both; a warning where they replace
the source's own), the source itself, or the default field of view (with a loud warning).
Every frame passes ``validate.FrameCheck`` on its way out, so every command that reads
frames (``run``, ``info --check``, ``eval``) accepts and refuses the same ones.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from m2h_slam.core.config import InputConfig
from m2h_slam.core.errors import InputError
from m2h_slam.core.intrinsics import Intrinsics
from m2h_slam.core.records import IMAGE_FIELDS, Frame
from m2h_slam.formats.intrinsics_io import load_intrinsics
from m2h_slam.sources.validate import FrameCheck, check_working_size, timestamp_problem

log = logging.getLogger("m2h_slam")

UNKNOWN_LENGTH = 2**31  # raw_length of a source that does not say how many frames it has


@dataclass(frozen=True)
class ReadOptions:
    """Per-call reading choices (the CLI flags). ``resize`` is (width, height) in pixels."""

    stride: int = 1
    max_frames: int | None = None
    resize: tuple[int, int] | None = None
    fov_deg: float | None = None
    intrinsics_path: str | None = None
    camera: str | None = None  # which camera trajectory of a multi-camera scene (Hypersim "cam_00")

    def __post_init__(self) -> None:
        if self.stride < 1:
            raise ValueError(f"stride must be at least 1, got {self.stride}")
        if self.max_frames is not None and self.max_frames < 1:
            raise ValueError(f"max_frames must be at least 1, got {self.max_frames}")
        if self.resize is not None and min(self.resize) < 1:
            raise ValueError(f"resize must be positive, got {self.resize}")
        if self.fov_deg is not None and not 0 < self.fov_deg < 180:
            raise ValueError(f"field of view must be in (0, 180) degrees, got {self.fov_deg}")


@dataclass(frozen=True)
class SequenceInfo:
    """What ``m2h-slam info`` prints. ``num_frames`` counts frames after stride and limit (``len`` of the sequence)."""

    path: str
    format: str
    num_frames: int
    width: int
    height: int
    fps: float | None
    intrinsics: Intrinsics
    intrinsics_source: str
    ground_truth: tuple[str, ...]
    cameras: tuple[str, ...] = ()  # the camera trajectories of a multi-camera scene; the first is read unless
    camera: str | None = None  # --camera picks another


class Sequence(ABC):
    """Frames of one source in time order. Subclasses set ``format`` and implement the raw access."""

    format: str = "?"
    synthetic: bool = False  # rendered by ``m2h-slam synth`` (what the demo weights were trained on)

    def __init__(self, path: str | os.PathLike, options: ReadOptions, config: InputConfig):
        self.path = Path(path)
        self.options = options
        self.config = config
        self.native_intrinsics: Intrinsics
        self.intrinsics_source: str
        self.fps: float | None = None
        self.frame_check = FrameCheck(self.path, self.frame_file)  # applied to every frame read

    # -- what subclasses provide -------------------------------------------------
    @property
    @abstractmethod
    def raw_length(self) -> int:
        """Number of frames in the source before stride and limit (may be an estimate for videos)."""

    @abstractmethod
    def raw_frames(self, indices: range) -> Iterator[Frame]:
        """Frames at the given source indices, at native resolution, in order (unreadable ones may be skipped)."""

    #: True for readers that skip frames they cannot read (videos, image folders): ``len`` is then an upper bound
    skips_unreadable: bool = False
    #: False while nothing needs the ground-truth images (a run on the network's perception): every reader then reads
    #: only the RGB and the poses (depth, classes, instances, normals, edges and rooms are None)
    ground_truth_images: bool = True

    @contextlib.contextmanager
    def without_ground_truth_images(self):
        """Frames read inside carry no ground-truth images where the reader can skip them (poses stay)."""
        before, self.ground_truth_images = self.ground_truth_images, False
        try:
            yield self
        finally:
            self.ground_truth_images = before

    @property
    def length_known(self) -> bool:
        """False for sources that do not say how many frames they hold (``len`` is then a bound)."""
        return True

    @property
    def ground_truth(self) -> tuple[str, ...]:
        """Names of the ground-truth fields the frames carry."""
        return ()

    @property
    def cameras(self) -> tuple[str, ...]:
        """The camera trajectories of a multi-camera source (Hypersim), empty for one-camera sources."""
        return ()

    @property
    def reference_mesh(self) -> Path | None:
        """A ground-truth surface mesh of the scene (world frame, metres) that Open3D reads, if the source has one."""
        return None

    def frame_file(self, field: str, index: int) -> Path | None:
        """The file the ``field`` ("rgb", a ground-truth field) of source frame ``index`` is read from, for
        messages; None where the source does not have one file per frame and field."""
        return None

    # -- common behaviour --------------------------------------------------------
    def _resolve_intrinsics(self, width: int, height: int, own: tuple[Intrinsics, str] | None = None,
                            sample: Path | None = None) -> None:
        """Set ``native_intrinsics`` and ``intrinsics_source`` for frames of ``width`` x ``height`` (``sample``: a
        file of that size, named in messages instead of the source); ``InputError`` when the frames would be too
        small to map at the working size."""
        opts = self.options
        if opts.intrinsics_path is not None:
            K = load_intrinsics(opts.intrinsics_path)
            if (K.width, K.height) != (width, height):
                if abs(K.width / K.height - width / height) > 0.01:
                    raise InputError(
                        opts.intrinsics_path,
                        f"intrinsics are for {K.width}x{K.height} but the frames are {width}x{height}",
                    )
                log.warning("%s: intrinsics are for %dx%d but the frames are %dx%d: RESCALED to the frames "
                            "(fx %.1f -> %.1f px); check that the file belongs to this camera and size",
                            opts.intrinsics_path, K.width, K.height, width, height, K.fx, K.fx * width / K.width)
                K = K.rescaled(width, height)
            self.native_intrinsics, self.intrinsics_source = K, f"file {opts.intrinsics_path}"
            self._note_replaced(own, f"--intrinsics {opts.intrinsics_path}")
        elif opts.fov_deg is not None:
            self.native_intrinsics = Intrinsics.from_fov(width, height, opts.fov_deg)
            self.intrinsics_source = f"--fov-deg {opts.fov_deg:g}"
            self._note_replaced(own, f"--fov-deg {opts.fov_deg:g}")
        elif own is not None:
            self.native_intrinsics, self.intrinsics_source = own
        else:
            fov = self.config.default_fov_deg
            self.native_intrinsics = Intrinsics.from_fov(width, height, fov)
            self.intrinsics_source = f"ESTIMATED from a default {fov:g} deg horizontal field of view"
            log.warning(
                "%s: no camera intrinsics; ASSUMING a %g deg horizontal field of view (fx=%.1f px). "
                "Depth and poses are only as metric as this guess: pass --fov-deg or --intrinsics FILE.",
                self.path,
                fov,
                self.native_intrinsics.fx,
            )
        why = "--resize" if opts.resize is not None else f"input.max_image_side_px: {self.config.max_image_side_px}"
        check_working_size(sample or self.path, (width, height), self.size, why)
        if self.options.resize is None and self.size != (width, height):
            log.warning("%s: frames of %dx%d are larger than the working size (input.max_image_side_px: %d); "
                        "downscaled to %dx%d for perception and mapping (pass --resize to choose)",
                        self.path, width, height, self.config.max_image_side_px, *self.size)

    def _note_replaced(self, own: tuple[Intrinsics, str] | None, given: str) -> None:
        """Warn when the intrinsics ``given`` on the command line replace different ones of the source itself."""
        if own is None:
            return
        K, mine = self.native_intrinsics, own[0].rescaled(*self.native_intrinsics.size)
        if abs(K.fx - mine.fx) <= 0.01 * mine.fx and abs(K.fy - mine.fy) <= 0.01 * mine.fy:
            return
        log.warning("%s: %s REPLACES the source's own intrinsics (%s: fx=%.1f px, hfov %.1f deg) with fx=%.1f px, "
                    "hfov %.1f deg; leave it out to use the source's", self.path, given, own[1], mine.fx,
                    mine.hfov_deg, K.fx, K.hfov_deg)

    @property
    def size(self) -> tuple[int, int]:
        """(W, H) of the frames this sequence yields: ``--resize``, else native capped at ``max_image_side_px``."""
        if self.options.resize is not None:
            return self.options.resize
        width, height = self.native_intrinsics.size
        scale = self.config.max_image_side_px / max(width, height)
        if scale >= 1:
            return width, height
        return max(1, round(width * scale)), max(1, round(height * scale))

    @property
    def intrinsics(self) -> Intrinsics:
        """Intrinsics of the frames this sequence yields (after resize)."""
        if self.size == self.native_intrinsics.size:
            return self.native_intrinsics
        return self.native_intrinsics.rescaled(*self.size)

    @property
    def selected(self) -> range:
        """Source indices this sequence tries, every ``stride``-th (``max_frames`` caps the frames read, not these)."""
        return range(0, self.raw_length, self.options.stride)

    def __len__(self) -> int:
        """Frames this sequence yields: the selected indices, at most ``max_frames``. Exact for sources whose frames
        all read; an upper bound where unreadable frames are skipped (``skips_unreadable``)."""
        count = len(self.selected)
        return count if self.options.max_frames is None else min(count, self.options.max_frames)

    def __iter__(self) -> Iterator[Frame]:
        return self._delivered(self.selected, self.options.max_frames)

    def frames_from(self, position: int) -> Iterator[Frame]:
        """The frames after the first ``position`` ones (for resuming). Readers that never skip a frame start at the
        index without reading the frames before it; the others read them again to know where ``position`` is."""
        if self.skips_unreadable:
            frames = iter(self)
            try:
                next(itertools.islice(frames, position, position), None)  # read past the first ``position`` frames
                yield from frames
            finally:
                frames.close()
            return
        limit = self.options.max_frames
        yield from self._delivered(self.selected[position:], None if limit is None else limit - position)

    def _delivered(self, indices: range, limit: int | None) -> Iterator[Frame]:
        """The frames read at ``indices``, resized, stopping after ``limit`` of them (the reader is closed then)."""
        if limit is not None and limit <= 0:
            return
        frames = self.raw_frames(indices)
        try:
            for count, frame in enumerate(frames, start=1):
                yield self._resized(self.frame_check(frame))
                if limit is not None and count >= limit:
                    break
        finally:
            close = getattr(frames, "close", None)
            if close is not None:
                close()

    def _resized(self, frame: Frame) -> Frame:
        if frame.intrinsics.size == self.size:
            return frame
        return resize_frame(frame, *self.size)

    def info(self) -> SequenceInfo:
        K = self.intrinsics
        return SequenceInfo(
            str(self.path), self.format, len(self), K.width, K.height, self.fps, K, self.intrinsics_source,
            self.ground_truth, self.cameras, getattr(self, "camera", None),
        )


def resize_frame(frame: Frame, width: int, height: int) -> Frame:
    """The frame resized to ``width`` x ``height``: RGB by area/linear, ground truth by nearest neighbour."""
    shrink = width < frame.intrinsics.width
    rgb = cv2.resize(frame.rgb, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    h, w = frame.rgb.shape[:2]
    rows = np.minimum(((np.arange(height) + 0.5) * h / height).astype(np.int64), h - 1)
    cols = np.minimum(((np.arange(width) + 0.5) * w / width).astype(np.int64), w - 1)

    def nearest(array: np.ndarray | None) -> np.ndarray | None:
        return None if array is None else np.ascontiguousarray(array[rows][:, cols])

    resized = {field: nearest(getattr(frame, field)) for field in IMAGE_FIELDS}
    return frame.replace(rgb=rgb, intrinsics=frame.intrinsics.rescaled(width, height), **resized)


def check_increasing(timestamps_s, source: str | os.PathLike) -> None:
    """``InputError`` naming ``source`` unless timestamps increase strictly (and are usable times)."""
    for i, stamp in enumerate(timestamps_s):
        problem = timestamp_problem(stamp)
        if problem:
            raise InputError(source, f"entry {i}: {problem}")
    for i in range(1, len(timestamps_s)):
        if not timestamps_s[i] > timestamps_s[i - 1]:
            raise InputError(
                source,
                f"timestamps do not increase: {timestamps_s[i - 1]:.6f} then {timestamps_s[i]:.6f} at entry {i}",
            )

