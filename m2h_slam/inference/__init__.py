"""Inference: the ``Predictor`` (PyTorch or ONNX Runtime) and ONNX export."""

from m2h_slam.inference.predictor import OnnxBackend, Predictor, TorchBackend

__all__ = ["OnnxBackend", "Predictor", "TorchBackend"]
