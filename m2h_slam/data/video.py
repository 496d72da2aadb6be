"""Video files through OpenCV: stride, frame limit, resize, container timestamps.

Corrupt frames are skipped and counted (one warning per video); a truncated file is
read up to the damage. Intrinsics are unknown unless given (``--fov-deg``,
``--intrinsics``), in which case a default field of view is assumed, loudly.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import cv2

from m2h_slam.core.config import InputConfig
from m2h_slam.core.errors import InputError
from m2h_slam.core.records import Frame
from m2h_slam.data.sequence import ReadOptions, Sequence

log = logging.getLogger("m2h_slam")

VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp")
MAX_CONSECUTIVE_FAILURES = 30  # failed decodes in a row taken as the end of readable data

os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # FFmpeg's own messages: quiet; we report damage ourselves


def _open(path) -> cv2.VideoCapture:
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    if not capture.isOpened():
        capture.release()
        raise InputError(path, "cannot open video (unsupported codec, or the file is damaged)")
    return capture


class VideoSequence(Sequence):
    format = "video"

    def __init__(self, path: str | os.PathLike, options: ReadOptions, config: InputConfig):
        super().__init__(path, options, config)
        capture = _open(self.path)
        try:
            self._frame_count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
            fps = capture.get(cv2.CAP_PROP_FPS)
            self.fps = float(fps) if fps and fps > 0 else None
            ok, first = capture.read()
        finally:
            capture.release()
        if not ok or first is None:
            raise InputError(self.path, "video has no readable frames")
        height, width = first.shape[:2]
        self._resolve_intrinsics(width, height)
        self.frames_read = 0
        self.frames_corrupt = 0

    @property
    def raw_length(self) -> int:
        """Frame count reported by the container (the readable count may be lower)."""
        return max(self._frame_count, 1)

    def raw_frames(self, indices: range) -> Iterator[Frame]:
        if not indices:
            return
        wanted = set(indices)
        last_wanted = indices[-1]
        K = self.native_intrinsics
        capture = _open(self.path)
        position, failures_in_row, corrupt, last_time = 0, 0, 0, None
        try:
            while position <= last_wanted:
                want = position in wanted
                ok = capture.grab()
                image = None
                if ok and want:
                    ok, image = capture.retrieve()
                if not ok:
                    corrupt += 1
                    failures_in_row += 1
                    if failures_in_row >= MAX_CONSECUTIVE_FAILURES:
                        corrupt -= failures_in_row
                        break
                    position += 1
                    continue
                failures_in_row = 0
                timestamp_s = capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
                if want:
                    if last_time is not None and timestamp_s <= last_time:
                        raise InputError(
                            self.path, f"timestamps do not increase: {last_time:.3f} s then {timestamp_s:.3f} s"
                        )
                    last_time = timestamp_s
                    self.frames_read += 1
                    yield Frame(position, timestamp_s, cv2.cvtColor(image, cv2.COLOR_BGR2RGB), K)
                position += 1
        finally:
            capture.release()
        self.frames_corrupt = corrupt
        self._report(position, last_wanted)

    def _report(self, position: int, last_wanted: int) -> None:
        """One warning for the whole read: corrupt frames skipped, data ending before the container's count."""
        truncated = position <= last_wanted and position < self._frame_count - 1
        if self.frames_corrupt or truncated:
            parts = []
            if self.frames_corrupt:
                parts.append(f"skipped {self.frames_corrupt} corrupt frame(s)")
            if truncated:
                parts.append(f"no readable data after frame {position} of {self._frame_count} (file truncated?)")
            log.warning("%s: %s", self.path, "; ".join(parts))
