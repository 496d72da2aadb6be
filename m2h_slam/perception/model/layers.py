"""Convolution building blocks of the decoder. Attribute names follow the authors'
checkpoints (``conv``, ``depthwise``/``pointwise``, ``res_conv_unit1`` ...) so their
tensors load by name."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConvModule(nn.Module):
    """A single convolution kept under ``.conv`` (mmcv naming)."""

    def __init__(self, conv: nn.Module):
        super().__init__()
        self.conv = conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class SeparableConv(nn.Module):
    """Depthwise ``k`` x ``k`` then pointwise 1x1 convolution."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, bias: bool = False, dilation: int = 1,
                 depthwise_bias: bool | None = None):
        super().__init__()
        pad = dilation * (kernel // 2)
        self.depthwise = nn.Conv2d(cin, cin, kernel, padding=pad, dilation=dilation, groups=cin,
                                   bias=bias if depthwise_bias is None else depthwise_bias)
        self.pointwise = nn.Conv2d(cin, cout, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


def conv(cin: int, cout: int, kernel: int, lightweight: bool, bias: bool = True) -> nn.Module:
    """A dense or depthwise-separable convolution with 'same' padding."""
    if lightweight:
        return SeparableConv(cin, cout, kernel, bias=bias)
    return nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=bias)


def unit_vectors(x: torch.Tensor, dim: int = 1, eps: float = 1e-12) -> torch.Tensor:
    """``x`` scaled to unit length along ``dim`` (as F.normalize, far faster on NCHW maps on CPU)."""
    return x * torch.rsqrt((x * x).sum(dim, keepdim=True).clamp_min(eps * eps))


def upsample2(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


def resize_to(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return x if x.shape[-2:] == size else F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class ResidualConvUnit(nn.Module):
    """x + conv2(relu(conv1(relu(x)))) (full flavour)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = ConvModule(nn.Conv2d(channels, channels, 3, padding=1, bias=False))
        self.conv2 = ConvModule(nn.Conv2d(channels, channels, 3, padding=1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


class LightResidualUnit(nn.Module):
    """x + separable(relu(x)) (lightweight flavour)."""

    def __init__(self, channels: int):
        super().__init__()
        self.block = nn.Sequential(nn.ReLU(), SeparableConv(channels, channels, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class FusionBlock(nn.Module):
    """DPT feature fusion: add the skip feature, refine, optionally upsample 2x, project 1x1."""

    def __init__(self, channels: int, lightweight: bool, with_skip: bool):
        super().__init__()
        self.lightweight = lightweight
        if lightweight:
            self.res_unit = LightResidualUnit(channels)
            self.project = nn.Conv2d(channels, channels, 1)
        else:
            if with_skip:
                self.res_conv_unit1 = ResidualConvUnit(channels)
            self.res_conv_unit2 = ResidualConvUnit(channels)
            self.project = ConvModule(nn.Conv2d(channels, channels, 1))

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None, upsample: bool = True) -> torch.Tensor:
        if skip is not None:
            x = resize_to(x, skip.shape[-2:])
            x = x + (skip if self.lightweight else self.res_conv_unit1(skip))
        x = self.project(self.res_unit(x) if self.lightweight else self.res_conv_unit2(x))
        # the 1x1 projection before the upsampling: the same function (bilinear weights sum to 1), on 1/4 the pixels
        return upsample2(x) if upsample else x


class ChannelAttention(nn.Sequential):
    """Squeeze-excitation gate: pool, 1x1 down by 4, ReLU, 1x1 up, sigmoid."""

    def __init__(self, channels: int):
        super().__init__(nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, channels // 4, 1, bias=False), nn.ReLU(),
                         nn.Conv2d(channels // 4, channels, 1, bias=False), nn.Sigmoid())


class UpBlock(nn.Module):
    """Two conv-BN-ReLU layers, a 2x upsampling, a residual from the input, a channel gate.

    Full flavour: dense convs and a 2x2 transposed convolution (``upsample.0..6``).
    Lightweight: separable convs (``conv1``/``bn1``/``conv2``/``bn2``), bilinear upsampling,
    a grouped 1x1 refinement; residuals are grouped 1x1 convolutions.
    """

    def __init__(self, cin: int, cout: int, lightweight: bool):
        super().__init__()
        self.lightweight = lightweight
        if lightweight:
            self.conv1, self.bn1 = SeparableConv(cin, cout, 3), nn.BatchNorm2d(cout)
            self.conv2, self.bn2 = SeparableConv(cout, cout, 3), nn.BatchNorm2d(cout)
            self.refine_conv = nn.Conv2d(cout, cout, 1, groups=4, bias=False)
            self.residual = nn.Conv2d(cin, cout, 1, groups=4, bias=False)
        else:
            self.upsample = nn.Sequential(
                nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(),
                nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(),
                nn.ConvTranspose2d(cout, cout, 2, stride=2),
            )
            self.residual = nn.Conv2d(cin, cout, 1)
        self.channel_attn = ChannelAttention(cout)

    def forward(self, x: torch.Tensor, upsample: bool = True) -> torch.Tensor:
        """x (B, cin, h, w) -> (B, cout, 2h, 2w); lightweight with ``upsample`` off: (B, cout, h, w), the block's
        output before its final bilinear upsampling."""
        if not self.lightweight:
            y = self.upsample(x)
            y = y + self.residual(upsample2(x))
            return y * self.channel_attn(y)
        # Defined as upsample(y) + refine(upsample(y)) + residual(upsample(x)), gated by the channel means. All of
        # it but the upsampling is linear per pixel or per channel, and a 2x bilinear upsampling keeps channel means
        # (every source pixel weighs 2 x 2 output pixels): the same function computed at the input resolution,
        # upsampled once.
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = y + self.refine_conv(y) + self.residual(x)
        y = y * self.channel_attn(y)
        return upsample2(y) if upsample else y


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling. Full: 1x1 + three dilated 3x3 (6, 12, 18) + image
    pooling, concatenated into ``conv1``/``bn1``. Lightweight: 1x1 + one dilated separable
    3x3 + image pooling at half width, concatenated into ``project``."""

    def __init__(self, channels: int, lightweight: bool):
        super().__init__()
        self.lightweight = lightweight
        width = channels // 2 if lightweight else channels

        def branch(layer: nn.Module) -> nn.Sequential:
            return nn.Sequential(layer, nn.BatchNorm2d(width), nn.ReLU())

        self.aspp1 = branch(nn.Conv2d(channels, width, 1, bias=False))
        if lightweight:
            self.aspp2 = branch(SeparableConv(channels, width, 3, dilation=6))
        else:
            for k, rate in zip((2, 3, 4), (6, 12, 18)):
                setattr(self, f"aspp{k}", branch(nn.Conv2d(channels, width, 3, padding=rate, dilation=rate, bias=False)))
        # Image pooling: a 1x1 map, so a normalisation without running statistics.
        self.global_avg_pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, width, 1, bias=False),
                                             nn.GroupNorm(1, width), nn.ReLU())
        branches = 3 if lightweight else 5
        if lightweight:
            self.project = nn.Sequential(nn.Conv2d(branches * width, channels, 1, bias=False), nn.BatchNorm2d(channels), nn.ReLU())
        else:
            self.conv1 = nn.Conv2d(branches * width, channels, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        names = ("aspp1", "aspp2") if self.lightweight else ("aspp1", "aspp2", "aspp3", "aspp4")
        outs = [getattr(self, n)(x) for n in names]
        pooled = self.global_avg_pool(x).expand(-1, -1, *x.shape[-2:])
        y = torch.cat(outs + [pooled], dim=1)
        return self.project(y) if self.lightweight else F.relu(self.bn1(self.conv1(y)))


class Refine(nn.Module):
    """Residual refinement at the output resolution."""

    def __init__(self, channels: int, lightweight: bool):
        super().__init__()
        self.lightweight = lightweight
        if lightweight:
            self.conv = nn.Sequential(SeparableConv(channels, channels, 3), nn.ReLU())
        else:
            self.conv1 = ConvModule(nn.Conv2d(channels, channels, 3, padding=1))
            self.conv2 = ConvModule(nn.Conv2d(channels, channels, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.lightweight:
            return x + self.conv(x)
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


class DenseHead(nn.Module):
    """Depth / semantics head: ASPP, two up-blocks, refinement, spatial gate, final conv."""

    def __init__(self, channels: int, head_channels: tuple[int, int], out_channels: int, final_kernel: int,
                 lightweight: bool):
        super().__init__()
        c1, c2 = head_channels
        self.aspp = ASPP(channels, lightweight)
        self.upsample1 = UpBlock(channels, c1, lightweight)
        self.upsample2 = UpBlock(c1, c2, lightweight)
        self.refine = Refine(c2, lightweight)
        self.spatial_attn = nn.Sequential(nn.Conv2d(c2, 1, 3, padding=1), nn.Sigmoid())
        self.final_conv = nn.Conv2d(c2, out_channels, final_kernel, padding=final_kernel // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.refine(self.upsample2(self.upsample1(self.aspp(x))))
        return self.final_conv(y * self.spatial_attn(y))


class SimpleHead(nn.Module):
    """Normals / edges head: two up-blocks and a 1x1 convolution (``head.0..2``)."""

    def __init__(self, channels: int, head_channels: tuple[int, int], out_channels: int, lightweight: bool):
        super().__init__()
        c1, c2 = head_channels
        self.head = nn.Sequential(UpBlock(channels, c1, lightweight), UpBlock(c1, c2, lightweight),
                                  nn.Conv2d(c2, out_channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first, second, last = self.head
        if not second.lightweight:
            return self.head(x)
        # the final 1x1 convolution before the second block's upsampling (the same function, 1/4 the pixels)
        return upsample2(last(second(first(x), upsample=False)))
