"""Configuration: frozen dataclasses filled from YAML, strictly.

A YAML file may set any subset of keys; the rest keep their defaults. An unknown
key or a value of the wrong type is an ``InputError`` naming the key and the file.
Every stage's settings live in this one file; ``configs/default.yaml`` mirrors the
defaults (a test keeps the two equal).
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import yaml

from m2h_slam.core.errors import InputError


@dataclass(frozen=True)
class InputConfig:
    """How sequences are read."""

    default_fov_deg: float = 60.0  # horizontal FOV assumed when a video or image folder has no intrinsics
    image_fps: float = 30.0  # frame rate given to image folders (timestamps = index / fps)
    tum_max_time_diff_s: float = 0.02  # TUM rgb/depth/pose association window


@dataclass(frozen=True)
class PerceptionConfig:
    """The network that gives depth, semantics, normals and edges."""

    weights: str | None = None  # our .safetensors, an official .pt, or .onnx; None = the shipped demo weights
    input_size: tuple[int, int] | None = None  # (W, H) network input; None = the model's own
    device: str = "cpu"  # torch device, e.g. "cuda"
    threads: int | None = None  # CPU threads for the network


@dataclass(frozen=True)
class OdometryConfig:
    """RGB-D odometry on predicted depth, frame to model (a raycast of the map)."""

    method: Literal["hybrid", "intensity", "point_to_plane"] = "hybrid"
    target: Literal["keyframe", "frame", "model"] = "keyframe"  # align to the last keyframe, the previous frame, or a map raycast
    iterations: tuple[int, ...] = (10, 10, 5, 3)  # per pyramid level (one entry per level)
    depth_max_m: float = 6.0
    min_fitness: float = 0.15  # share of pixels with a correspondence
    max_inlier_rmse_m: float = 0.05
    max_translation_m: float = 0.3  # per frame; more is a tracking failure
    max_rotation_deg: float = 20.0
    max_prediction_error_m: float = 0.1  # per frame, off the constant-velocity prediction
    max_prediction_error_deg: float = 10.0
    keyframe_translation_m: float = 0.25
    keyframe_rotation_deg: float = 15.0
    deterministic: bool = False  # one Open3D thread: bit-identical reruns and resumes, slower


@dataclass(frozen=True)
class FusionConfig:
    """TSDF fusion with colour, semantic evidence and normals (Open3D VoxelBlockGrid, CPU)."""

    voxel_size_m: float = 0.05
    truncation_m: float = 0.15
    block_resolution: int = 8  # voxels per block side
    max_blocks: int = 40000  # memory budget (8^3 voxels of 41 bytes each); new space is not mapped beyond it
    depth_min_m: float = 0.2
    depth_max_m: float = 5.0
    min_view_cos: float = 0.17  # pixels seen at more than ~80 deg from their normal are not fused; others weigh |cos|
    edge_threshold: float = 0.5  # predicted edge probability above which pixels are not fused
    discontinuity_ratio: float = 0.05  # relative depth jump to a neighbour that marks a flying pixel
    dynamic_dilation_px: int = 5  # grow masks of dynamic classes (people) by this much
    moving_free_space_ratio: float = 0.5  # object segments with this share of samples in seen free space move; 0 = off
    moving_min_area: float = 0.002  # smallest segment checked, as a share of the image
    moving_min_weight: float = 2.0  # map weight (summed view cosines) a voxel needs to count as seen
    moving_track_radius_m: float = 0.3  # same-class segments this close to a moving object are masked too
    mesh_weight_threshold: float = 0.5  # voxels whose summed view cosines are below this are not meshed


@dataclass(frozen=True)
class Config:
    """All settings of a run."""

    input: InputConfig = field(default_factory=InputConfig)
    perception: PerceptionConfig = field(default_factory=PerceptionConfig)
    odometry: OdometryConfig = field(default_factory=OdometryConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)


class _ConfigTypeError(Exception):
    pass


def _describe(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(tp: Any, value: Any, key: str, source: str) -> Any:
    """Check ``value`` against the annotation ``tp`` and convert it (lists to tuples, dicts to dataclasses)."""
    origin, args = get_origin(tp), get_args(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise _ConfigTypeError(f"expected a mapping for section '{key}', got {type(value).__name__}")
        return _build(tp, value, source, key)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for option in args:
            if option is type(None):
                continue
            try:
                return _convert(option, value, key, source)
            except _ConfigTypeError:
                pass
        raise _ConfigTypeError(f"expected {_describe(tp)}, got {value!r}")
    if origin is Literal:
        if value not in args:
            raise _ConfigTypeError(f"expected one of {list(args)}, got {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise _ConfigTypeError(f"expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, key, source) for v in value)
        if len(value) != len(args):
            raise _ConfigTypeError(f"expected a list of {len(args)} values, got {value!r}")
        return tuple(_convert(a, v, key, source) for a, v in zip(args, value))
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _ConfigTypeError(f"expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _ConfigTypeError(f"expected an integer, got {value!r}")
        return value
    if tp in (bool, str):
        if not isinstance(value, tp):
            raise _ConfigTypeError(f"expected {tp.__name__}, got {value!r}")
        return value
    raise TypeError(f"unsupported config annotation {tp!r} for '{key}'")


def _build(schema: type, data: dict, source: str, prefix: str = "") -> Any:
    hints = typing.get_type_hints(schema)
    names = [f.name for f in dataclasses.fields(schema)]
    values = {}
    for key, value in data.items():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise InputError(source, f"unknown config key '{dotted}'{hint}")
        try:
            values[key] = _convert(hints[key], value, dotted, source)
        except _ConfigTypeError as error:
            raise InputError(source, f"config key '{dotted}': {error}") from None
    return schema(**values)


def config_from_dict(data: dict | None, schema: type = Config, source: str = "<config>") -> Any:
    """Build ``schema`` from a (possibly partial) nested dict; missing keys keep their defaults."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(source, "a config file must hold a mapping of sections")
    return _build(schema, data, source)


def load_config(path: str | os.PathLike | None = None, schema: type = Config) -> Any:
    """Load a YAML config into ``schema`` (defaults when ``path`` is None)."""
    if path is None:
        return schema()
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "config file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise InputError(path, f"invalid YAML{where}") from None
    return config_from_dict(data, schema, str(path))


def config_to_dict(config: Any) -> dict:
    """Plain nested dict (tuples as lists) of a config dataclass, for run.json and YAML."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, tuple):
            return [plain(v) for v in value]
        return value

    return plain(config)
