"""The project's own sequence folder format (see docs/sequence-format.md).

    SEQ/sequence.yaml      format, version, name, fps, depth_units_per_m, intrinsics
    SEQ/frames.txt         "index timestamp_s" per frame, strictly increasing time
    SEQ/rgb/NNNNNN.png     RGB (or .jpg)                          required
    SEQ/depth/NNNNNN.png   uint16, depth_units_per_m per metre    optional
    SEQ/semantics/...png   uint8 NYU40 ids                        optional
    SEQ/instances/...png   uint16 instance ids                    optional
    SEQ/normals/...png     uint16 x3 camera-frame normals         optional
    SEQ/edges/...png       uint8, 1 on label boundaries            optional
    SEQ/rooms/...png       uint8 room ids, 0 = none                optional
    SEQ/groundtruth.txt    TUM world_T_camera, one line per frame optional

The synthetic world and ``m2h-slam run`` write this format; ``SequenceWriter`` is the
one writer, and every file it writes is atomic.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import yaml

from m2h_slam.core.atomic import atomic_write_text
from m2h_slam.core.config import InputConfig
from m2h_slam.core.errors import InputError, read_text
from m2h_slam.core.intrinsics import Intrinsics
from m2h_slam.core.records import GROUND_TRUTH_FIELDS, IMAGE_FIELDS, Frame
from m2h_slam.core.yaml_numbers import load_yaml
from m2h_slam.formats import image_io
from m2h_slam.formats.intrinsics_io import intrinsics_from_mapping
from m2h_slam.formats.trajectory_io import format_tum_trajectory, read_tum_trajectory
from m2h_slam.sources.sequence import ReadOptions, Sequence, check_increasing

MANIFEST = "sequence.yaml"
FORMAT_NAME = "m2h-sequence"
FORMAT_VERSION = 1
#: Frame field -> folder of its images.
FOLDERS = {"depth_m": "depth", "semantics": "semantics", "instances": "instances", "normals": "normals",
           "edges": "edges", "rooms": "rooms"}
assert set(FOLDERS) == set(IMAGE_FIELDS)
#: Everything a ``SequenceWriter`` writes (``--force`` removes only these).
SEQUENCE_OUTPUTS = (MANIFEST, "frames.txt", "groundtruth.txt", "rgb", *FOLDERS.values())


def _name(index: int) -> str:
    return f"{index:06d}"


class FolderSequence(Sequence):
    """Reader of the project's sequence folder."""

    format = FORMAT_NAME

    def __init__(self, path: str | os.PathLike, options: ReadOptions, config: InputConfig):
        super().__init__(path, options, config)
        manifest_path = self.path / MANIFEST
        try:
            manifest = load_yaml(manifest_path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError, UnicodeDecodeError):
            raise InputError(manifest_path, "cannot read the sequence manifest (not valid YAML)") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
            raise InputError(manifest_path, f"not an {FORMAT_NAME} manifest (format: {FORMAT_NAME} missing)")
        if manifest.get("version") != FORMAT_VERSION:
            raise InputError(manifest_path, f"unsupported version {manifest.get('version')!r} (expected {FORMAT_VERSION})")
        self.name = str(manifest.get("name", self.path.name))
        source = manifest.get("source")
        self.synthetic = isinstance(source, dict) and str(source.get("generator", "")).startswith("m2h-slam synth")
        self.fps = _positive(manifest, "fps", None, manifest_path)  # absent or null: unknown
        self.depth_units_per_m = _positive(manifest, "depth_units_per_m", 1000.0, manifest_path)
        own = intrinsics_from_mapping(manifest.get("intrinsics"), manifest_path)
        self._resolve_intrinsics(own.width, own.height, (own, f"{MANIFEST}"))

        self.timestamps_s = self._read_frame_list(self.path / "frames.txt")
        self._rgb_files = self._index_images("rgb", required=True)
        self._optional = {field: self._index_images(folder) for field, folder in FOLDERS.items()}
        self._optional = {field: files for field, files in self._optional.items() if files}
        self.poses = None
        gt_path = self.path / "groundtruth.txt"
        if gt_path.is_file():
            stamps, poses = read_tum_trajectory(gt_path)
            if len(stamps) != len(self.timestamps_s) or not np.allclose(stamps, self.timestamps_s, atol=1e-5):
                raise InputError(gt_path, "poses must have one line per frame with the timestamps of frames.txt")
            self.poses = poses

    def _read_frame_list(self, path: Path) -> np.ndarray:
        if not path.is_file():
            raise InputError(path, "frame list not found")
        stamps = []
        for number, line in enumerate(read_text(path, "frame list").splitlines(), start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            parts = line.split()
            try:
                index, stamp = int(parts[0]), float(parts[1])
            except (ValueError, IndexError):
                raise InputError(path, f"line {number}: expected 'index timestamp_s'") from None
            if index != len(stamps):
                raise InputError(path, f"line {number}: expected frame index {len(stamps)}, got {index}")
            stamps.append(stamp)
        if not stamps:
            raise InputError(path, "no frames listed")
        check_increasing(stamps, path)
        return np.array(stamps)

    def _index_images(self, kind: str, required: bool = False) -> list[Path]:
        folder = self.path / kind
        if not folder.is_dir():
            if required:
                raise InputError(folder, "folder not found")
            return []
        by_stem = {p.stem: p for p in folder.iterdir() if p.suffix.lower() in image_io.IMAGE_SUFFIXES}
        files = []
        for index in range(len(self.timestamps_s)):
            path = by_stem.get(_name(index))
            if path is None:
                raise InputError(folder / f"{_name(index)}.png", f"{kind} image of frame {index} is missing")
            files.append(path)
        return files

    @property
    def raw_length(self) -> int:
        return len(self.timestamps_s)

    @property
    def ground_truth(self) -> tuple[str, ...]:
        present = set(self._optional)
        if self.poses is not None:
            present.add("world_T_camera")
        return tuple(name for name in GROUND_TRUTH_FIELDS if name in present)

    @property
    def reference_mesh(self) -> Path | None:
        mesh = self.path / "mesh.ply"  # what m2h-slam synth writes beside the frames
        return mesh if mesh.is_file() else None

    def frame_file(self, field: str, index: int) -> Path | None:
        if field == "world_T_camera":
            return self.path / "groundtruth.txt"
        files = self._rgb_files if field == "rgb" else self._optional.get(field)
        return None if files is None else files[index]

    def _read(self, field: str, path: Path) -> np.ndarray:
        if field == "depth_m":
            return image_io.read_depth(path, self.depth_units_per_m)
        if field == "normals":
            return image_io.read_normals(path)
        labels = image_io.read_labels(path)
        if field == "instances":
            return labels.astype(np.uint16)
        return np.minimum(labels, 255).astype(np.uint8)  # a 16-bit id past 255 stays out of range, never wraps

    def raw_frames(self, indices: range) -> Iterator[Frame]:
        K = self.native_intrinsics
        for i in indices:
            rgb = image_io.read_rgb(self._rgb_files[i])
            check_size(self._rgb_files[i], "image", rgb, K.width, K.height)
            extra = {}
            for field, files in self._optional.items() if self.ground_truth_images else ():
                extra[field] = self._read(field, files[i])
                check_size(files[i], field, extra[field], K.width, K.height)
            if self.poses is not None:
                extra["world_T_camera"] = self.poses[i]
            yield Frame(i, float(self.timestamps_s[i]), rgb, K, **extra)


def _positive(manifest: dict, key: str, default: float | None, path: Path) -> float | None:
    """``manifest[key]`` as a positive finite number: ``default`` when absent, None when null and ``default`` is
    None (fps: unknown); ``InputError`` naming ``path`` otherwise."""
    if key not in manifest:
        return default
    value = manifest[key]
    if value is None and default is None:
        return None
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        number = math.nan
    if not (math.isfinite(number) and number > 0):
        raise InputError(path, f"{key} must be a positive number, got {value!r}")
    return number


def check_size(path: Path, what: str, array: np.ndarray, width: int, height: int) -> None:
    """``InputError`` naming ``path`` unless ``array`` is ``height`` x ``width``."""
    if array.shape[:2] != (height, width):
        raise InputError(path, f"{what} is {array.shape[1]}x{array.shape[0]} but the sequence is {width}x{height}")


class SequenceWriter:
    """Writes frames into a sequence folder; ``close()`` writes the frame list and poses.

    Use as a context manager. Frames are numbered in the order written. Ground-truth
    kinds must be present in every frame or in none.
    """

    def __init__(self, path: str | os.PathLike, intrinsics: Intrinsics, fps: float | None = None,
                 name: str | None = None, depth_units_per_m: float = 1000.0, rgb_suffix: str = ".png",
                 source: dict | None = None):
        self.path = Path(path)
        self.intrinsics = intrinsics
        self.depth_units_per_m = depth_units_per_m
        self.rgb_suffix = rgb_suffix
        self.timestamps_s: list[float] = []
        self.poses: list[np.ndarray] = []
        self._kinds: tuple[str, ...] | None = None
        self.path.mkdir(parents=True, exist_ok=True)
        manifest = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "name": name or self.path.name,
            "fps": fps,
            "depth_units_per_m": depth_units_per_m,
            "intrinsics": intrinsics.to_dict(),
        }
        if source:
            manifest["source"] = source  # provenance, e.g. the synthetic world's settings
        atomic_write_text(self.path / MANIFEST, yaml.safe_dump(manifest, sort_keys=False))

    def write(self, frame: Frame) -> None:
        if frame.intrinsics != self.intrinsics:
            raise ValueError("all frames of a sequence must share its intrinsics")
        if self._kinds is None:
            self._kinds = frame.ground_truth
        elif frame.ground_truth != self._kinds:
            raise ValueError(f"frame {frame.index} has ground truth {frame.ground_truth}, earlier frames {self._kinds}")
        if self.timestamps_s and frame.timestamp_s <= self.timestamps_s[-1]:
            raise ValueError(f"timestamps must increase, got {frame.timestamp_s} after {self.timestamps_s[-1]}")
        name = _name(len(self.timestamps_s))
        image_io.write_rgb(self.path / "rgb" / f"{name}{self.rgb_suffix}", frame.rgb)
        for field in IMAGE_FIELDS:
            array = getattr(frame, field)
            if array is None:
                continue
            path = self.path / FOLDERS[field] / f"{name}.png"
            if field == "depth_m":
                image_io.write_depth(path, array, self.depth_units_per_m)
            elif field == "normals":
                image_io.write_normals(path, array)
            else:
                if array.max(initial=0) > 65535:
                    raise ValueError(f"{field} ids above 65535 cannot be stored")
                image_io.write_labels(path, array.astype(np.uint16 if field == "instances" else np.uint8))
        self.timestamps_s.append(frame.timestamp_s)
        if frame.world_T_camera is not None:
            self.poses.append(frame.world_T_camera)

    def close(self) -> None:
        lines = ["# index timestamp_s"] + [f"{i:06d} {t:.6f}" for i, t in enumerate(self.timestamps_s)]
        atomic_write_text(self.path / "frames.txt", "\n".join(lines) + "\n")
        if self.poses:
            atomic_write_text(self.path / "groundtruth.txt", format_tum_trajectory(np.array(self.timestamps_s), np.array(self.poses)))

    def __enter__(self) -> SequenceWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
