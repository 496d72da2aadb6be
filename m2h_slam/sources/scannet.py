"""ScanNet scenes as the SensReader export writes them (one scene folder).

    SCENE/color/N.jpg                      1296x968 colour
    SCENE/depth/N.png                      640x480 uint16 millimetres, 0 = invalid
    SCENE/pose/N.txt                       4 rows of 4 numbers: camera-to-world, OpenCV axes, metres
    SCENE/intrinsic/intrinsic_depth.txt    4x4 (camera matrix in the top-left 3x3); also intrinsic_color.txt
    SCENE/label-filt/N.png                 optional uint16 raw ScanNet label ids (the 2d-label-filt zip)
    SCENE/SCENE_vh_clean_2.ply             optional reconstructed mesh (world frame, metres)

N numbers the frames 0, 1, ... (read in numeric order: 10 after 9; a ``frame_skip`` export leaves gaps).
The NICE-SLAM layout ``SCENE/frames/{color,depth,pose,intrinsic}`` is read too.

This reader is the one place where ScanNet's conventions are converted:

- Resolution: frames are read at the depth resolution, as NICE-SLAM and BundleFusion do: colour is
  resized (area) to the depth size and taken as registered to it, labels are resized (nearest), and the
  intrinsics are ``intrinsic_depth.txt``. Without ``depth/`` the frames are the colour images at their own
  size with ``intrinsic_color.txt``. The matrix files do not say which image size they are for: a matrix
  whose principal point lies near the centre of the images is taken for them, otherwise for ScanNet's
  sensor size (640x480 depth, 1296x968 colour) and rescaled.
- Depth: millimetres -> metres; 0 stays invalid.
- Poses: already OpenCV camera-to-world in metres, used as they are. Frames whose pose holds -inf / NaN
  (lost tracking) are kept with ``world_T_camera = None``: the image stream stays continuous for a
  monocular run, and trajectory scoring skips frames without a true pose.
- Semantics: raw ScanNet ids -> NYU40 through the ``id`` and ``nyu40id`` columns of
  ``scannetv2-labels.combined.tsv`` (looked for in the scene folder, its parent and grandparent); ids the
  table lacks -> 0 (unknown). Without the table, or when ``label-filt/`` misses frames, no semantics.
- Timestamps: N / 30 s (ScanNet records at 30 Hz).
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from m2h_slam.core.config import InputConfig
from m2h_slam.core.errors import InputError
from m2h_slam.core.intrinsics import Intrinsics
from m2h_slam.core.records import Frame
from m2h_slam.formats import image_io
from m2h_slam.sources.sequence import ReadOptions, Sequence
from m2h_slam.sources.sequence_folder import check_size

log = logging.getLogger("m2h_slam")

FRAME_RATE_HZ = 30.0
DEPTH_UNITS_PER_M = 1000.0
SENSOR_DEPTH_SIZE = (640, 480)  # (W, H) the matrix files refer to unless they fit the images themselves
SENSOR_COLOR_SIZE = (1296, 968)
LABEL_TABLE = "scannetv2-labels.combined.tsv"


def frames_root(path: Path) -> Path:
    """The folder holding ``color/``: the scene folder itself or its NICE-SLAM style ``frames/`` subfolder."""
    return path / "frames" if (path / "frames" / "color").is_dir() else path


def is_scannet(path: Path) -> bool:
    """A ScanNet export: ``color/`` beside ``intrinsic/`` or ``pose/`` (directly or under ``frames/``)."""
    root = frames_root(path)
    return (root / "color").is_dir() and ((root / "intrinsic").is_dir() or (root / "pose").is_dir())


def numbered_files(folder: Path, suffix: str) -> dict[int, Path]:
    """{N: path} of the files ``N<suffix>`` in ``folder`` (N a plain number); empty if there is no folder."""
    if not folder.is_dir():
        return {}
    return {int(p.stem): p for p in folder.iterdir() if p.suffix.lower() == suffix and p.stem.isdigit()}


def read_matrix(path: Path) -> np.ndarray:
    """(4, 4) float64 from a text file of 4 rows of 4 numbers (a 3x3 matrix is padded); may hold -inf / NaN."""
    if not path.is_file():
        raise InputError(path, "missing")
    try:
        values = np.array(path.read_text(encoding="utf-8").split(), dtype=np.float64)
    except (ValueError, UnicodeDecodeError):
        raise InputError(path, "is not a matrix of numbers") from None
    if values.size == 9:
        matrix = np.eye(4)
        matrix[:3, :3] = values.reshape(3, 3)
        return matrix
    if values.size != 16:
        raise InputError(path, f"holds {values.size} numbers; expected a 4x4 matrix (16 numbers)")
    return values.reshape(4, 4)


def read_pose(path: Path) -> np.ndarray | None:
    """``world_T_camera`` of one ``pose/N.txt``; None where ScanNet wrote -inf / NaN (tracking lost)."""
    pose = read_matrix(path)
    if not np.isfinite(pose).all():
        return None
    if not np.allclose(pose[3], [0.0, 0.0, 0.0, 1.0], atol=1e-6):
        raise InputError(path, f"last row is {pose[3].tolist()}, not 0 0 0 1: not a camera pose")
    return pose


def fit_intrinsics(matrix: np.ndarray, width: int, height: int, sensor_size: tuple[int, int],
                   path: Path) -> tuple[Intrinsics, str]:
    """Intrinsics for ``width`` x ``height`` images from a ScanNet matrix file (see the module docstring)."""
    fx, fy, cx, cy = matrix[0, 0], matrix[1, 1], matrix[0, 2], matrix[1, 2]

    def centred(w: int, h: int) -> bool:
        return abs(cx - (w - 1) / 2) < 0.1 * w and abs(cy - (h - 1) / 2) < 0.1 * h

    try:
        if centred(width, height):
            return Intrinsics(fx, fy, cx, cy, width, height), f"ScanNet {path.name}"
        sensor_w, sensor_h = sensor_size
        if centred(sensor_w, sensor_h) and abs(sensor_w / sensor_h - width / height) < 0.01:
            K = Intrinsics(fx, fy, cx, cy, sensor_w, sensor_h).rescaled(width, height)
            return K, f"ScanNet {path.name} ({sensor_w}x{sensor_h}), rescaled to {width}x{height}"
    except ValueError as error:
        raise InputError(path, f"not a camera matrix ({error})") from None
    raise InputError(path, f"principal point ({cx:.1f}, {cy:.1f}) fits neither the {width}x{height} images nor "
                           f"ScanNet's {sensor_size[0]}x{sensor_size[1]}")


def scene_mesh(scene: Path) -> Path | None:
    """``SCENE_vh_clean_2.ply`` of the scene folder (or its only ``*_vh_clean_2.ply``), if present."""
    own = scene / f"{scene.name}_vh_clean_2.ply"
    if own.is_file():
        return own
    meshes = sorted(scene.glob("*_vh_clean_2.ply"))
    return meshes[0] if len(meshes) == 1 else None


def find_label_table(scene: Path) -> Path | None:
    """``scannetv2-labels.combined.tsv`` in the scene folder, its parent or its grandparent."""
    for folder in (scene, scene.parent, scene.parent.parent):
        if (folder / LABEL_TABLE).is_file():
            return folder / LABEL_TABLE
    return None


def read_label_table(path: Path) -> np.ndarray:
    """(max_id + 1,) uint8 lookup: raw ScanNet label id -> NYU40 id, 0 for ids the table lacks."""
    pairs = []
    with path.open(newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file, delimiter="\t")
        if not reader.fieldnames or not {"id", "nyu40id"} <= set(reader.fieldnames):
            raise InputError(path, "has no 'id' and 'nyu40id' columns (tab-separated)")
        for line, row in enumerate(reader, start=2):
            try:
                raw, nyu40 = int(row["id"]), int(row["nyu40id"] or 0)
            except (TypeError, ValueError):
                raise InputError(path, f"line {line}: id and nyu40id must be integers") from None
            if raw < 0 or not 0 <= nyu40 <= 40:
                raise InputError(path, f"line {line}: id {raw} -> nyu40id {nyu40} is out of range")
            pairs.append((raw, nyu40))
    table = np.zeros(max((raw for raw, _ in pairs), default=0) + 1, np.uint8)
    for raw, nyu40 in pairs:
        table[raw] = nyu40
    return table


def nyu40_from_raw(raw_ids: np.ndarray, table: np.ndarray) -> np.ndarray:
    """(H, W) uint8 NYU40 ids from raw ScanNet label ids; ids beyond the table -> 0."""
    raw_ids = raw_ids.astype(np.int64)
    inside = raw_ids < len(table)
    return np.where(inside, table[np.where(inside, raw_ids, 0)], 0).astype(np.uint8)


class ScannetSequence(Sequence):
    """One ScanNet scene (SensReader export). ``path``: the scene folder."""

    format = "scannet"

    def __init__(self, path: str | os.PathLike, options: ReadOptions, config: InputConfig):
        super().__init__(path, options, config)
        self.root = frames_root(self.path)
        self.colour = numbered_files(self.root / "color", ".jpg")
        if not self.colour:
            raise InputError(self.root / "color", "holds no N.jpg colour images")
        self.numbers = sorted(self.colour)
        self.depth = self._per_frame("depth", ".png") if (self.root / "depth").is_dir() else None
        self.poses = self._read_poses() if (self.root / "pose").is_dir() else None
        self.label_table, self.labels = self._find_labels()
        span = self.numbers[-1] - self.numbers[0]
        self.fps = FRAME_RATE_HZ * (len(self.numbers) - 1) / span if span else FRAME_RATE_HZ
        first_colour = image_io.read_rgb(self.colour[self.numbers[0]])
        if self.depth is not None:
            height, width = image_io.read_depth(self.depth[0], DEPTH_UNITS_PER_M).shape
            colour_h, colour_w = first_colour.shape[:2]
            if abs(colour_w / colour_h - width / height) > 0.01:
                raise InputError(self.colour[self.numbers[0]], f"colour is {colour_w}x{colour_h}, another aspect "
                                                               f"ratio than the {width}x{height} depth images")
            matrix_path, sensor_size = self.root / "intrinsic" / "intrinsic_depth.txt", SENSOR_DEPTH_SIZE
        else:
            height, width = first_colour.shape[:2]
            matrix_path, sensor_size = self.root / "intrinsic" / "intrinsic_color.txt", SENSOR_COLOR_SIZE
        overridden = options.intrinsics_path is not None or options.fov_deg is not None
        own = None
        if matrix_path.is_file() or not overridden:
            own = fit_intrinsics(read_matrix(matrix_path), width, height, sensor_size, matrix_path)
        self._resolve_intrinsics(width, height, own)

    def _per_frame(self, folder: str, suffix: str) -> list[Path]:
        """The ``folder/N<suffix>`` file of every colour frame; ``InputError`` naming the first one missing."""
        files = numbered_files(self.root / folder, suffix)
        for number in self.numbers:
            if number not in files:
                raise InputError(self.root / folder / f"{number}{suffix}", f"missing (color/{number}.jpg exists)")
        return [files[n] for n in self.numbers]

    def _read_poses(self) -> list[np.ndarray | None]:
        poses = [read_pose(path) for path in self._per_frame("pose", ".txt")]
        lost = sum(pose is None for pose in poses)
        if lost:
            log.info("%s: %d of %d poses are -inf/NaN (lost tracking); those frames have no true pose",
                     self.root / "pose", lost, len(poses))
        return poses

    def _find_labels(self) -> tuple[np.ndarray | None, list[Path] | None]:
        folder = self.root / "label-filt"
        if not folder.is_dir():
            return None, None
        table_path = find_label_table(self.path)
        if table_path is None:
            log.warning("%s: no %s in the scene folder or above; semantics not read", folder, LABEL_TABLE)
            return None, None
        files = numbered_files(folder, ".png")
        if any(n not in files for n in self.numbers):
            covered = sum(n in files for n in self.numbers)
            log.warning("%s: labels for %d of %d frames; semantics not read", folder, covered, len(self.numbers))
            return None, None
        return read_label_table(table_path), [files[n] for n in self.numbers]

    @property
    def raw_length(self) -> int:
        return len(self.numbers)

    @property
    def ground_truth(self) -> tuple[str, ...]:
        present = {"depth_m": self.depth, "world_T_camera": self.poses, "semantics": self.labels}
        return tuple(name for name, value in present.items() if value is not None)

    @property
    def reference_mesh(self) -> Path | None:
        return scene_mesh(self.path)

    def raw_frames(self, indices: range) -> Iterator[Frame]:
        K = self.native_intrinsics
        for index in indices:
            number = self.numbers[index]
            rgb = image_io.read_rgb(self.colour[number])
            extra = {}
            if self.depth is not None:
                if rgb.shape[:2] != (K.height, K.width):
                    rgb = cv2.resize(rgb, K.size, interpolation=cv2.INTER_AREA)
                if self.ground_truth_images:
                    extra["depth_m"] = image_io.read_depth(self.depth[index], DEPTH_UNITS_PER_M)
                    check_size(self.depth[index], "depth", extra["depth_m"], K.width, K.height)
            else:
                check_size(self.colour[number], "image", rgb, K.width, K.height)
            if self.poses is not None and self.poses[index] is not None:
                extra["world_T_camera"] = self.poses[index]
            if self.labels is not None and self.ground_truth_images:
                raw = image_io.read_labels(self.labels[index])
                if raw.shape != (K.height, K.width):
                    raw = cv2.resize(raw, K.size, interpolation=cv2.INTER_NEAREST)
                extra["semantics"] = nyu40_from_raw(raw, self.label_table)
            yield Frame(index, number / FRAME_RATE_HZ, rgb, K, **extra)
