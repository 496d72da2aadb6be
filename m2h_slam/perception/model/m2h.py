"""The M2H network: DINOv2 backbone + multi-task decoder, outputs at the input size (or at the heads' resolution)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from m2h_slam.perception.model.backbone import DinoBackbone
from m2h_slam.perception.model.config import M2HConfig
from m2h_slam.perception.model.decoder import MultiTaskHead
from m2h_slam.perception.model.layers import unit_vectors


class M2H(nn.Module):
    """forward(images (B, 3, H, W) normalised) -> dict of (B, *, H, W) tensors:
    depth (m, in [min_depth, max_depth]), sem_seg (logits, num_classes), normals (unit),
    edges (logit). With ``resize_outputs`` off the maps stay at the heads' resolution (h, w < H, W)."""

    def __init__(self, config: M2HConfig):
        super().__init__()
        self.config = config
        self.backbone = DinoBackbone(config)
        self.mlt_head = MultiTaskHead(config)
        # False: outputs at the heads' resolution, the border padding dropped (the export's ``windows_native``
        # variant: the predictor resizes them to the image once instead of twice)
        self.resize_outputs = True

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        H, W = int(images.shape[-2]), int(images.shape[-1])  # ints also while tracing for ONNX
        left, right, top, bottom = self.backbone.padding(H, W)
        raw = self.mlt_head(self.backbone(images))
        out = {}
        for task, x in raw.items():
            # Drop the padded border (in output pixels), then resize to the input.
            h, w = int(x.shape[-2]), int(x.shape[-1])  # ints also while tracing for ONNX
            sy, sx = h / (H + top + bottom), w / (W + left + right)
            y0, y1 = round(top * sy), h - round(bottom * sy)
            x0, x1 = round(left * sx), w - round(right * sx)
            if (y0, y1, x0, x1) != (0, h, 0, w):  # a copy of the map otherwise (41 channels for the classes)
                x = x[..., y0:y1, x0:x1]
            out[task] = F.interpolate(x, size=(H, W), mode="bilinear", align_corners=False) if self.resize_outputs \
                else x
        c = self.config
        out["depth"] = (F.relu(out["depth"]) + c.min_depth_m).clamp(max=c.max_depth_m)
        out["normals"] = unit_vectors(out["normals"])
        return out

    def train(self, mode: bool = True) -> M2H:
        super().train(mode)
        if self.backbone.frozen:
            self.backbone.vit.eval()  # a frozen backbone stays in inference mode
        return self
