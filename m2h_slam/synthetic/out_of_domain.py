"""Clips a mapping network trained on apartments has never seen, for checking that a run says so.

``cartoon_clip``: a flat-coloured meadow under a blue sky with round trees and a sun, panned sideways (what a
cartoon or an outdoor scene looks like to a model of rooms). ``noise_clip``: each frame fresh noise (nothing to
track). Both are lists of (H, W, 3) uint8 RGB frames; write them with ``write_image_folder``.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def cartoon_clip(frames: int, size: tuple[int, int] = (320, 240), seed: int = 0,
                 pan_px: float = 3.0) -> list[np.ndarray]:
    """``frames`` frames of size (W, H) panning ``pan_px`` pixels a frame across a flat-coloured landscape."""
    rng = np.random.default_rng(seed)
    w, h = size
    width = w + int(np.ceil(pan_px * frames)) + 1
    canvas = np.zeros((h, width, 3), np.uint8)
    horizon = int(h * rng.uniform(0.4, 0.55))
    canvas[:horizon] = (110, 170, 245)  # sky
    canvas[horizon:] = (80, 180, 70)  # meadow
    cv2.circle(canvas, (int(width * rng.uniform(0.1, 0.9)), h // 8), h // 10, (250, 220, 60), -1)  # sun
    for _ in range(max(3, width // 60)):  # trees: a brown trunk under a green crown
        x, scale = int(rng.uniform(0, width)), rng.uniform(0.6, 1.3)
        base = horizon + int(rng.uniform(0, h - horizon) * 0.6)
        trunk_h, crown_r = int(h * 0.15 * scale), int(h * 0.09 * scale)
        cv2.rectangle(canvas, (x - 4, base - trunk_h), (x + 4, base), (120, 80, 40), -1)
        cv2.circle(canvas, (x, base - trunk_h), crown_r, tuple(int(v) for v in rng.integers(20, 120, 3)), -1)
    for _ in range(width // 25):  # flowers
        x, y = int(rng.uniform(0, width)), int(rng.uniform(horizon + 5, h))
        cv2.circle(canvas, (x, y), 3, tuple(int(v) for v in rng.integers(150, 256, 3)), -1)
    return [canvas[:, round(k * pan_px):round(k * pan_px) + w].copy() for k in range(frames)]


def noise_clip(frames: int, size: tuple[int, int] = (320, 240), seed: int = 0) -> list[np.ndarray]:
    """``frames`` frames of uniform noise (blurred a little, as a camera would), none like the one before."""
    rng = np.random.default_rng(seed)
    w, h = size
    return [cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (5, 5), 0) for _ in range(frames)]


def write_image_folder(folder: str | Path, images: list[np.ndarray]) -> Path:
    """Write ``images`` (RGB) as ``folder/000000.png``...; the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for k, image in enumerate(images):
        cv2.imwrite(str(folder / f"{k:06d}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return folder
