"""The M2H multi-task network (PyTorch + timm): registry, backbone, decoder, losses, weights."""

from m2h_slam.perception.model.config import M2HConfig
from m2h_slam.perception.model.registry import create_model, get_config, list_models

__all__ = ["M2HConfig", "create_model", "get_config", "list_models"]
