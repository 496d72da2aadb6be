"""The lightweight decoder's per-task modules run side by side: the n inputs stacked along channels, each step one
grouped convolution (or normalisation) over all of them instead of one per module. The same functions as the
modules' own forwards (tested); ONNX Runtime runs a few hundred fewer operations per frame.

    x = torch.cat([a, b], dim=1)                       # (B, 2 * cin, H, W)
    y = stacked_up_block([head_a.upsample1, head_b.upsample1], x)   # (B, 2 * cout, 2H, 2W)

Batch normalisations use their running statistics, so the stacked forms are for inference (``not training``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from m2h_slam.perception.model.layers import resize_to, upsample2


def stacked_conv(convs, x: torch.Tensor) -> torch.Tensor:
    """``convs`` (n ``nn.Conv2d`` of one shape) on x (B, n * cin, H, W) -> (B, n * cout, H', W')."""
    first = convs[0]
    weight = torch.cat([c.weight for c in convs])
    bias = None if first.bias is None else torch.cat([c.bias for c in convs])
    return F.conv2d(x, weight, bias, first.stride, first.padding, first.dilation, first.groups * len(convs))


def stacked_separable(convs, x: torch.Tensor) -> torch.Tensor:
    """``stacked_conv`` for ``SeparableConv``s."""
    return stacked_conv([c.pointwise for c in convs], stacked_conv([c.depthwise for c in convs], x))


def stacked_batch_norm(norms, x: torch.Tensor) -> torch.Tensor:
    """``nn.BatchNorm2d``s (evaluation: running statistics) on their stacked inputs."""
    def cat(name: str) -> torch.Tensor:
        return torch.cat([getattr(n, name) for n in norms])

    return F.batch_norm(x, cat("running_mean"), cat("running_var"), cat("weight"), cat("bias"), training=False,
                        eps=norms[0].eps)


def stacked_group_norm(norms, x: torch.Tensor) -> torch.Tensor:
    """``nn.GroupNorm``s on their stacked inputs."""
    return F.group_norm(x, norms[0].num_groups * len(norms), torch.cat([n.weight for n in norms]),
                        torch.cat([n.bias for n in norms]), norms[0].eps)


def _conv_bn_relu(layers, x: torch.Tensor, separable: bool = False) -> torch.Tensor:
    """Stacked ``Sequential(conv, BatchNorm2d, ReLU)``s."""
    convs, norms = [layer[0] for layer in layers], [layer[1] for layer in layers]
    return F.relu(stacked_batch_norm(norms, (stacked_separable if separable else stacked_conv)(convs, x)))


def stacked_up_block(blocks, x: torch.Tensor, upsample: bool = True) -> torch.Tensor:
    """Lightweight ``UpBlock``s: (B, n * cin, h, w) -> (B, n * cout, 2h, 2w), or (h, w) without ``upsample``."""
    y = F.relu(stacked_batch_norm([b.bn1 for b in blocks], stacked_separable([b.conv1 for b in blocks], x)))
    y = F.relu(stacked_batch_norm([b.bn2 for b in blocks], stacked_separable([b.conv2 for b in blocks], y)))
    y = y + stacked_conv([b.refine_conv for b in blocks], y) + stacked_conv([b.residual for b in blocks], x)
    gates = F.adaptive_avg_pool2d(y, 1)
    gates = F.relu(stacked_conv([b.channel_attn[1] for b in blocks], gates))
    y = y * torch.sigmoid(stacked_conv([b.channel_attn[3] for b in blocks], gates))
    return upsample2(y) if upsample else y


def stacked_aspp(aspps, x: torch.Tensor) -> torch.Tensor:
    """Lightweight ``ASPP``s: (B, n * C, h, w) -> (B, n * C, h, w)."""
    n = len(aspps)
    B, _, h, w = x.shape
    near = _conv_bn_relu([a.aspp1 for a in aspps], x)
    far = _conv_bn_relu([a.aspp2 for a in aspps], x, separable=True)
    pools = [a.global_avg_pool for a in aspps]
    pooled = stacked_conv([p[1] for p in pools], F.adaptive_avg_pool2d(x, 1))
    pooled = F.relu(stacked_group_norm([p[2] for p in pools], pooled)).expand(-1, -1, h, w)
    # each module concatenates its own three branches: (B, n, 3 * width, h, w)
    branches = torch.cat([t.reshape(B, n, -1, h, w) for t in (near, far, pooled)], dim=2).flatten(1, 2)
    return _conv_bn_relu([a.project for a in aspps], branches)


def stacked_refine(refines, x: torch.Tensor) -> torch.Tensor:
    """Lightweight ``Refine``s on their stacked inputs."""
    return x + F.relu(stacked_separable([r.conv[0] for r in refines], x))


def _fusion_blocks(blocks, x: torch.Tensor) -> torch.Tensor:
    """Lightweight ``FusionBlock``s without skip input or upsampling."""
    x = x + stacked_separable([b.res_unit.block[1] for b in blocks], F.relu(x))
    return stacked_conv([b.project for b in blocks], x)


def stacked_unique_features(uniques, last_map: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Lightweight ``UniqueFeature``s of one map (B, E, h, w) -> (B, n * C, *size)."""
    x = last_map.repeat(1, len(uniques), 1, 1)
    x = stacked_separable([u.reassemble.projects.conv for u in uniques], x)
    x = stacked_conv([u.reassemble.resize_layers for u in uniques], x)
    x = stacked_separable([u.conv_proj.conv for u in uniques], x)
    return resize_to(_fusion_blocks([u.fusion_block for u in uniques], x), size)


def stacked_gated_merge(merges, orig: torch.Tensor, attended: torch.Tensor, unique: torch.Tensor) -> torch.Tensor:
    """Lightweight ``GatedMerge``s of stacked (B, n * C, h, w) inputs -> (B, n * C, h, w)."""
    n = len(merges)
    B, _, h, w = orig.shape
    streams = [stacked_conv([getattr(m, name) for m in merges], x)
               for name, x in (("conv_orig", orig), ("conv_attn", attended), ("conv_uniq", unique))]
    streams = torch.stack([s.reshape(B, n, -1, h, w) for s in streams], dim=2)  # (B, n, 3, C, h, w)
    gates = stacked_conv([m.gate_fc[0] for m in merges], F.adaptive_avg_pool2d(streams.flatten(1, 3), 1))
    fused = (torch.sigmoid(gates).reshape(B, n, 3, -1, 1, 1) * streams).sum(dim=2).flatten(1, 2)
    fused = fused + stacked_conv([m.ffn[2] for m in merges], F.gelu(stacked_conv([m.ffn[0] for m in merges], fused)))
    return attended + stacked_conv([m.out_conv for m in merges], fused)
