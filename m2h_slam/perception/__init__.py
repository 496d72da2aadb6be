"""Perception: the M2H network (``perception.model``), the ``Predictor`` (PyTorch or ONNX Runtime), ONNX export,
the ground-truth stand-in, and the run's one ``Perception`` (``perception.perception``) with the demo weights.

Importing the package does not import torch; ``Predictor`` and its kin load it when first named.
"""

from importlib import import_module

_LAZY = {"OnnxBackend": "predictor", "Predictor": "predictor", "TorchBackend": "predictor", "check_device": "predictor",
         "Perception": "perception", "demo_weights": "perception"}
__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(f"m2h_slam.perception.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'm2h_slam.perception' has no attribute {name!r}")
