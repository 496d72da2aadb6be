"""``M2HConfig``: everything that fixes the network's structure, as a frozen dataclass
that round-trips through JSON (stored inside our checkpoints)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from m2h_slam.core.config import AT_LEAST_ONE, NETWORK_SIDE_PX, NON_NEGATIVE, POSITIVE, Checked, Range, ranged

TASKS = ("edges", "normals", "sem_seg", "depth")  # the official module order

#: Official preprocessing (RGB in [0, 1]).
IMAGE_MEAN = (0.4803, 0.4800, 0.4723)
IMAGE_STD = (0.2594, 0.2573, 0.2641)


@dataclass(frozen=True)
class M2HConfig(Checked):
    """Structure of an M2H network.

    backbone: timm model name; depth/num_heads/embed_dim override it (tiny models).
    taps: backbone blocks whose outputs feed the decoder. channels: fusion width.
    flavour: 'full' (dense convs) or 'lightweight' (depthwise-separable, attention in
    ``attn_dim`` channels). official_decode: decode at 32x the patch grid as the authors'
    code (outputs 512x512 for 224x224); otherwise at 8x the grid (below input resolution).
    """

    name: str
    backbone: str = "vit_small_patch14_dinov2"
    embed_dim: int = ranged(384, AT_LEAST_ONE)
    depth: int | None = ranged(None, AT_LEAST_ONE)
    num_heads: int | None = ranged(None, AT_LEAST_ONE)
    backbone_img_size: int = ranged(518, NETWORK_SIDE_PX)  # position-embedding grid of the pretrained weights (37x37)
    taps: tuple[int, ...] = ranged((2, 5, 8, 11), NON_NEGATIVE)
    post_process_channels: tuple[int, ...] = ranged((48, 96, 192, 384), AT_LEAST_ONE)
    channels: int = ranged(256, AT_LEAST_ONE)
    flavour: Literal["full", "lightweight"] = "full"
    attn_dim: int | None = ranged(None, AT_LEAST_ONE)  # None: ``channels``
    attn_heads: int = ranged(4, AT_LEAST_ONE)
    attn_layers: int = ranged(2, AT_LEAST_ONE)
    window: int = ranged(7, AT_LEAST_ONE)
    ffn_ratio: int = ranged(4, AT_LEAST_ONE)
    head_channels: tuple[int, int] = ranged((128, 64), AT_LEAST_ONE)
    num_classes: int = ranged(41, Range(2))
    min_depth_m: float = ranged(0.001, POSITIVE)
    max_depth_m: float = ranged(10.0, POSITIVE)
    official_decode: bool = False
    freeze_backbone: bool = True
    input_size: tuple[int, int] = ranged((224, 224), NETWORK_SIDE_PX)  # (W, H) the Predictor resizes images to by default

    def _relations(self) -> list[tuple[str, str]]:
        if self.min_depth_m >= self.max_depth_m:
            return [("min_depth_m", f"must be below max_depth_m ({self.max_depth_m:g}), got {self.min_depth_m:g}")]
        if len(self.taps) != len(self.post_process_channels):
            return [("taps", f"needs one entry per post_process_channels ({len(self.post_process_channels)}), "
                             f"got {len(self.taps)}")]
        return []

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
