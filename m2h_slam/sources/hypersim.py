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

Two data-set-wide CSV files of ``ml-hypersim`` are read when present:

    metadata_camera_parameters.csv        (contrib/mikeroberts3000/) one row per scene; its 3x3
                                          M_cam_from_uv maps [u, v, 1] to a camera-space ray (OpenGL axes),
                                          u, v in [-1, 1] across the image, v up. Looked for in the scene
                                          folder, then in its parent (the data set root).
    metadata_images_split_scene_v1.csv    (evermotion_dataset/analysis/) scene_name, camera_name, frame_id,
                                          included_in_public_release, exclude_reason, split_partition_name
                                          (train / val / test): ``split_cameras``, ``split_frames``.

Many scenes use tilt-shift lenses: M_cam_from_uv then has a non-zero bottom row (an image plane that is
not perpendicular to Hypersim's camera axis). That is still a pinhole camera, only a rotated one: the
reader reports it as intrinsics K (principal point off centre, often far) and a camera frame rotated by
``SceneCamera.hypersim_R_camera`` from Hypersim's, so poses, planar depth and normals are in the frame
that K describes. A horizontal and vertical tilt together leave a small skew that K cannot hold: it is
dropped, with a warning when it moves a pixel by more than ``SKEW_WARN_PX``.
"""

from __future__ import annotations

import csv
import functools
import logging
import math
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from m2h_slam.core.config import InputConfig
from m2h_slam.core.errors import InputError
from m2h_slam.core.geometry import ray_directions, rotation_angle_deg
from m2h_slam.core.intrinsics import Intrinsics
from m2h_slam.core.records import Frame
from m2h_slam.formats import image_io
from m2h_slam.sources.sequence import ReadOptions, Sequence

DEFAULT_HFOV_DEG = 60.0
OPENGL_TO_OPENCV = np.diag([1.0, -1.0, -1.0])  # camera axes: y up, looking down -z -> y down, looking down +z
FRAME_RATE_HZ = 10.0  # keyframes have no timestamps; frames are numbered at this rate
CAMERA_PARAMETERS_CSV = "metadata_camera_parameters.csv"
SPLIT_CSV = "metadata_images_split_scene_v1.csv"
SPLITS = ("train", "val", "test")  # split_partition_name values of the official split
SKEW_WARN_PX = 0.5  # warn when dropping a tilt-shift camera's skew moves a pixel by more than this

log = logging.getLogger("m2h_slam")


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
    ray_length = np.linalg.norm(ray_directions(K), axis=-1)
    depth = np.asarray(distance_m, np.float64) / ray_length
    return np.where(np.isfinite(depth) & (depth > 0), depth, 0.0).astype(np.float32)


def world_T_camera(position: np.ndarray, world_R_camera_gl: np.ndarray, meters_per_unit: float,
                   hypersim_R_camera: np.ndarray | None = None) -> np.ndarray:
    """(4, 4) OpenCV camera pose in metres from a Hypersim keyframe (position in asset units, OpenGL rotation).

    ``hypersim_R_camera``: (3, 3) rotation of a tilt-shift scene's pinhole frame (``SceneCamera``); None = identity.
    """
    pose = np.eye(4)
    pose[:3, :3] = np.asarray(world_R_camera_gl, np.float64) @ OPENGL_TO_OPENCV
    if hypersim_R_camera is not None:
        pose[:3, :3] = pose[:3, :3] @ hypersim_R_camera
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


# -- per-scene cameras: metadata_camera_parameters.csv ------------------------------------------------------------

CAMERA_FROM_UV_COLUMNS = tuple(f"M_cam_from_uv_{i}{j}" for i in range(3) for j in range(3))
IMAGE_SIZE_COLUMNS = ("settings_output_img_width", "settings_output_img_height")


@dataclass(frozen=True)
class SceneCamera:
    """A Hypersim scene's camera as a pinhole.

    ``intrinsics``: K of the frames (pixel centres at integers). ``hypersim_R_camera``: (3, 3) float64 rotation
    from the pinhole's camera axes to Hypersim's camera axes (both OpenCV: x right, y down, z forward); the
    identity for lenses without tilt. ``skew_px``: the largest shift (pixels) of any pixel caused by dropping
    the skew K cannot hold (0 unless the lens is tilted both ways).
    """

    intrinsics: Intrinsics
    hypersim_R_camera: np.ndarray
    skew_px: float


def find_camera_parameters(scene: Path) -> Path | None:
    """``metadata_camera_parameters.csv`` in the scene folder, else in its parent (a data set root); None if neither."""
    for folder in (scene, scene.parent):
        if (folder / CAMERA_PARAMETERS_CSV).is_file():
            return folder / CAMERA_PARAMETERS_CSV
    return None


def _read_rows(csv_path: str | os.PathLike, needed: Iterable[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) of a CSV file with a header; ``InputError`` naming the file if it lacks a needed column."""
    path = Path(csv_path)
    if not path.is_file():
        raise InputError(path, "missing" if not path.exists() else "is not a file")
    with path.open(newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file)
        missing = [name for name in needed if name not in (reader.fieldnames or ())]
        if missing:
            raise InputError(path, f"has no column {', '.join(missing)} (header: {', '.join(reader.fieldnames or [])})")
        for row in reader:
            yield reader.line_num, row


def _number(path: Path, line: int, row: dict[str, str], column: str) -> float:
    try:
        value = float(row[column])
    except (TypeError, ValueError):
        raise InputError(path, f"line {line}: {column} is not a number ({row[column]!r})") from None
    if not math.isfinite(value):
        raise InputError(path, f"line {line}: {column} is not finite ({row[column]!r})")
    return value


def pixel_to_uv(width: int, height: int) -> np.ndarray:
    """(3, 3) map from pixel [col, row, 1] (centres at integers, row down) to Hypersim's [u, v, 1]: u, v in
    [-1, 1] from edge to edge of the image, v up (the convention of the authors' ray-casting notebook)."""
    return np.array([[2.0 / width, 0.0, 1.0 / width - 1.0], [0.0, -2.0 / height, 1.0 - 1.0 / height], [0.0, 0.0, 1.0]])


def pinhole_from_rays(camera_from_pixel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split a (3, 3) map from pixel [col, row, 1] to camera-space rays (OpenCV axes) into ``(K, camera_R_pinhole)``:
    K (3, 3) upper triangular with K[2, 2] = 1 (K[0, 1] is the skew) and a rotation with
    ``camera_from_pixel ~ camera_R_pinhole @ inv(K)``. Gram-Schmidt on the columns (pixel step right, pixel step
    down, ray of pixel (0, 0)), so an untilted camera gives the identity exactly. ``ValueError`` if singular."""
    M = np.asarray(camera_from_pixel, np.float64)
    right, down = M[:, 0], M[:, 1]
    if not np.linalg.norm(right) > 0:
        raise ValueError("the pixel-to-ray matrix is singular")
    x_axis = right / np.linalg.norm(right)
    down_perp = down - (x_axis @ down) * x_axis
    if not np.linalg.norm(down_perp) > 1e-12 * np.linalg.norm(down):
        raise ValueError("the pixel-to-ray matrix is singular")
    y_axis = down_perp / np.linalg.norm(down_perp)
    z_axis = np.cross(x_axis, y_axis)
    R = np.stack([x_axis, y_axis, z_axis], axis=1)
    K_inv = R.T @ M
    K_inv[1, 0] = K_inv[2, 0] = K_inv[2, 1] = 0.0  # zero up to rounding by construction
    if not K_inv[2, 2] > 1e-12 * np.abs(K_inv).max():
        raise ValueError("the image lies behind the camera (or the matrix is singular)")
    K = np.linalg.inv(K_inv)
    return K / K[2, 2], R


def scene_camera(csv_path: str | os.PathLike, scene_name: str, width: int, height: int) -> SceneCamera | None:
    """The camera of ``scene_name`` for frames of ``width`` x ``height`` pixels from its
    ``metadata_camera_parameters.csv`` row (``M_cam_from_uv``), or None if the file has no row for the scene.

    ``InputError`` naming the file if columns are missing, a value is not a number, the matrix is singular or
    the frames' aspect ratio differs from the rendered one (frames at another resolution are fine).
    """
    path = Path(csv_path)
    for line, row in _read_rows(path, ("scene_name", *IMAGE_SIZE_COLUMNS, *CAMERA_FROM_UV_COLUMNS)):
        if row["scene_name"].strip() == scene_name:
            break
    else:
        return None
    rendered_w, rendered_h = (_number(path, line, row, name) for name in IMAGE_SIZE_COLUMNS)
    if not (rendered_w > 0 and rendered_h > 0) or abs(rendered_w / rendered_h - width / height) > 0.01:
        raise InputError(path, f"line {line}: {scene_name} is rendered at {rendered_w:g}x{rendered_h:g}, "
                               f"its frames are {width}x{height} (another aspect ratio)")
    camera_from_uv_gl = np.array([_number(path, line, row, name) for name in CAMERA_FROM_UV_COLUMNS]).reshape(3, 3)
    try:
        K, R = pinhole_from_rays(OPENGL_TO_OPENCV @ camera_from_uv_gl @ pixel_to_uv(width, height))
    except ValueError as error:
        raise InputError(path, f"line {line}: M_cam_from_uv of {scene_name}: {error}") from None
    rows = np.array([0.0, height - 1.0])  # dropping the skew moves pixel u by skew * (v - cy) / fy
    skew_px = float(np.abs(K[0, 1] * (rows - K[1, 2]) / K[1, 1]).max())
    return SceneCamera(Intrinsics(K[0, 0], K[1, 1], K[0, 2], K[1, 2], width, height), R, skew_px)


def camera_intrinsics(csv_path: str | os.PathLike, scene_name: str, width: int, height: int) -> Intrinsics | None:
    """K of ``scene_name`` for ``width`` x ``height`` frames from ``metadata_camera_parameters.csv``, None if no row.

    For a tilt-shift scene K belongs to a camera frame rotated from Hypersim's (``scene_camera`` gives the
    rotation; ``HypersimSequence`` applies it to poses, depth and normals): pair it with Hypersim's own poses
    only when ``scene_camera(...).hypersim_R_camera`` is the identity.
    """
    camera = scene_camera(csv_path, scene_name, width, height)
    return None if camera is None else camera.intrinsics


# -- the official split: metadata_images_split_scene_v1.csv -------------------------------------------------------

SPLIT_COLUMNS = ("scene_name", "camera_name", "frame_id", "included_in_public_release", "split_partition_name")


@functools.lru_cache(maxsize=4)
def _split_rows(path: Path, _stamp: tuple[int, int]) -> tuple[tuple[str, str, int, str], ...]:
    """(scene, camera, frame id, partition) of the rows in the public release, in file order."""
    rows = []
    for line, row in _read_rows(path, SPLIT_COLUMNS):
        included = row["included_in_public_release"].strip().lower()
        if included not in ("true", "false"):
            raise InputError(path, f"line {line}: included_in_public_release is {row['included_in_public_release']!r}, "
                                   "not True or False")
        if included == "false":
            continue
        try:
            frame = int(row["frame_id"])
        except (TypeError, ValueError):
            raise InputError(path, f"line {line}: frame_id is not an integer ({row['frame_id']!r})") from None
        rows.append((row["scene_name"].strip(), row["camera_name"].strip(), frame, row["split_partition_name"].strip()))
    return tuple(rows)


def _split(csv_path: str | os.PathLike, split: str) -> Iterator[tuple[str, str, int]]:
    path = Path(csv_path).resolve()
    if split not in SPLITS:
        raise InputError(path, f"unknown split {split!r} (the partitions are {', '.join(SPLITS)})")
    if not path.is_file():
        raise InputError(path, "missing" if not path.exists() else "is not a file")
    stat = path.stat()
    for scene, camera, frame, partition in _split_rows(path, (stat.st_mtime_ns, stat.st_size)):
        if partition == split:
            yield scene, camera, frame


def split_cameras(csv_path: str | os.PathLike, split: str) -> list[tuple[str, str]]:
    """(scene_name, camera_name) of the official split ``split`` (train / val / test), in file order, each once;
    frames outside the public release are left out. ``InputError`` naming the file for an unknown split or a file
    without the expected columns."""
    return list(dict.fromkeys((scene, camera) for scene, camera, _ in _split(csv_path, split)))


def split_frames(csv_path: str | os.PathLike, scene: str, camera: str, split: str) -> list[int]:
    """Frame ids of ``scene`` / ``camera`` in the official split ``split`` and the public release, in file order
    (empty if the camera is not in that split). Errors as ``split_cameras``."""
    return list(dict.fromkeys(f for s, c, f in _split(csv_path, split) if (s, c) == (scene, camera)))


class HypersimSequence(Sequence):
    """One camera of a Hypersim scene. ``path``: the scene folder (``options.camera`` picks the trajectory,
    default the first) or its ``images/scene_cam_XX_final_hdf5`` folder. ``frames``: the frame ids to read
    (e.g. ``split_frames``), None = all; a listed frame that is not on disk is an ``InputError``.

    The camera comes from ``metadata_camera_parameters.csv`` (scene folder, else its parent) when it has the
    scene's row, else Hypersim's 60 deg default; ``--intrinsics`` / ``--fov-deg`` override both (and then
    the tilt-shift rotation is not applied)."""

    format = "hypersim"

    def __init__(self, path: str | os.PathLike, options: ReadOptions, config: InputConfig, *,
                 frames: Iterable[int] | None = None):
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
        if frames is not None:
            wanted = sorted({int(n) for n in frames})
            absent = sorted(set(wanted) - set(self.numbers))
            if absent:
                shown = ", ".join(str(n) for n in absent[:10]) + (", ..." if len(absent) > 10 else "")
                raise InputError(images, f"{len(absent)} requested frame(s) of {self.camera} are not there "
                                         f"(or have no camera keyframe): {shown}")
            self.numbers = wanted
        if not self.numbers:
            raise InputError(images, f"no frames of {self.camera} with a camera keyframe")
        self.fps = FRAME_RATE_HZ
        height, width = self._rgb(self.numbers[0]).shape[:2]
        own = (default_intrinsics(width, height), "Hypersim default camera (60 deg horizontal field of view)")
        lens = None
        csv_path = find_camera_parameters(self.path)
        if csv_path is not None:
            lens = scene_camera(csv_path, self.path.name, width, height)
            if lens is not None:
                own = (lens.intrinsics, f"Hypersim {CAMERA_PARAMETERS_CSV} ({csv_path})")
        self._resolve_intrinsics(width, height, own)
        self.hypersim_R_camera = np.eye(3)  # pinhole axes -> Hypersim camera axes (OpenCV), see SceneCamera
        if lens is not None and self.intrinsics_source == own[1]:
            self.hypersim_R_camera = lens.hypersim_R_camera
            angle_deg = rotation_angle_deg(lens.hypersim_R_camera)
            if angle_deg > 0.01:
                log.info("%s: tilt-shift lens: camera frame rotated %.2f deg from Hypersim's so that a pinhole "
                         "(cx=%.1f, cy=%.1f px) describes it", self.path, angle_deg, lens.intrinsics.cx,
                         lens.intrinsics.cy)
            if lens.skew_px > SKEW_WARN_PX:
                log.warning("%s: this scene's tilt-shift lens has a skew a pinhole cannot hold; pixels are off by "
                            "up to %.1f px (%s)", self.path, lens.skew_px, csv_path)
        self._normals_from_gl = (OPENGL_TO_OPENCV @ self.hypersim_R_camera).astype(np.float32)  # n_row @ this

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
        read = self.ground_truth_images
        for index in indices:
            number = self.numbers[index]
            distance, semantic, instance, normal = (self._geometry(number, name) if read else None for name in
                                                    ("depth_meters", "semantic", "semantic_instance", "normal_cam"))
            if normal is not None:  # OpenGL camera axes -> OpenCV (pinhole frame), unit length, NaN -> 0
                normal = np.nan_to_num(np.asarray(normal, np.float32) @ self._normals_from_gl)
            yield Frame(
                index=index, timestamp_s=number / FRAME_RATE_HZ, rgb=self._rgb(number), intrinsics=K,
                depth_m=planar_depth(distance, K) if distance is not None else None,
                world_T_camera=world_T_camera(self.positions[number], self.orientations[number], self.meters_per_unit,
                                              self.hypersim_R_camera),
                semantics=np.where(semantic > 0, semantic, 0).astype(np.uint8) if semantic is not None else None,
                instances=np.where(instance > 0, instance, 0).astype(np.int32) if instance is not None else None,
                normals=normal)
