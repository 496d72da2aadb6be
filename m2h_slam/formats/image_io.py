"""Reading and writing the image files of sequences: RGB, depth, labels, normals.

The one place where BGR (cv2) meets RGB, and where depth units meet metres.
Read errors are ``InputError`` naming the file; writes are atomic.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from m2h_slam.core.atomic import atomic_write
from m2h_slam.core.errors import InputError

cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # no "[ WARN ]" lines: we report problems ourselves

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
_NORMAL_SCALE = 32767.5  # uint16 code c <-> component c / 32767.5 - 1


def _read(path: str | os.PathLike, flags: int) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    if path.stat().st_size == 0:
        raise InputError(path, "file is empty")
    data = np.fromfile(path, dtype=np.uint8)
    image = cv2.imdecode(data, flags)
    if image is None:
        raise InputError(path, "cannot decode image (unreadable or truncated)")
    if path.suffix.lower() in (".jpg", ".jpeg") and b"\xff\xd9" not in data[-4096:].tobytes():
        raise InputError(path, "JPEG is truncated (no end-of-image marker)")
    return image


def _write(path: str | os.PathLike, image: np.ndarray) -> Path:
    def write(tmp: Path) -> None:
        if not cv2.imwrite(str(tmp), image):
            raise OSError(f"{path}: cv2 could not write the image")

    return atomic_write(path, write)


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """(H, W, 3) uint8 RGB; grey images are expanded, alpha dropped, 16-bit scaled down."""
    return cv2.cvtColor(_read(path, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def write_rgb(path: str | os.PathLike, rgb: np.ndarray) -> Path:
    """Write an (H, W, 3) uint8 RGB image (format by suffix)."""
    return _write(path, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def write_png_within(path: str | os.PathLike, draw: Callable[[int], np.ndarray], max_bytes: int,
                     width_px: int, min_width_px: int = 320) -> Path:
    """Write ``draw(width_px)``, an (H, W, 3) uint8 RGB picture at most ``width_px`` wide, as a PNG of at most
    ``max_bytes``: fast compression first, then the strongest, then, while still larger, drawn again narrower
    (not below ``min_width_px``)."""
    while True:
        rgb = draw(width_px)
        for level in (3, 9):  # level 9 takes 0.5 s on a 1280 px sheet, level 3 a tenth of that
            ok, data = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, level])
            if not ok:
                raise OSError(f"{path}: cv2 could not encode the image")
            if len(data) <= max_bytes:
                break
        if len(data) <= max_bytes or width_px <= min_width_px:
            break
        shrink = min(0.9, max(0.5, 0.95 * float(np.sqrt(max_bytes / len(data)))))
        width_px = max(min_width_px, int(min(width_px, rgb.shape[1]) * shrink))
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(data.tobytes()))


def read_depth(path: str | os.PathLike, units_per_m: float) -> np.ndarray:
    """(H, W) float32 metres from a 16-bit depth PNG holding ``units_per_m`` units per metre; 0 = invalid."""
    raw = _read(path, cv2.IMREAD_UNCHANGED)
    if raw.ndim != 2 or raw.dtype not in (np.uint16, np.float32):
        channels = raw.shape[2] if raw.ndim == 3 else 1
        raise InputError(path, f"depth must be a single-channel 16-bit image, got {raw.dtype} with {channels} channel(s)"
                               + (" (8 bits cannot hold metric depth)" if raw.dtype == np.uint8 else ""))
    depth = raw.astype(np.float32) / np.float32(units_per_m)
    depth[~np.isfinite(depth)] = 0.0
    return depth


def write_depth(path: str | os.PathLike, depth_m: np.ndarray, units_per_m: float) -> Path:
    """Write (H, W) metres as 16-bit PNG, ``units_per_m`` units per metre; invalid and out-of-range -> 0."""
    scaled = np.nan_to_num(depth_m.astype(np.float64) * units_per_m, nan=0.0, posinf=0.0, neginf=0.0)
    scaled = np.where((scaled > 0) & (scaled <= 65535), np.round(scaled), 0)
    return _write(path, scaled.astype(np.uint16))


def read_labels(path: str | os.PathLike) -> np.ndarray:
    """(H, W) label image as stored (uint8 or uint16)."""
    labels = _read(path, cv2.IMREAD_UNCHANGED)
    if labels.ndim != 2:
        raise InputError(path, "label image must have one channel")
    return labels


def write_labels(path: str | os.PathLike, labels: np.ndarray) -> Path:
    """Write an (H, W) uint8 or uint16 label image as PNG."""
    if labels.dtype not in (np.uint8, np.uint16):
        labels = labels.astype(np.uint16 if labels.max(initial=0) > 255 else np.uint8)
    return _write(path, labels)


def read_normals(path: str | os.PathLike) -> np.ndarray:
    """(H, W, 3) float32 camera-frame normals from a 16-bit 3-channel PNG; (0, 0, 0) where stored as 0."""
    raw = _read(path, cv2.IMREAD_UNCHANGED)
    if raw.ndim != 3 or raw.shape[2] != 3 or raw.dtype != np.uint16:
        raise InputError(path, "normals must be a 16-bit 3-channel PNG")
    raw = raw[..., ::-1]
    normals = (raw.astype(np.float32) / np.float32(_NORMAL_SCALE) - 1.0).astype(np.float32)
    normals[np.all(raw == 0, axis=-1)] = 0.0
    return normals


def write_normals(path: str | os.PathLike, normals: np.ndarray) -> Path:
    """Write (H, W, 3) unit normals as a 16-bit PNG (x, y, z in R, G, B); zero vectors stay 0."""
    codes = np.round((np.clip(normals, -1.0, 1.0) + 1.0) * _NORMAL_SCALE)
    codes = np.clip(codes, 1, 65535).astype(np.uint16)
    codes[np.all(normals == 0, axis=-1)] = 0
    return _write(path, np.ascontiguousarray(codes[..., ::-1]))
