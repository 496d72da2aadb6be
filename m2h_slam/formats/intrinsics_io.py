"""Intrinsics files: YAML or JSON with ``fx, fy, cx, cy, width, height``, or ``K`` (3x3) with ``width, height``."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from m2h_slam.core.atomic import atomic_write_text
from m2h_slam.core.errors import InputError, require_file
from m2h_slam.core.intrinsics import Intrinsics
from m2h_slam.core.yaml_numbers import load_yaml


def intrinsics_from_mapping(data: object, source: str | os.PathLike) -> Intrinsics:
    """Intrinsics from a parsed mapping; ``InputError`` naming ``source`` when malformed."""
    if not isinstance(data, dict):
        raise InputError(source, "intrinsics must be a mapping with fx, fy, cx, cy, width, height")
    data = dict(data)
    if "K" in data:
        K = data.pop("K")
        try:
            (fx, _, cx), (_, fy, cy), _ = K
        except (TypeError, ValueError):
            raise InputError(source, "intrinsics 'K' must be a 3x3 list of numbers") from None
        data.update(fx=fx, fy=fy, cx=cx, cy=cy)
    keys = ("fx", "fy", "cx", "cy", "width", "height")
    missing = [k for k in keys if k not in data]
    if missing:
        raise InputError(source, f"intrinsics miss {', '.join(missing)}")
    unknown = sorted(set(data) - set(keys))
    if unknown:
        raise InputError(source, f"unknown intrinsics keys {', '.join(map(str, unknown))}")
    try:
        K = Intrinsics(**{k: data[k] for k in keys})
    except (ValueError, TypeError) as error:
        raise InputError(source, f"malformed intrinsics: {error}") from None
    if not (-0.5 <= K.cx <= K.width - 0.5 and -0.5 <= K.cy <= K.height - 0.5):
        raise InputError(source, f"principal point ({K.cx:g}, {K.cy:g}) lies outside the {K.width}x{K.height} image")
    return K


def load_intrinsics(path: str | os.PathLike) -> Intrinsics:
    """Read an intrinsics file (YAML or JSON; JSON is YAML)."""
    path = Path(path)
    require_file(path, "intrinsics")
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError):
        raise InputError(path, "intrinsics file is not valid YAML/JSON") from None
    return intrinsics_from_mapping(data, path)


def save_intrinsics(path: str | os.PathLike, intrinsics: Intrinsics) -> Path:
    """Write intrinsics as YAML, atomically."""
    return atomic_write_text(path, yaml.safe_dump(intrinsics.to_dict(), sort_keys=False))
