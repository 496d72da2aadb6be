"""Inference: the ``Predictor`` (PyTorch or ONNX Runtime) and ONNX export."""

from m2h_slam.inference.predictor import OnnxBackend, Predictor, TorchBackend, check_device

__all__ = ["check_device", "OnnxBackend", "Predictor", "TorchBackend"]
