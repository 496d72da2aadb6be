"""A plain folder of images, in natural name order (frame2 before frame10).

Timestamps are index / ``input.image_fps``. Intrinsics come from ``--intrinsics``,
``--fov-deg``, an ``intrinsics.yaml``/``intrinsics.json`` in the folder, or the
default field of view. Unreadable images are skipped and counted (one warning per read),
like corrupt video frames; an image of another size than the first is an error.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path

from m2h_slam.core.config import InputConfig
from m2h_slam.core.errors import InputError
from m2h_slam.core.records import Frame
from m2h_slam.formats import image_io
from m2h_slam.formats.intrinsics_io import load_intrinsics
from m2h_slam.sources.sequence import ReadOptions, Sequence
from m2h_slam.sources.sequence_folder import check_size

log = logging.getLogger("m2h_slam")

INTRINSICS_NAMES = ("intrinsics.yaml", "intrinsics.yml", "intrinsics.json")


def natural_key(path: Path) -> list:
    """Sort key that orders embedded numbers by value."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def list_images(folder: Path) -> list[Path]:
    """Image files directly in ``folder``, in natural order."""
    return sorted(
        (p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in image_io.IMAGE_SUFFIXES), key=natural_key
    )


class ImageFolderSequence(Sequence):
    format = "image-folder"
    skips_unreadable = True

    def __init__(self, path: str | os.PathLike, options: ReadOptions, config: InputConfig):
        super().__init__(path, options, config)
        self.files = list_images(self.path)
        if not self.files:
            raise InputError(self.path, "folder holds no images")
        self.fps = config.image_fps
        self.frames_corrupt = 0  # unreadable images skipped in the last read
        first = sample = None
        for sample in self.files:
            try:
                first = image_io.read_rgb(sample)
                break
            except InputError:
                continue
        if first is None:
            raise InputError(self.path, f"none of the {len(self.files)} images can be read")
        height, width = first.shape[:2]
        own = None
        for name in INTRINSICS_NAMES:
            if (self.path / name).is_file():
                K = load_intrinsics(self.path / name)
                own = (K.rescaled(width, height), f"file {self.path / name}")
                break
        self._resolve_intrinsics(width, height, own, sample)

    @property
    def raw_length(self) -> int:
        return len(self.files)

    def frame_file(self, field: str, index: int) -> Path | None:
        return self.files[index] if field == "rgb" else None

    def raw_frames(self, indices: range) -> Iterator[Frame]:
        K = self.native_intrinsics
        skipped, first_problem = 0, ""
        try:
            for i in indices:
                try:
                    rgb = image_io.read_rgb(self.files[i])
                except InputError as error:
                    skipped, first_problem = skipped + 1, first_problem or str(error)
                    continue
                check_size(self.files[i], "image", rgb, K.width, K.height)
                yield Frame(i, i / self.fps, rgb, K)
        finally:  # also when the caller stops early (its frame limit reached)
            self.frames_corrupt = skipped
            if skipped:
                log.warning("%s: skipped %d unreadable image(s), the first: %s", self.path, skipped, first_problem)
