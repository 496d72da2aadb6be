"""ONNX exports of our weights, made once per (weights file, input size) and kept in a cache folder, so that the
default CPU runtime is ONNX Runtime without the user exporting anything.

Cache folder: ``$M2H_SLAM_CACHE``, else ``$XDG_CACHE_HOME/m2h-slam``, else ``~/.cache/m2h-slam``. A file is
named by the weights' SHA-256 and the input size and written atomically (concurrent runs cannot see half a file).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

# bump when export_onnx changes what it writes (2: fused window attention, 3: fused backbone attention,
# 4: the decoder's rearranged forwards: stacked per-task modules, pointwise layers before the upsampling)
EXPORT_VERSION = 4


def cache_dir() -> Path:
    if os.environ.get("M2H_SLAM_CACHE"):
        return Path(os.environ["M2H_SLAM_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "m2h-slam"


def cached_onnx(weights: str | os.PathLike, input_size: tuple[int, int], model=None) -> Path:
    """The ONNX export of ``weights`` at ``input_size`` (W, H), exported now if the cache lacks it (from ``model``,
    the loaded weights, when the caller has them)."""
    from m2h_slam.perception.model.weights import load_weights
    from m2h_slam.perception.onnx_export import export_onnx

    weights = Path(weights)
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()[:16]
    width, height = input_size
    path = cache_dir() / f"{weights.stem}-{digest}-{width}x{height}-v{EXPORT_VERSION}.onnx"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        export_onnx(model if model is not None else load_weights(weights), path, height, width)
    return path
