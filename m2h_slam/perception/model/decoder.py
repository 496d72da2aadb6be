"""The M2H multi-task decoder (``mlt_head``): DPT reassembly, per-task fusion chains,
window cross-task attention, gated global feature merging, four task heads."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from m2h_slam.perception.model.attention import CrossTaskAttentionLayer, attend_in_windows
from m2h_slam.perception.model.config import TASKS, M2HConfig
from m2h_slam.perception.model.layers import (
    ConvModule,
    DenseHead,
    FusionBlock,
    SeparableConv,
    SimpleHead,
    conv,
    resize_to,
    upsample2,
)
from m2h_slam.perception.model.stacked import (
    stacked_aspp,
    stacked_conv,
    stacked_gated_merge,
    stacked_refine,
    stacked_separable,
    stacked_unique_features,
    stacked_up_block,
)


class Reassemble(nn.Module):
    """Backbone tokens -> 4 maps at 4x, 2x, 1x and 1/2x the patch grid (class-token readout 'project')."""

    def __init__(self, embed_dim: int, out_channels: tuple[int, ...], lightweight: bool):
        super().__init__()
        self.readout_projects = nn.ModuleList(nn.Sequential(nn.Linear(2 * embed_dim, embed_dim), nn.GELU())
                                              for _ in out_channels)
        self.projects = nn.ModuleList(ConvModule(_pointwise(embed_dim, c, lightweight)) for c in out_channels)
        c = out_channels
        self.resize_layers = nn.ModuleList([
            nn.ConvTranspose2d(c[0], c[0], 4, stride=4), nn.ConvTranspose2d(c[1], c[1], 2, stride=2), nn.Identity(),
            nn.Conv2d(c[3], c[3], 3, stride=2, padding=1),
        ])

    def forward(self, layers: list[tuple[torch.Tensor, torch.Tensor]]) -> list[torch.Tensor]:
        outs = []
        for i, (fmap, cls) in enumerate(layers):
            B, C, H, W = fmap.shape
            tokens = fmap.flatten(2).transpose(1, 2)
            # Linear(cat(token, class token)) as the token's product plus the class token's, which all tokens share
            linear, gelu = self.readout_projects[i]
            w_token, w_class = linear.weight.split(C, dim=1)
            tokens = gelu(F.linear(tokens, w_token) + F.linear(cls, w_class, linear.bias))
            x = tokens.transpose(1, 2).reshape(B, C, H, W)
            outs.append(self.resize_layers[i](self.projects[i](x)))
        return outs


def _pointwise(cin: int, cout: int, lightweight: bool) -> nn.Module:
    """1x1 projection; the lightweight flavour writes it as a (1x1 depthwise, 1x1 pointwise) pair."""
    if lightweight:
        return SeparableConv(cin, cout, 1, bias=True)
    return nn.Conv2d(cin, cout, 1)


class UniqueFeature(nn.Module):
    """Task-specific global context from the last backbone map: project, downsample, fuse."""

    def __init__(self, embed_dim: int, channels: int, lightweight: bool):
        super().__init__()
        self.reassemble = nn.Module()
        self.reassemble.projects = ConvModule(_pointwise(embed_dim, embed_dim, lightweight))
        self.reassemble.resize_layers = nn.Conv2d(embed_dim, embed_dim, 3, stride=2, padding=1)
        self.conv_proj = ConvModule(conv(embed_dim, channels, 3, lightweight, bias=True))
        self.fusion_block = FusionBlock(channels, lightweight, with_skip=False)

    def forward(self, last_map: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        x = self.reassemble.resize_layers(self.reassemble.projects(last_map))
        x = self.fusion_block(self.conv_proj(x), upsample=False)
        return resize_to(x, size)


class GatedMerge(nn.Module):
    """Global Gated Feature Merging: gates from global context weigh the pre-attention,
    post-attention and unique features of a task; an FFN and a 1x1 conv follow."""

    def __init__(self, channels: int, lightweight: bool):
        super().__init__()
        groups = 4 if lightweight else 1
        self.conv_orig = nn.Conv2d(channels, channels, 1, groups=groups, bias=False)
        self.conv_attn = nn.Conv2d(channels, channels, 1, groups=groups, bias=False)
        self.conv_uniq = nn.Conv2d(channels, channels, 1, groups=groups, bias=False)
        if lightweight:
            self.gate_fc = nn.Sequential(nn.Conv2d(3 * channels, 3 * channels, 1, bias=False), nn.Sigmoid())
            hidden = channels * 3 // 2
        else:
            self.gate_fc = nn.Sequential(nn.Conv2d(3 * channels, channels, 1, bias=False), nn.ReLU(),
                                         nn.Conv2d(channels, 3 * channels, 1, bias=False), nn.Sigmoid())
            hidden = channels * 4
        self.ffn = nn.Sequential(nn.Conv2d(channels, hidden, 1, bias=False), nn.GELU(), nn.Conv2d(hidden, channels, 1, bias=False))
        self.out_conv = nn.Conv2d(channels, channels, 1, bias=False)

    def forward(self, orig: torch.Tensor, attended: torch.Tensor, unique: torch.Tensor) -> torch.Tensor:
        streams = [self.conv_orig(orig), self.conv_attn(attended), self.conv_uniq(unique)]
        gates = self.gate_fc(F.adaptive_avg_pool2d(torch.cat(streams, dim=1), 1)).chunk(3, dim=1)
        fused = sum(g * s for g, s in zip(gates, streams))
        fused = fused + self.ffn(fused)
        return attended + self.out_conv(fused)


class MultiTaskHead(nn.Module):
    """Backbone taps -> per-task outputs (logits / raw maps) at the decode resolution."""

    def __init__(self, config: M2HConfig):
        super().__init__()
        self.config = config
        light = config.flavour == "lightweight"
        C, A = config.channels, config.attention_dim
        self.reassemble_blocks = Reassemble(config.embed_dim, config.post_process_channels, light)
        self.convs = nn.ModuleList(ConvModule(conv(c, C, 3, light, bias=False)) for c in config.post_process_channels)
        for task in TASKS:
            setattr(self, f"fusion_blocks_{task}", nn.ModuleList(FusionBlock(C, light, with_skip=i > 0) for i in range(4)))
            setattr(self, f"project_{task}", ConvModule(conv(C, C, 3, light, bias=True)))
        self.cross_attn = nn.ModuleList(
            CrossTaskAttentionLayer(A, len(TASKS), config.attn_heads, config.ffn_ratio, config.window)
            for _ in range(config.attn_layers)
        )
        if light:
            self.pre_attn_proj = nn.ModuleDict({t: nn.Conv2d(C, A, 1) for t in TASKS})
            self.post_attn_proj = nn.ModuleDict({t: nn.Conv2d(A, C, 1) for t in TASKS})
        self.unique_depth_feature = UniqueFeature(config.embed_dim, C, light)
        self.unique_semantic_feature = UniqueFeature(config.embed_dim, C, light)
        self.restore_depth = GatedMerge(C, light)
        self.restore_semseg = GatedMerge(C, light)
        hc = config.head_channels
        self.conv_depth = DenseHead(C, hc, 1, 3, light)
        self.seg_out = DenseHead(C, hc, config.num_classes, 1, light)
        self.conv_normal = SimpleHead(C, hc, 3, light)
        self.conv_edge = SimpleHead(C, hc, 1, light)

    def forward(self, layers: list[tuple[torch.Tensor, torch.Tensor]]) -> dict[str, torch.Tensor]:
        feats = [c(f) for c, f in zip(self.convs, self.reassemble_blocks(layers))]
        light = self.config.flavour == "lightweight"
        task_feats = self._task_features(feats)  # (B, T * C, h, w), the tasks in TASKS order
        B, _, h, w = task_feats.shape
        attn_in = stacked_conv([self.pre_attn_proj[t] for t in TASKS], task_feats) if light else task_feats
        attended = attend_in_windows(self.cross_attn, attn_in.reshape(B, len(TASKS), -1, h, w)).flatten(1, 2)
        if light:
            attended = stacked_conv([self.post_attn_proj[t] for t in TASKS], attended)
        last_map = layers[-1][0]
        if light and not self.training:
            return self._stacked_outputs(task_feats, attended, last_map)
        task_feats = dict(zip(TASKS, task_feats.split(self.config.channels, dim=1)))
        attended = dict(zip(TASKS, attended.split(self.config.channels, dim=1)))
        depth_feat = self.restore_depth(task_feats["depth"], attended["depth"], self.unique_depth_feature(last_map, (h, w)))
        sem_feat = self.restore_semseg(task_feats["sem_seg"], attended["sem_seg"], self.unique_semantic_feature(last_map, (h, w)))
        return {
            "depth": self.conv_depth(depth_feat),
            "sem_seg": self.seg_out(sem_feat),
            "normals": self.conv_normal(attended["normals"]),
            "edges": self.conv_edge(attended["edges"]),
        }

    def _stacked_outputs(self, task_feats: torch.Tensor, attended: torch.Tensor,
                         last_map: torch.Tensor) -> dict[str, torch.Tensor]:
        """The lightweight modules after the attention, those of one kind side by side (inference; the same as
        their forwards): task maps (B, T * C, h, w) stacked in TASKS order."""
        C = self.config.channels
        dense = (self.seg_out, self.conv_depth)  # in TASKS order: sem_seg, depth
        simple = (self.conv_normal, self.conv_edge)
        h, w = task_feats.shape[-2:]
        first, last = TASKS.index("sem_seg") * C, (TASKS.index("depth") + 1) * C
        unique = stacked_unique_features([self.unique_semantic_feature, self.unique_depth_feature], last_map, (h, w))
        x = stacked_gated_merge([self.restore_semseg, self.restore_depth], task_feats[:, first:last],
                                attended[:, first:last], unique)
        normals, edges = (attended[:, TASKS.index(t) * C:(TASKS.index(t) + 1) * C] for t in ("normals", "edges"))
        x = torch.cat([stacked_aspp([head.aspp for head in dense], x), normals, edges], dim=1)
        x = stacked_up_block([head.upsample1 for head in dense] + [head.head[0] for head in simple], x)
        x = stacked_up_block([head.upsample2 for head in dense] + [head.head[1] for head in simple], x,
                             upsample=False)
        c = x.shape[1] // 4
        y = stacked_refine([head.refine for head in dense], upsample2(x[:, :2 * c]))
        gates = torch.sigmoid(stacked_conv([head.spatial_attn[0] for head in dense], y))
        B, _, H, W = y.shape
        y = (y.reshape(B, 2, c, H, W) * gates[:, :, None]).flatten(1, 2)
        return {
            "depth": self.conv_depth.final_conv(y[:, c:]),
            "sem_seg": self.seg_out.final_conv(y[:, :c]),
            # the final 1x1 convolution before the upsampling (the same function, 1/4 the pixels)
            "normals": upsample2(self.conv_normal.head[2](x[:, 2 * c:3 * c])),
            "edges": upsample2(self.conv_edge.head[2](x[:, 3 * c:])),
        }

    def _task_features(self, feats: list[torch.Tensor]) -> torch.Tensor:
        """The four reassembled maps -> each task's fusion chain and projection, stacked (B, T * C, h, w)."""
        # Official decode: every fusion block upsamples (1/2x grid -> 8x); ours stops at 2x the grid.
        upsample = [True, True, True, True] if self.config.official_decode else [True, True, False, False]
        chains = [getattr(self, f"fusion_blocks_{task}") for task in TASKS]
        projects = [getattr(self, f"project_{task}") for task in TASKS]
        if self.config.flavour != "lightweight":
            out = []
            for blocks, project in zip(chains, projects):
                x = blocks[0](feats[3], upsample=upsample[0])
                for i, skip in zip((1, 2, 3), (feats[2], feats[1], feats[0])):
                    x = blocks[i](x, resize_to(skip, x.shape[-2:]) if not upsample[i] else skip, upsample=upsample[i])
                out.append(project(x))
            return torch.cat(out, dim=1)
        # Lightweight: the tasks' chains as grouped convolutions over their stacked maps (the same functions as
        # FusionBlock and the projections, in one operation per step instead of one per task)
        T = len(TASKS)
        x = feats[3].repeat(1, T, 1, 1)
        for i, skip in enumerate((None, feats[2], feats[1], feats[0])):
            blocks = [chain[i] for chain in chains]
            if skip is not None:
                skip = skip if upsample[i] else resize_to(skip, x.shape[-2:])
                x = resize_to(x, skip.shape[-2:])
                B, _, h, w = x.shape
                x = (x.reshape(B, T, -1, h, w) + skip[:, None]).flatten(1, 2)
            x = x + stacked_separable([b.res_unit.block[1] for b in blocks], F.relu(x))
            x = stacked_conv([b.project for b in blocks], x)
            if upsample[i]:
                x = upsample2(x)
        return stacked_separable([p.conv for p in projects], x)
