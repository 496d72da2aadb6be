"""DINOv2 ViT backbone through timm: any input size (centre-padded to a multiple of the
patch), four tapped blocks without the final norm, with their class tokens."""

from __future__ import annotations

import timm
import torch
import torch.nn.functional as F
from torch import nn

from m2h_slam.perception.model.config import M2HConfig


class DinoBackbone(nn.Module):
    """Holds the timm ViT as ``vit`` (its parameter names equal the torch-hub DINOv2 names)."""

    def __init__(self, config: M2HConfig):
        super().__init__()
        kwargs = {"embed_dim": config.embed_dim}
        if config.depth is not None:
            kwargs["depth"] = config.depth
        if config.num_heads is not None:
            kwargs["num_heads"] = config.num_heads
        self.vit = timm.create_model(config.backbone, pretrained=False, dynamic_img_size=True, num_classes=0,
                                     img_size=config.backbone_img_size, **kwargs)
        self.taps = list(config.taps)
        self.patch = self.vit.patch_embed.patch_size[0]
        self.frozen = False
        if config.freeze_backbone:
            self.freeze()

    def freeze(self, frozen: bool = True) -> None:
        """Frozen: no gradients, and run without building a graph."""
        self.frozen = frozen
        self.vit.requires_grad_(not frozen)

    def padding(self, height: int, width: int) -> tuple[int, int, int, int]:
        """(left, right, top, bottom) centre padding to a multiple of the patch size."""
        ph, pw = (-height) % self.patch, (-width) % self.patch
        return pw // 2, pw - pw // 2, ph // 2, ph - ph // 2

    def forward(self, images: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """images (B, 3, H, W) normalised -> per tap (map (B, E, H/14, W/14), class token (B, 1, E))."""
        x = F.pad(images, self.padding(int(images.shape[-2]), int(images.shape[-1])))
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            layers = self.vit.forward_intermediates(x, indices=self.taps, norm=False, return_prefix_tokens=True,
                                                    intermediates_only=True)
        return [(fmap, cls[:, :1]) for fmap, cls in layers]
