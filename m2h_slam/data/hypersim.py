"""Hypersim scenes (the ``ml-hypersim`` layout), one camera trajectory at a time.

    SCENE/_detail/metadata_scene.csv                          meters_per_asset_unit
    SCENE/_detail/cam_00/camera_keyframe_positions.hdf5       (N, 3) asset units
    SCENE/_detail/cam_00/camera_keyframe_orientations.hdf5    (N, 3, 3) camera-to-world, OpenGL axes
    SCENE/images/scene_cam_00_final_hdf5/frame.0000.color.hdf5          linear HDR colour
    SCENE/images/scene_cam_00_final_preview/frame.0000.tonemap.jpg      (used when no HDR colour)
    SCENE/images/scene_cam_00_geometry_hdf5/frame.0000.{depth_meters,semantic,semantic_instance,normal_cam}.hdf5

Every HDF5 file holds its array under ``"dataset"`` (float16 or int; NaN or -1 invalid). This is the
one place where Hypersim's conventions are converted: ``depth_meters`` is the distance along the ray
-> planar depth; OpenGL camera axes (looking down -z, y up) -> OpenCV; asset units -> metres;
NaN -> 0 (invalid); semantic -1 -> 0 (unknown); HDR colour tone-mapped as Hypersim's own previews
are (gamma 2.2, the 90th brightness percentile at 0.8).
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from m2h_slam.core.config import InputConfig
from m2h_slam.core.errors import InputError
from m2h_slam.core.intrinsics import Intrinsics
from m2h_slam.core.records import Frame
from m2h_slam.data import image_io
from m2h_slam.data.sequence import ReadOptions, Sequence

DEFAULT_HFOV_DEG = 60.0
OPENGL_TO_OPENCV = np.diag([1.0, -1.0, -1.0])  # camera axes: y up, looking down -z -> y down, looking down +z
FRAME_RATE_HZ = 10.0  # keyframes have no timestamps; frames are numbered at this rate


def read_hdf5(path: Path) -> np.ndarray:
    """The ``"dataset"`` array of a Hypersim HDF5 file."""
    import h5py

    try:
        with h5py.File(path, "r") as file:
            return np.asarray(file["dataset"])
    except FileNotFoundError:
        raise InputError(path, "missing") from None
    except (OSError, KeyError) as error:
        raise InputError(path, f"not a Hypersim HDF5 file with a 'dataset' array ({error})") from None


def is_hypersim(path: Path) -> bool:
    """A Hypersim scene folder, or the ``images/scene_cam_XX_final_hdf5`` folder of one."""
    if re.fullmatch(r"scene_cam_\d+_final_hdf5", path.name) and path.parent.name == "images":
        path = path.parent.parent
    return (path / "_detail" / "metadata_scene.csv").is_file()


def scene_cameras(scene: Path) -> list[str]:
    """The camera trajectories of a scene ("cam_00", ...), from its ``_detail`` folder."""
    return sorted(p.name for p in (scene / "_detail").glob("cam_*") if p.is_dir())


def meters_per_asset_unit(scene: Path) -> float:
    path = scene / "_detail" / "metadata_scene.csv"
    if not path.is_file():
        raise InputError(path, "missing (a Hypersim scene has _detail/metadata_scene.csv)")
    with path.open(newline="", encoding="utf-8") as file:
        for row in csv.reader(file):
            if len(row) >= 2 and row[0].strip() == "meters_per_asset_unit":
                try:
                    return float(row[1])
                except ValueError:
                    break
    raise InputError(path, "has no numeric meters_per_asset_unit")


def planar_depth(distance_m: np.ndarray, K: Intrinsics) -> np.ndarray:
    """(H, W) planar z-depth (m) from distances along each pixel's ray; NaN and non-positive -> 0."""
    u, v = np.meshgrid(np.arange(K.width, dtype=np.float64), np.arange(K.height, dtype=np.float64))
    ray_length = np.sqrt(((u - K.cx) / K.fx) ** 2 + ((v - K.cy) / K.fy) ** 2 + 1.0)
    depth = np.asarray(distance_m, np.float64) / ray_length
    return np.where(np.isfinite(depth) & (depth > 0), depth, 0.0).astype(np.float32)


def world_T_camera(position: np.ndarray, world_R_camera_gl: np.ndarray, meters_per_unit: float) -> np.ndarray:
    """(4, 4) OpenCV camera pose in metres from a Hypersim keyframe (position in asset units, OpenGL rotation)."""
    pose = np.eye(4)
    pose[:3, :3] = np.asarray(world_R_camera_gl, np.float64) @ OPENGL_TO_OPENCV
    pose[:3, 3] = np.asarray(position, np.float64) * meters_per_unit
    return pose


def tonemap(hdr: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 from linear HDR colour: gamma 2.2, scaled so the 90th brightness percentile is 0.8."""
    rgb = np.nan_to_num(np.asarray(hdr, np.float64), nan=0.0, posinf=0.0, neginf=0.0).clip(0, None)
    brightness = rgb @ np.array([0.3, 0.59, 0.11])
    p90 = np.percentile(brightness, 90) if brightness.size else 0.0
    scale = 0.8**2.2 / p90 if p90 > 1e-9 else 1.0
    return (np.clip((scale * rgb) ** (1 / 2.2), 0, 1) * 255 + 0.5).astype(np.uint8)


def default_intrinsics(width: int, height: int) -> Intrinsics:
    """Hypersim's standard camera: 60 deg horizontal field of view, centred (886.81 px at 1024x768)."""
    f = (width / 2) / np.tan(np.radians(DEFAULT_HFOV_DEG) / 2)
    return Intrinsics(f, f, (width - 1) / 2, (height - 1) / 2, width, height)


class HypersimSequence(Sequence):
    """One camera of a Hypersim scene. ``path``: the scene folder (``options.camera`` picks the trajectory,
    default the first) or its ``images/scene_cam_XX_final_hdf5`` folder."""

    format = "hypersim"

    def __init__(self, path: str | os.PathLike, options: ReadOptions, config: InputConfig):
        path, camera = Path(path), options.camera
        match = re.fullmatch(r"scene_(cam_\d+)_final_hdf5", path.name)
        if match and path.parent.name == "images":
            path, camera = path.parent.parent, camera or match.group(1)
        super().__init__(path, options, config)
        cameras = scene_cameras(self.path)
        if not cameras:
            raise InputError(self.path / "_detail", "holds no camera trajectory (cam_XX folders)")
        self.camera = camera or cameras[0]
        if self.camera not in cameras:
            raise InputError(self.path, f"has no camera '{self.camera}' (cameras: {', '.join(cameras)})")
        detail = self.path / "_detail" / self.camera
        self.meters_per_unit = meters_per_asset_unit(self.path)
        self.positions = read_hdf5(detail / "camera_keyframe_positions.hdf5").reshape(-1, 3)
        self.orientations = read_hdf5(detail / "camera_keyframe_orientations.hdf5").reshape(-1, 3, 3)
        images = self.path / "images"
        self.final = images / f"scene_{self.camera}_final_hdf5"
        self.preview = images / f"scene_{self.camera}_final_preview"
        self.geometry = images / f"scene_{self.camera}_geometry_hdf5"
        numbers = sorted({int(m.group(1)) for folder in (self.final, self.preview, self.geometry) if folder.is_dir()
                          for m in (re.match(r"frame\.(\d+)\.", p.name) for p in folder.iterdir()) if m})
        self.numbers = [n for n in numbers if n < len(self.positions)]
        if not self.numbers:
            raise InputError(images, f"no frames of {self.camera} with a camera keyframe")
        self.fps = FRAME_RATE_HZ
        height, width = self._rgb(self.numbers[0]).shape[:2]
        self._resolve_intrinsics(width, height, (default_intrinsics(width, height),
                                                 "Hypersim default camera (60 deg horizontal field of view)"))

    @property
    def raw_length(self) -> int:
        return len(self.numbers)

    @property
    def cameras(self) -> tuple[str, ...]:
        return tuple(scene_cameras(self.path))

    @property
    def ground_truth(self) -> tuple[str, ...]:
        return ("depth_m", "world_T_camera", "semantics", "instances", "normals")

    def _rgb(self, number: int) -> np.ndarray:
        hdr = self.final / f"frame.{number:04d}.color.hdf5"
        if hdr.is_file():
            return tonemap(read_hdf5(hdr))
        return image_io.read_rgb(self.preview / f"frame.{number:04d}.tonemap.jpg")

    def _geometry(self, number: int, name: str) -> np.ndarray | None:
        path = self.geometry / f"frame.{number:04d}.{name}.hdf5"
        return read_hdf5(path) if path.is_file() else None

    def raw_frames(self, indices: range) -> Iterator[Frame]:
        K = self.native_intrinsics
        for index in indices:
            number = self.numbers[index]
            distance = self._geometry(number, "depth_meters")
            semantic = self._geometry(number, "semantic")
            instance = self._geometry(number, "semantic_instance")
            normal = self._geometry(number, "normal_cam")
            if normal is not None:  # OpenGL camera axes -> OpenCV, unit length, NaN -> 0
                normal = np.nan_to_num(np.asarray(normal, np.float32) @ OPENGL_TO_OPENCV.astype(np.float32))
            yield Frame(
                index=index, timestamp_s=number / FRAME_RATE_HZ, rgb=self._rgb(number), intrinsics=K,
                depth_m=planar_depth(distance, K) if distance is not None else None,
                world_T_camera=world_T_camera(self.positions[number], self.orientations[number], self.meters_per_unit),
                semantics=np.where(semantic > 0, semantic, 0).astype(np.uint8) if semantic is not None else None,
                instances=np.where(instance > 0, instance, 0).astype(np.int32) if instance is not None else None,
                normals=normal)
