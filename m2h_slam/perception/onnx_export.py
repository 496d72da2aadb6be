"""ONNX export of an M2H model at a fixed input size (the Predictor resizes to it anyway)."""

from __future__ import annotations

import contextlib
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from m2h_slam.core.atomic import atomic_write
from m2h_slam.perception.model.attention import CrossTaskAttentionLayer, multi_head_attention
from m2h_slam.perception.model.m2h import M2H

OUTPUTS = ("depth", "sem_seg", "normals", "edges")


class _Outputs(nn.Module):
    """The model with a tuple of outputs (ONNX has no dicts)."""

    def __init__(self, model: M2H):
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.model(images)
        return tuple(out[name] for name in OUTPUTS)


@contextlib.contextmanager
def fixed_position_embedding(model: M2H, height: int, width: int):
    """Precompute the ViT's resampled position embedding for one input size.

    timm resamples it per call with antialiased bicubic interpolation, which ONNX lacks;
    for a fixed size the result is a constant.
    """
    from timm.layers import resample_abs_pos_embed

    vit = model.backbone.vit
    left, right, top, bottom = model.backbone.padding(height, width)
    grid = ((height + top + bottom) // model.backbone.patch, (width + left + right) // model.backbone.patch)
    with torch.no_grad():
        fixed = resample_abs_pos_embed(vit.pos_embed, new_size=grid, old_size=vit.patch_embed.grid_size,
                                       num_prefix_tokens=vit.num_prefix_tokens)

    def pos_embed(x: torch.Tensor) -> torch.Tensor:
        B, _, _, C = x.shape
        x = torch.cat([vit.cls_token.expand(B, -1, -1), x.reshape(B, -1, C)], dim=1)
        return vit.pos_drop(x + fixed)

    vit._pos_embed = pos_embed
    try:
        yield
    finally:
        del vit._pos_embed


class _OrtMultiHeadAttention(torch.autograd.Function):
    """``multi_head_attention`` with ``keep`` (N, L) int32 (1 = a key to attend to) or None, exported as ONNX
    Runtime's fused ``com.microsoft.MultiHeadAttention`` (one kernel instead of matrix products, a mask, a Softmax
    over (N, heads, L, L) scores and transposes)."""

    @staticmethod
    def forward(ctx, q, k, v, keep, heads):
        return multi_head_attention(q, k, v, heads, None if keep is None else keep == 0)

    @staticmethod
    def symbolic(g, q, k, v, keep, heads):
        from torch.onnx import symbolic_helper

        no_bias = symbolic_helper._optional_input_placeholder_tensor(g)
        mask = [] if symbolic_helper._is_none(keep) else [keep]
        return g.op("com.microsoft::MultiHeadAttention", q, k, v, no_bias, *mask, num_heads_i=heads)


def _ort_attention(q, k, v, heads: int, ignore: torch.Tensor | None) -> torch.Tensor:
    """``multi_head_attention`` through ``_OrtMultiHeadAttention``."""
    keep = None if ignore is None else (~ignore).to(torch.int32)
    return _OrtMultiHeadAttention.apply(q.contiguous(), k.contiguous(), v.contiguous(), keep, heads)


def _fused_vit_attention(attn: nn.Module):
    """The forward of a timm ViT ``Attention`` (no gate, no query / key / output norms, evaluation mode) through
    ``_ort_attention``; None for any other attention."""
    plain = all(isinstance(getattr(attn, name, nn.Identity()), nn.Identity) for name in ("q_norm", "k_norm", "norm"))
    if not plain or getattr(attn, "gate", None) is not None or not hasattr(attn, "qkv"):
        return None

    def forward(x: torch.Tensor, attn_mask=None, is_causal: bool = False) -> torch.Tensor:
        q, k, v = attn.qkv(x).chunk(3, dim=-1)  # the 3 * C outputs are (q, k, v) x heads x head size
        return attn.proj(_ort_attention(q, k, v, attn.num_heads, None))

    return forward


@contextlib.contextmanager
def ort_attention(model: M2H):
    """The cross-task attention layers and the backbone's self-attention of ``model`` export their attention as one
    ONNX Runtime kernel each."""
    from timm.layers import Attention

    layers = [m for m in model.modules() if isinstance(m, CrossTaskAttentionLayer)]
    for layer in layers:
        layer.attention = _ort_attention
    vits = [(m, _fused_vit_attention(m)) for m in model.modules() if isinstance(m, Attention)]
    vits = [(m, forward) for m, forward in vits if forward is not None]
    for module, forward in vits:
        module.forward = forward
    try:
        yield
    finally:
        for layer in layers:
            layer.attention = multi_head_attention
        for module, _ in vits:
            del module.forward


def export_onnx(model: M2H, path: str | os.PathLike, height: int, width: int, opset: int = 17,
                fused_attention: bool = True) -> Path:
    """Write ``model`` as ONNX for (1, 3, height, width) normalised images; outputs as ``OUTPUTS``. With
    ``fused_attention`` the window attention and the backbone's attention are ONNX Runtime's fused kernel
    (``ort_attention``; the file runs in ONNX Runtime only), else standard operators."""
    model = model.eval()
    dummy = torch.zeros(1, 3, height, width)

    def write(tmp: Path) -> None:
        attention = ort_attention(model) if fused_attention else contextlib.nullcontext()
        with fixed_position_embedding(model, height, width), attention, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings about constant shapes are expected
            # The exporter's own constant folding corrupts this graph (outputs off by ~1 in
            # the heads); ONNX Runtime folds constants itself when it loads the model.
            # the exporter restores the wrapper's training mode afterwards: a new module is in training mode
            torch.onnx.export(_Outputs(model).eval(), (dummy,), str(tmp), dynamo=False, opset_version=opset,
                              input_names=["image"], output_names=list(OUTPUTS), do_constant_folding=False)

    return atomic_write(path, write)
