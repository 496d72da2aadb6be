"""The checks every source's frames pass on their way out of the reader (``Sequence`` applies them), so that
``run``, ``info --check``, ``eval`` and ``train`` accept and refuse the same inputs.

- Size: frames under ``MIN_SIDE_PX`` on a side, or with sides more than ``MAX_SIDE_RATIO`` times apart, at the
  working size are refused when the source is opened (``check_working_size``); the odometry's own downscaling
  would leave no row of them.
- Timestamps: beyond ``MAX_TIMESTAMP_S`` (or not finite) are refused.
- Poses: a ground-truth ``world_T_camera`` that is no rigid pose (``core.geometry.pose_problem``) is refused,
  naming the file and the frame.
- Semantics: ids outside NYU40 (above 40; 255 is the common "void") are read as 0 (unknown), with one warning per
  sequence naming the first file that holds them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from m2h_slam.core.errors import InputError
from m2h_slam.core.geometry import pose_problem
from m2h_slam.core.labels import NUM_CLASSES, UNKNOWN
from m2h_slam.core.records import Frame

log = logging.getLogger("m2h_slam")

#: Smallest frame side (px) perception and mapping work on.
MIN_SIDE_PX = 8
#: Largest ratio of the longer to the shorter frame side: the odometry shrinks the width to its
#: ``max_width_px`` (16 px or more), which keeps a row or more of any frame within it.
MAX_SIDE_RATIO = 16

#: Largest timestamp magnitude (s): what int64 nanoseconds hold (the scene graph's spark_dsg export), year 2255.
MAX_TIMESTAMP_S = 9e9


def timestamp_problem(timestamp_s: float) -> str | None:
    """Why ``timestamp_s`` is no usable time, in words; None for a good one."""
    if abs(timestamp_s) <= MAX_TIMESTAMP_S:  # False for NaN too
        return None
    return f"timestamp {timestamp_s} s is not a finite time within +-{MAX_TIMESTAMP_S:g} s"


def check_working_size(source: str | os.PathLike, native: tuple[int, int], working: tuple[int, int],
                       why: str) -> None:
    """``InputError`` naming ``source`` when frames of ``native`` (W, H) px become ``working`` (W, H) px with a
    side below ``MIN_SIDE_PX`` or sides further apart than ``MAX_SIDE_RATIO`` (``why``: what sets the working
    size, e.g. "input.max_image_side_px: 1280")."""
    short, long = min(working), max(working)
    if short >= MIN_SIDE_PX and long <= MAX_SIDE_RATIO * short:
        return
    shrunk = "" if tuple(working) == tuple(native) else f" ({working[0]}x{working[1]} px at the working size, {why})"
    raise InputError(source, f"frames of {native[0]}x{native[1]} px{shrunk} cannot be mapped: perception and "
                             f"mapping need {MIN_SIDE_PX} px or more on each side and sides at most "
                             f"{MAX_SIDE_RATIO} times apart (--resize WxH sets the working size)")


class FrameCheck:
    """Checks (and where it can, mends) the frames of one sequence; holds the once-per-sequence warnings.

    ``file_of(field, index)``: the file a frame's field was read from (e.g. ``semantics/000003.png``), or None
    where the source does not say; the sequence's ``path`` is named then."""

    def __init__(self, path: Path, file_of: Callable[[str, int], Path | None]):
        self.path, self.file_of = path, file_of
        self.warned_labels = False

    def __call__(self, frame: Frame) -> Frame:
        """``frame``, with semantics outside NYU40 set to 0; ``InputError`` for what cannot be mended."""
        problem = timestamp_problem(frame.timestamp_s)
        if problem:
            raise InputError(self._where("rgb", frame.index), f"frame {frame.index}: {problem}")
        if frame.world_T_camera is not None:
            problem = pose_problem(frame.world_T_camera)
            if problem:
                raise InputError(self._where("world_T_camera", frame.index),
                                 f"ground-truth pose of frame {frame.index}: {problem}")
        if frame.semantics is not None:
            outside = frame.semantics >= NUM_CLASSES
            if outside.any():
                self._warn_labels(frame, outside)
                frame = frame.replace(semantics=np.where(outside, np.uint8(UNKNOWN), frame.semantics))
        return frame

    def _warn_labels(self, frame: Frame, outside: np.ndarray) -> None:
        if self.warned_labels:
            return
        self.warned_labels = True
        log.warning("%s: semantic ids above 40 (outside NYU40) in %d px of frame %d are read as 0 (unknown); "
                    "later frames are not reported", self._where("semantics", frame.index), int(outside.sum()),
                    frame.index)

    def _where(self, field: str, index: int) -> Path:
        return self.file_of(field, index) or self.path
