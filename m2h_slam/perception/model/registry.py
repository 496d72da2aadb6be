"""Named model configs, timm style: ``create_model("m2h_vits14")``."""

from __future__ import annotations

from m2h_slam.perception.model.config import M2HConfig

_REGISTRY: dict[str, M2HConfig] = {}


def register(config: M2HConfig) -> M2HConfig:
    _REGISTRY[config.name] = config
    return config


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def get_config(name: str, **overrides) -> M2HConfig:
    if name not in _REGISTRY:
        raise KeyError(f"unknown model {name!r}; choose from {', '.join(list_models())}")
    return _REGISTRY[name].replace(**overrides) if overrides else _REGISTRY[name]


def create_model(name: str, pretrained: bool = False, **overrides):
    """Build a registered model. ``pretrained=True`` is refused: weights are never downloaded;
    load local files with ``m2h_slam.perception.model.weights``."""
    if pretrained:
        raise ValueError("pretrained=True would download weights; load a local file with load_weights() instead")
    from m2h_slam.perception.model.m2h import M2H

    return M2H(get_config(name, **overrides))


# The paper's M2H (ViT-S/14 + full decoder, 256 channels) and M2H-small (lightweight decoder).
register(M2HConfig("m2h_vits14"))
register(M2HConfig("m2h_small_vits14", flavour="lightweight", channels=96, attn_dim=24))
register(M2HConfig("m2h_vitb14", backbone="vit_base_patch14_dinov2", embed_dim=768,
                   post_process_channels=(96, 192, 384, 768)))
register(M2HConfig("m2h_vitl14", backbone="vit_large_patch14_dinov2", embed_dim=1024, taps=(4, 11, 17, 23),
                   post_process_channels=(128, 256, 512, 1024)))
# CPU-trainable model for the demo weights: a 4-block, 192-wide ViT and a lightweight decoder.
register(M2HConfig("m2h_tiny", embed_dim=192, depth=4, num_heads=3, backbone_img_size=224, taps=(0, 1, 2, 3),
                   post_process_channels=(32, 48, 96, 192), flavour="lightweight", channels=48, attn_dim=24,
                   head_channels=(32, 16), freeze_backbone=False, input_size=(224, 168)))
