"""Pinhole camera intrinsics (OpenCV convention: pixel centres at integer coordinates)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# fx, fy at most this many times the larger image side: a field of view of at least 0.006 deg (config.FOV_DEG's
# least, 0.01 deg, gives less); more is a broken file (fx: 1e300), whose rays underflow float32
MAX_FOCAL_PER_SIDE = 1e4


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics of an image of ``width`` x ``height`` pixels.

    ``fx, fy`` are focal lengths in pixels; ``(cx, cy)`` is the principal point in
    pixels, with the centre of the top-left pixel at (0, 0).
    """

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    def __post_init__(self) -> None:
        for name in ("fx", "fy", "cx", "cy"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"intrinsics {name} must be a finite number, got {value!r}")
            object.__setattr__(self, name, float(value))
        if self.fx <= 0 or self.fy <= 0:
            raise ValueError(f"focal lengths must be positive, got fx={self.fx}, fy={self.fy}")
        for name in ("width", "height"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
                raise ValueError(f"intrinsics {name} must be a positive integer, got {value!r}")
            object.__setattr__(self, name, int(value))
        side = max(self.width, self.height)
        if max(self.fx, self.fy) > MAX_FOCAL_PER_SIDE * side:
            raise ValueError(f"focal lengths must be at most {MAX_FOCAL_PER_SIDE:g} times the image side ({side} px), "
                             f"got fx={self.fx:g}, fy={self.fy:g}")

    @classmethod
    def from_fov(cls, width: int, height: int, hfov_deg: float) -> Intrinsics:
        """Square pixels, principal point at the image centre, horizontal FOV in degrees."""
        if not 0.0 < hfov_deg < 180.0:
            raise ValueError(f"field of view must be in (0, 180) degrees, got {hfov_deg}")
        f = (width / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)
        return cls(f, f, (width - 1) / 2.0, (height - 1) / 2.0, width, height)

    @classmethod
    def from_matrix(cls, K: np.ndarray, width: int, height: int) -> Intrinsics:
        """From a 3x3 camera matrix."""
        K = np.asarray(K, dtype=np.float64)
        if K.shape != (3, 3):
            raise ValueError(f"camera matrix must be 3x3, got shape {K.shape}")
        return cls(K[0, 0], K[1, 1], K[0, 2], K[1, 2], width, height)

    @property
    def matrix(self) -> np.ndarray:
        """3x3 float64 camera matrix K."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return self.width, self.height

    @property
    def hfov_deg(self) -> float:
        """Horizontal field of view in degrees."""
        return math.degrees(2.0 * math.atan(self.width / (2.0 * self.fx)))

    def rescaled(self, width: int, height: int) -> Intrinsics:
        """Intrinsics of the same camera after resizing the image to ``width`` x ``height``.

        Pixel-area alignment, as ``cv2.resize``: a pixel centre u maps to (u + 0.5) * s - 0.5.
        """
        sx, sy = width / self.width, height / self.height
        return Intrinsics(
            self.fx * sx, self.fy * sy, (self.cx + 0.5) * sx - 0.5, (self.cy + 0.5) * sy - 0.5, width, height
        )

    def subsampled(self, step: int) -> Intrinsics:
        """Intrinsics of the image ``[::step, ::step]`` (every ``step``-th pixel: pixel u there is step * u here)."""
        width, height = -(-self.width // step), -(-self.height // step)
        return Intrinsics(self.fx / step, self.fy / step, self.cx / step, self.cy / step, width, height)

    def to_dict(self) -> dict[str, float | int]:
        return {"fx": self.fx, "fy": self.fy, "cx": self.cx, "cy": self.cy, "width": self.width, "height": self.height}
