"""TUM RGB-D benchmark sequences (``rgb.txt``, ``depth.txt``, ``groundtruth.txt``).

RGB and depth are associated one-to-one by nearest timestamp within
``input.tum_max_time_diff_s``; poses take the nearest ground-truth line within the
same window. Depth PNGs hold 5000 units per metre. Intrinsics: the published
calibration of freiburg1/2/3 when the folder name says which, otherwise a
``calibration.yaml`` / ``--intrinsics`` file, otherwise the TUM default (525 px).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from m2h_slam.core.atomic import atomic_write_text
from m2h_slam.core.config import InputConfig
from m2h_slam.core.errors import InputError, read_text
from m2h_slam.core.intrinsics import Intrinsics
from m2h_slam.core.records import Frame
from m2h_slam.formats import image_io
from m2h_slam.formats.intrinsics_io import load_intrinsics
from m2h_slam.formats.trajectory_io import read_tum_trajectory, write_tum_trajectory
from m2h_slam.sources.sequence import ReadOptions, Sequence, check_increasing
from m2h_slam.sources.sequence_folder import check_size

log = logging.getLogger("m2h_slam")

DEPTH_UNITS_PER_M = 5000.0
#: Published TUM RGB-D calibrations (640x480): fx, fy, cx, cy.
KNOWN_INTRINSICS = {
    "freiburg1": (517.3, 516.5, 318.6, 255.3),
    "freiburg2": (520.9, 521.0, 325.1, 249.7),
    "freiburg3": (535.4, 539.2, 320.1, 247.6),
}
DEFAULT_INTRINSICS = (525.0, 525.0, 319.5, 239.5)


def read_file_list(path: Path) -> list[tuple[float, str]]:
    """(timestamp_s, relative file) pairs of a TUM ``rgb.txt`` / ``depth.txt``; checked strictly increasing."""
    if not path.is_file():
        raise InputError(path, "file list not found")
    entries = []
    for number, line in enumerate(read_text(path, "file list").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        try:
            entries.append((float(parts[0]), parts[1]))
        except (ValueError, IndexError):
            raise InputError(path, f"line {number}: expected 'timestamp filename'") from None
    if not entries:
        raise InputError(path, "lists no files")
    check_increasing([t for t, _ in entries], path)
    return entries


def associate(first: np.ndarray, second: np.ndarray, max_diff_s: float) -> list[tuple[int, int]]:
    """One-to-one pairs (i, j) of sorted timestamps closer than ``max_diff_s``, closest first, sorted by i."""
    lo = np.searchsorted(second, first - max_diff_s, side="right")
    hi = np.searchsorted(second, first + max_diff_s, side="left")
    candidates = [(abs(first[i] - second[j]), i, j) for i in range(len(first)) for j in range(lo[i], hi[i])]
    used_i, used_j, pairs = set(), set(), []
    for _, i, j in sorted(candidates):
        if i not in used_i and j not in used_j:
            used_i.add(i)
            used_j.add(j)
            pairs.append((int(i), int(j)))
    return sorted(pairs)


def known_intrinsics(path: Path) -> tuple[Intrinsics, str] | None:
    """Published calibration when the folder name names the sensor (freiburg1 / fr1 ...)."""
    match = re.search(r"(?:freiburg|fr)([123])(?!\d)", path.resolve().name)
    if match is None:
        return None
    key = f"freiburg{match.group(1)}"
    return Intrinsics(*KNOWN_INTRINSICS[key], 640, 480), f"TUM {key} calibration"


class TumSequence(Sequence):
    format = "tum-rgbd"

    def __init__(self, path: str | os.PathLike, options: ReadOptions, config: InputConfig):
        super().__init__(path, options, config)
        rgb = read_file_list(self.path / "rgb.txt")
        depth_path = self.path / "depth.txt"
        rgb_stamps = np.array([t for t, _ in rgb])
        if depth_path.is_file():
            depth = read_file_list(depth_path)
            pairs = associate(rgb_stamps, np.array([t for t, _ in depth]), config.tum_max_time_diff_s)
            if not pairs:
                raise InputError(depth_path, "no depth image within the association window of any rgb image")
            self.entries = [(rgb[i][0], rgb[i][1], depth[j][1]) for i, j in pairs]
        else:
            self.entries = [(t, name, None) for t, name in rgb]
        self.fps = (len(self.entries) - 1) / (self.entries[-1][0] - self.entries[0][0]) if len(self.entries) > 1 else None
        self.poses: list[np.ndarray | None] | None = None
        gt_path = self.path / "groundtruth.txt"
        if gt_path.is_file():
            gt_stamps, gt_poses = read_tum_trajectory(gt_path)
            stamps = np.array([e[0] for e in self.entries])
            self.poses = [None] * len(self.entries)
            for i, j in associate(stamps, gt_stamps, config.tum_max_time_diff_s):
                self.poses[i] = gt_poses[j]
        first = image_io.read_rgb(self.path / self.entries[0][1])
        height, width = first.shape[:2]
        own = known_intrinsics(self.path)
        calibration = self.path / "calibration.yaml"
        if own is None and calibration.is_file():
            own = (load_intrinsics(calibration), f"file {calibration}")
        if own is None:
            own = (Intrinsics(*DEFAULT_INTRINSICS, 640, 480), "TUM default (525 px; folder name gives no sensor)")
            log.warning("%s: sensor unknown from the folder name; using the TUM default intrinsics", self.path)
        if own[0].size != (width, height):
            own = (own[0].rescaled(width, height), own[1] + f", rescaled to {width}x{height}")
        self._resolve_intrinsics(width, height, own)

    @property
    def raw_length(self) -> int:
        return len(self.entries)

    @property
    def ground_truth(self) -> tuple[str, ...]:
        names = []
        if self.entries[0][2] is not None:
            names.append("depth_m")
        if self.poses is not None:
            names.append("world_T_camera")
        return tuple(names)

    def raw_frames(self, indices: range) -> Iterator[Frame]:
        K = self.native_intrinsics
        for i in indices:
            stamp, rgb_name, depth_name = self.entries[i]
            rgb = image_io.read_rgb(self.path / rgb_name)
            check_size(self.path / rgb_name, "image", rgb, K.width, K.height)
            extra = {}
            if depth_name is not None and self.ground_truth_images:
                extra["depth_m"] = image_io.read_depth(self.path / depth_name, DEPTH_UNITS_PER_M)
                check_size(self.path / depth_name, "depth", extra["depth_m"], K.width, K.height)
            if self.poses is not None and self.poses[i] is not None:
                extra["world_T_camera"] = self.poses[i]
            yield Frame(i, stamp, rgb, K, **extra)


def write_tum_sequence(path: str | os.PathLike, frames: list[Frame]) -> Path:
    """Write frames as a TUM RGB-D folder (rgb/, depth/ at 5000 units/m, groundtruth.txt)."""
    path = Path(path)
    rgb_lines, depth_lines, stamps, poses = ["# timestamp filename"], ["# timestamp filename"], [], []
    for frame in frames:
        name = f"{frame.timestamp_s:.6f}.png"
        image_io.write_rgb(path / "rgb" / name, frame.rgb)
        rgb_lines.append(f"{frame.timestamp_s:.6f} rgb/{name}")
        if frame.depth_m is not None:
            image_io.write_depth(path / "depth" / name, frame.depth_m, DEPTH_UNITS_PER_M)
            depth_lines.append(f"{frame.timestamp_s:.6f} depth/{name}")
        if frame.world_T_camera is not None:
            stamps.append(frame.timestamp_s)
            poses.append(frame.world_T_camera)
    atomic_write_text(path / "rgb.txt", "\n".join(rgb_lines) + "\n")
    if len(depth_lines) > 1:
        atomic_write_text(path / "depth.txt", "\n".join(depth_lines) + "\n")
    if poses:
        write_tum_trajectory(path / "groundtruth.txt", np.array(stamps), np.array(poses))
    return path
