"""``M2HConfig``: everything that fixes the network's structure, as a frozen dataclass
that round-trips through JSON (stored inside our checkpoints)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

TASKS = ("edges", "normals", "sem_seg", "depth")  # the official module order

#: Official preprocessing (RGB in [0, 1]).
IMAGE_MEAN = (0.4803, 0.4800, 0.4723)
IMAGE_STD = (0.2594, 0.2573, 0.2641)


@dataclass(frozen=True)
class M2HConfig:
    """Structure of an M2H network.

    backbone: timm model name; depth/num_heads/embed_dim override it (tiny models).
    taps: backbone blocks whose outputs feed the decoder. channels: fusion width.
    flavour: 'full' (dense convs) or 'lightweight' (depthwise-separable, attention in
    ``attn_dim`` channels). official_decode: decode at 32x the patch grid as the authors'
    code (outputs 512x512 for 224x224); otherwise at 8x the grid (below input resolution).
    """

    name: str
    backbone: str = "vit_small_patch14_dinov2"
    embed_dim: int = 384
    depth: int | None = None
    num_heads: int | None = None
    backbone_img_size: int = 518  # position-embedding grid of the pretrained weights (37x37)
    taps: tuple[int, ...] = (2, 5, 8, 11)
    post_process_channels: tuple[int, ...] = (48, 96, 192, 384)
    channels: int = 256
    flavour: Literal["full", "lightweight"] = "full"
    attn_dim: int | None = None  # None: ``channels``
    attn_heads: int = 4
    attn_layers: int = 2
    window: int = 7
    ffn_ratio: int = 4
    head_channels: tuple[int, int] = (128, 64)
    num_classes: int = 41
    min_depth_m: float = 0.001
    max_depth_m: float = 10.0
    official_decode: bool = False
    freeze_backbone: bool = True
    input_size: tuple[int, int] = (224, 224)  # (W, H) the Predictor resizes images to by default

    @property
    def attention_dim(self) -> int:
        return self.attn_dim or self.channels

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> M2HConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown config keys: {', '.join(sorted(unknown))}")
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**values)

    def replace(self, **changes) -> M2HConfig:
        return dataclasses.replace(self, **changes)
