"""Typed records passed between stages: ``Frame`` (what a source gives) and ``Prediction``
(what perception gives). Arrays are numpy; shapes are checked on construction."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from enum import Enum

import numpy as np

from m2h_slam.core.intrinsics import Intrinsics

GROUND_TRUTH_FIELDS = ("depth_m", "world_T_camera", "semantics", "instances", "normals", "edges", "rooms")
#: Per-pixel ground-truth fields (everything but the pose).
IMAGE_FIELDS = tuple(f for f in GROUND_TRUTH_FIELDS if f != "world_T_camera")


class Tracking(str, Enum):
    """How a frame's pose was found; a ``str`` (compares equal to, and serialises as, its value)."""

    INIT = "init"  # the first frame, or frames before the first one with depth: the pose starts the map
    OK = "ok"  # tracked by odometry
    LOST = "lost"  # odometry failed: the pose is a prediction, the frame is not fused
    GIVEN = "given"  # the pose was given (ground truth or a pose file)
    NO_DEPTH = "no-depth"  # too little valid depth: the pose is a prediction, the frame is not fused

    __str__ = str.__str__  # "ok", not "Tracking.OK" (as enum.StrEnum, which needs Python 3.11)
    __format__ = str.__format__

    @property
    def placed(self) -> bool:
        """The pose can place things in the map (fusion, objects, agents)."""
        return self in (Tracking.INIT, Tracking.OK, Tracking.GIVEN)

    @property
    def measured(self) -> bool:
        """The pose was measured, not predicted (odometry or given)."""
        return self in (Tracking.OK, Tracking.GIVEN)


def _check(name: str, array: np.ndarray | None, shape: tuple[int | None, ...], dtypes: tuple[type, ...]) -> None:
    if array is None:
        return
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(array).__name__}")
    if array.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, array.shape)):
        raise ValueError(f"{name} must have shape {shape}, got {array.shape}")
    if not any(np.issubdtype(array.dtype, d) for d in dtypes):
        raise TypeError(f"{name} must have dtype {' or '.join(d.__name__ for d in dtypes)}, got {array.dtype}")


@dataclass(frozen=True, eq=False)
class Frame:
    """One camera frame with optional ground truth.

    rgb: (H, W, 3) uint8. depth_m: (H, W) float32 planar depth in metres, 0 = invalid.
    world_T_camera: (4, 4) float64 camera pose (OpenCV axes). semantics: (H, W) uint8
    NYU40 ids, 0 = unknown. instances: (H, W) integer ids, 0 = none. normals: (H, W, 3)
    float32 unit vectors in the camera frame, zero where invalid. edges: (H, W) uint8,
    1 on semantic/instance boundaries. rooms: (H, W) uint8 room id, 0 = none.
    """

    index: int
    timestamp_s: float
    rgb: np.ndarray
    intrinsics: Intrinsics
    depth_m: np.ndarray | None = None
    world_T_camera: np.ndarray | None = None
    semantics: np.ndarray | None = None
    instances: np.ndarray | None = None
    normals: np.ndarray | None = None
    edges: np.ndarray | None = None
    rooms: np.ndarray | None = None

    def __post_init__(self) -> None:
        h, w = self.intrinsics.height, self.intrinsics.width
        _check("rgb", self.rgb, (h, w, 3), (np.uint8,))
        _check("depth_m", self.depth_m, (h, w), (np.float32,))
        _check("world_T_camera", self.world_T_camera, (4, 4), (np.float64,))
        _check("semantics", self.semantics, (h, w), (np.uint8,))
        _check("instances", self.instances, (h, w), (np.integer,))
        _check("normals", self.normals, (h, w, 3), (np.float32,))
        _check("edges", self.edges, (h, w), (np.uint8,))
        _check("rooms", self.rooms, (h, w), (np.uint8,))

    @property
    def ground_truth(self) -> tuple[str, ...]:
        """Names of the ground-truth fields present."""
        return tuple(name for name in GROUND_TRUTH_FIELDS if getattr(self, name) is not None)

    def replace(self, **changes) -> Frame:
        """A copy with some fields changed."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return Frame(**values)


DEPTH_SOURCES = ("network", "measured")  # where a Prediction's depth came from


@dataclass(frozen=True, eq=False)
class Prediction:
    """Perception output at the frame's resolution.

    depth_m: (H, W) float32 metres, 0 = invalid. semantics: (H, W) uint8 NYU40 ids.
    confidence: (H, W) float32 in [0, 1], probability of the chosen class.
    normals: (H, W, 3) float32 unit vectors, camera frame. edges: (H, W) float32
    edge probability in [0, 1]. probabilities: optional (H, W, 41) float32 class
    probabilities. depth_source: "network" (predicted, the scale flickers from frame to frame) or "measured"
    (a sensor's or the ground truth's); the mapper picks its odometry by it.
    """

    depth_m: np.ndarray
    semantics: np.ndarray
    confidence: np.ndarray
    normals: np.ndarray
    edges: np.ndarray
    probabilities: np.ndarray | None = None
    depth_source: str = "network"

    def __post_init__(self) -> None:
        _check("depth_m", self.depth_m, (None, None), (np.float32,))
        h, w = self.depth_m.shape
        _check("semantics", self.semantics, (h, w), (np.uint8,))
        _check("confidence", self.confidence, (h, w), (np.float32,))
        _check("normals", self.normals, (h, w, 3), (np.float32,))
        _check("edges", self.edges, (h, w), (np.float32,))
        _check("probabilities", self.probabilities, (h, w, None), (np.floating,))
        if self.depth_source not in DEPTH_SOURCES:
            raise ValueError(f"depth_source must be one of {DEPTH_SOURCES}, got {self.depth_source!r}")

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return self.depth_m.shape[1], self.depth_m.shape[0]

    def sanitised(self) -> Prediction:
        """This prediction with every pixel of NaN / infinite / negative depth or a non-finite normal made invalid
        (depth 0, normal 0) and non-finite confidence and edges 0; ``self`` when there is nothing to clean."""
        depth, normals = self.depth_m, self.normals
        finite_normals = np.isfinite(normals).all(axis=-1)
        good = np.isfinite(depth) & (depth >= 0) & finite_normals
        if good.all() and np.isfinite(self.confidence).all() and np.isfinite(self.edges).all():
            return self
        return replace(
            self, depth_m=np.where(good, depth, 0).astype(np.float32),
            confidence=np.nan_to_num(self.confidence, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32),
            normals=np.where(good[..., None], normals, 0).astype(np.float32),
            edges=np.nan_to_num(self.edges, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32))


@dataclass(eq=False)
class LabelledMesh:
    """Triangle mesh with per-vertex labels. vertices: (N, 3) float64 m (world frame);
    triangles: (M, 3) int; colours: (N, 3) uint8 RGB; labels: (N,) uint8 NYU40;
    instances: (N,) uint16 (0 = none)."""

    vertices: np.ndarray
    triangles: np.ndarray
    colours: np.ndarray
    labels: np.ndarray
    instances: np.ndarray


@dataclass(frozen=True, eq=False)
class PoseCorrection:
    """How a loop closure moved the map: whatever was placed at a time in [times_s[k], times_s[k + 1]) moves by
    new_T_old[k] (4, 4, world frame); what was placed before times_s[0] stays. times_s: (K,) s, rising (the
    keyframes' times); new_T_old: (K, 4, 4)."""

    times_s: np.ndarray
    new_T_old: np.ndarray

    def at(self, times_s) -> np.ndarray:
        """(N, 4, 4) the correction of what was placed at each of ``times_s`` (N,) s."""
        k = np.searchsorted(self.times_s, np.asarray(times_s, np.float64).reshape(-1), side="right") - 1
        out = np.repeat(np.eye(4)[None], len(k), axis=0)
        out[k >= 0] = self.new_T_old[k[k >= 0]]
        return out

    @property
    def latest(self) -> np.ndarray:
        """(4, 4) the correction of what is placed now (the last keyframe's)."""
        return self.new_T_old[-1] if len(self.new_T_old) else np.eye(4)
