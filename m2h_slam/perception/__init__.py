"""Perception: the M2H network (``perception.model``), the ``Predictor`` (PyTorch or ONNX Runtime), ONNX export,
and the ground-truth stand-in."""

from m2h_slam.perception.predictor import OnnxBackend, Predictor, TorchBackend, check_device

__all__ = ["check_device", "OnnxBackend", "Predictor", "TorchBackend"]
