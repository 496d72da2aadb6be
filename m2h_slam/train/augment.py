"""Training augmentations on ``Frame`` records that keep the geometry consistent.

Geometric ones change every image together and the intrinsics with them, so that back-projecting the
augmented depth with the augmented intrinsics gives the same 3D shape and the normals still face the
camera. A zoom-and-crop by s scales fx, fy by s, moves cx, cy, and divides depth by s: the scene as the
network's fixed camera would see it if everything were s times closer, which keeps apparent size and
metric depth consistent (a zoom that kept the depth would teach a monocular network that size says
nothing about distance); back-projected points are the original ones scaled by 1 / s, normals unchanged.
A horizontal flip mirrors cx and negates the normals' x. Photometric ones (brightness, contrast,
saturation, blur, noise) touch the RGB only.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from m2h_slam.core.config import BLUR_SIGMA_PX, NOISE_LEVELS, SHARE, Checked, Range, ranged
from m2h_slam.core.intrinsics import Intrinsics
from m2h_slam.core.records import Frame


@dataclass(frozen=True)
class AugmentConfig(Checked):
    """Ranges of the random augmentations; zeros (zoom_max 1) switch them off. ``noise_std_max``: 8-bit levels."""

    # zoom in by a factor in [1, zoom_max] (4: a sixteenth of the frame, resized to 16 times its pixels), then crop back
    # to the size
    zoom_max: float = ranged(1.4, Range(1, limit=4))
    flip: bool = True
    brightness: float = ranged(0.25, SHARE)  # gain in [1 - b, 1 + b]
    contrast: float = ranged(0.25, SHARE)
    saturation: float = ranged(0.3, SHARE)
    blur_probability: float = ranged(0.2, SHARE)
    blur_sigma_max_px: float = ranged(1.2, BLUR_SIGMA_PX)
    noise_std_max: float = ranged(4.0, NOISE_LEVELS)


def zoom_crop(frame: Frame, zoom: float, x0: int, y0: int) -> Frame:
    """Resize by ``zoom`` >= 1 (images: linear, labels, depth and normals: nearest) and crop the original size
    at (x0, y0); intrinsics follow (cv2's pixel-area alignment: u -> (u + 0.5) * s - 0.5), depth / zoom."""
    K = frame.intrinsics
    width, height = K.width, K.height
    big_w, big_h = max(width, round(width * zoom)), max(height, round(height * zoom))
    if not (0 <= x0 <= big_w - width and 0 <= y0 <= big_h - height):
        raise ValueError(f"crop at ({x0}, {y0}) leaves the {big_w}x{big_h} zoomed image")
    window = np.s_[y0:y0 + height, x0:x0 + width]

    def resized(image: np.ndarray | None, interpolation: int) -> np.ndarray | None:
        if image is None:
            return None
        return cv2.resize(image, (big_w, big_h), interpolation=interpolation)[window]

    big = K.rescaled(big_w, big_h)
    cropped = Intrinsics(big.fx, big.fy, big.cx - x0, big.cy - y0, width, height)
    nearest = cv2.INTER_NEAREST
    return frame.replace(rgb=np.ascontiguousarray(resized(frame.rgb, cv2.INTER_LINEAR)), intrinsics=cropped,
                         depth_m=None if frame.depth_m is None else resized(frame.depth_m, nearest) / np.float32(zoom),
                         semantics=resized(frame.semantics, nearest),
                         instances=_instances(frame.instances, (big_w, big_h), window),
                         normals=resized(frame.normals, nearest), edges=resized(frame.edges, nearest),
                         rooms=resized(frame.rooms, nearest))


def _instances(instances: np.ndarray | None, size: tuple[int, int], window) -> np.ndarray | None:
    if instances is None:  # cv2 resizes int32 with nearest; wider integer types go through int32
        return None
    return cv2.resize(instances.astype(np.int32), size, interpolation=cv2.INTER_NEAREST)[window]


def flip_horizontal(frame: Frame) -> Frame:
    """Mirror left-right: images flipped, cx -> (W - 1) - cx, the normals' x negated."""
    K = frame.intrinsics

    def flipped(image: np.ndarray | None) -> np.ndarray | None:
        return None if image is None else np.ascontiguousarray(image[:, ::-1])

    normals = flipped(frame.normals)
    if normals is not None:
        normals[..., 0] *= -1.0
    return frame.replace(rgb=flipped(frame.rgb), intrinsics=Intrinsics(K.fx, K.fy, K.width - 1 - K.cx, K.cy,
                                                                       K.width, K.height),
                         depth_m=flipped(frame.depth_m), semantics=flipped(frame.semantics),
                         instances=flipped(frame.instances), normals=normals, edges=flipped(frame.edges),
                         rooms=flipped(frame.rooms))


def photometric(rgb: np.ndarray, rng: np.random.Generator, config: AugmentConfig) -> np.ndarray:
    """(H, W, 3) uint8 RGB with random brightness, contrast, saturation, blur and noise."""
    image = rgb.astype(np.float32)
    image *= rng.uniform(1 - config.brightness, 1 + config.brightness)
    mean = image.mean()
    image = (image - mean) * rng.uniform(1 - config.contrast, 1 + config.contrast) + mean
    grey = image @ np.array([0.299, 0.587, 0.114], np.float32)
    image = grey[..., None] + (image - grey[..., None]) * rng.uniform(1 - config.saturation, 1 + config.saturation)
    if config.blur_sigma_max_px > 0 and rng.random() < config.blur_probability:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.3, config.blur_sigma_max_px))
    if config.noise_std_max > 0:
        image += rng.normal(0.0, rng.uniform(0, config.noise_std_max), image.shape).astype(np.float32)
    return np.clip(image + 0.5, 0, 255).astype(np.uint8)


def augment(frame: Frame, rng: np.random.Generator, config: AugmentConfig) -> Frame:
    """One random draw of every augmentation of ``config`` (same size out as in)."""
    K = frame.intrinsics
    if config.zoom_max > 1:
        zoom = rng.uniform(1.0, config.zoom_max)
        big_w, big_h = max(K.width, round(K.width * zoom)), max(K.height, round(K.height * zoom))
        frame = zoom_crop(frame, zoom, int(rng.integers(0, big_w - K.width + 1)),
                          int(rng.integers(0, big_h - K.height + 1)))
    if config.flip and rng.random() < 0.5:
        frame = flip_horizontal(frame)
    return frame.replace(rgb=photometric(frame.rgb, rng, config))
