"""Video files through OpenCV: stride, frame limit, resize, container timestamps.

Corrupt frames are skipped and counted (one warning per video); a truncated file is
read up to the damage. ``--max-frames`` counts frames read, so a damaged video is read
on past the damage until it has delivered that many (``len`` is then an upper bound).
A container without a frame count (live recorders' webm) is read to its end; the count
is learnt while reading (``length_known`` is False until then). Intrinsics are unknown
unless given (``--fov-deg``, ``--intrinsics``), in which case a default field of view
is assumed, loudly.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import cv2

from m2h_slam.core.config import InputConfig
from m2h_slam.core.errors import InputError
from m2h_slam.core.records import Frame
from m2h_slam.sources.sequence import UNKNOWN_LENGTH, ReadOptions, Sequence

log = logging.getLogger("m2h_slam")

VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp")
MAX_CONSECUTIVE_FAILURES = 64  # failed decodes in a row taken as the end of readable data

os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # FFmpeg's own messages: quiet; we report damage ourselves


def _open(path) -> cv2.VideoCapture:
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    if not capture.isOpened():
        capture.release()
        raise InputError(path, "cannot open video (unsupported codec, or the file is damaged)")
    return capture


class VideoSequence(Sequence):
    format = "video"
    skips_unreadable = True

    def __init__(self, path: str | os.PathLike, options: ReadOptions, config: InputConfig):
        super().__init__(path, options, config)
        capture = _open(self.path)
        try:
            count = capture.get(cv2.CAP_PROP_FRAME_COUNT)
            self._frame_count = int(count) if 0 < count < UNKNOWN_LENGTH else 0  # 0: not given
            fps = capture.get(cv2.CAP_PROP_FPS)
            self.fps = float(fps) if fps and fps > 0 else None
            ok, first = capture.read()
        finally:
            capture.release()
        if not ok or first is None:
            raise InputError(self.path, "video has no readable frames")
        height, width = first.shape[:2]
        self._resolve_intrinsics(width, height)
        self.frames_corrupt = 0  # frames lost to damage in the last read

    @property
    def raw_length(self) -> int:
        """Frame count reported by the container (the readable count may be lower); ``UNKNOWN_LENGTH`` if none."""
        return self._frame_count or UNKNOWN_LENGTH

    @property
    def length_known(self) -> bool:
        return self._frame_count > 0

    def raw_frames(self, indices: range) -> Iterator[Frame]:
        """Decode the video once, yielding the wanted frames.

        A frame's index comes from its container timestamp (index = (t - t0) * fps), so
        frames lost to corruption leave gaps instead of shifting later indices; frames whose
        timestamp does not advance (decoder output right after damage) are dropped. Failed
        decodes are retried; ``MAX_CONSECUTIVE_FAILURES`` in a row end the read.
        """
        if not indices:
            return
        K = self.native_intrinsics
        capture = _open(self.path)
        failures, first_time, last_time, last_index, skipped, finished = 0, None, None, -1, 0, False
        try:
            while last_index < indices[-1]:
                if not capture.grab():
                    failures += 1
                    if failures >= MAX_CONSECUTIVE_FAILURES:
                        break
                    continue
                failures = 0
                timestamp_s = capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
                if last_time is not None and timestamp_s <= last_time:
                    continue  # a stale or reordered frame from a damaged stretch: not new data
                first_time = timestamp_s if first_time is None else first_time
                index = last_index + 1
                if self.fps:
                    index = max(index, round((timestamp_s - first_time) * self.fps))
                skipped += index - last_index - 1
                last_index, last_time = index, timestamp_s
                if index in indices:
                    ok, image = capture.retrieve()
                    if not ok:
                        skipped += 1
                        continue
                    yield Frame(index, timestamp_s, cv2.cvtColor(image, cv2.COLOR_BGR2RGB), K)
            finished = True
        finally:  # also when the caller stops early (its frame limit reached): then no end of data is reported
            capture.release()
            self.frames_corrupt = skipped
            if finished and not self._frame_count and last_index < indices[-1]:  # read to the end: count known
                self._frame_count = last_index + 1
            self._report(last_index, indices[-1] if finished else last_index)

    def _report(self, last_index: int, last_wanted: int) -> None:
        """One warning for the whole read: corrupt frames skipped, data ending before the container's count."""
        parts = []
        if self.frames_corrupt:
            parts.append(f"skipped {self.frames_corrupt} corrupt frame(s)")
        if last_index < min(last_wanted, self._frame_count - 2):
            parts.append(f"no readable data after frame {last_index} of {self._frame_count} (file truncated?)")
        if parts:
            log.warning("%s: %s", self.path, "; ".join(parts))
