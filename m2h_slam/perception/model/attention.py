"""Window-based Multi-task Cross-Attention (WMCA) and its global counterpart.

In each non-overlapping window (``window`` x ``window`` cells, or ``(rows, cols)``) the tokens of all tasks attend
jointly. Maps not divisible by the window are padded and the padded tokens masked.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def multi_head_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int,
                         ignore: torch.Tensor | None = None) -> torch.Tensor:
    """Scaled dot-product attention of packed (N, L, C) queries, keys and values in ``heads`` heads -> (N, L, C);
    ``ignore`` (N, L) bool, True = a key nobody attends to."""
    N, L, C = q.shape
    q, k, v = (t.view(N, L, heads, C // heads).transpose(1, 2) for t in (q, k, v))
    bias = None
    if ignore is not None:
        bias = torch.zeros(N, 1, 1, L, dtype=q.dtype, device=q.device).masked_fill(ignore[:, None, None, :],
                                                                                  float("-inf"))
    return F.scaled_dot_product_attention(q, k, v, attn_mask=bias).transpose(1, 2).reshape(N, L, C)


class CrossTaskAttentionLayer(nn.Module):
    """One layer: per-task LayerNorm, joint multi-head attention, per-task LayerNorm, shared FFN.

    ``window``: cells of a square window, or (rows, cols); ``None`` makes every token of every task attend to all
    others (global attention).
    """

    def __init__(self, dim: int, num_tasks: int, heads: int = 4, ffn_ratio: int = 4,
                 window: int | tuple[int, int] | None = 7):
        super().__init__()
        self.window = window
        self.norm_layers = nn.ModuleList(nn.LayerNorm(dim) for _ in range(num_tasks))
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ffn_fc1 = nn.Linear(dim, dim * ffn_ratio)
        self.ffn_fc2 = nn.Linear(dim * ffn_ratio, dim)
        self.norm2_layers = nn.ModuleList(nn.LayerNorm(dim) for _ in range(num_tasks))
        self.attention = multi_head_attention

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        """features: per task (B, C, H, W), same size; returns the same shapes."""
        return list(attend_in_windows([self], torch.stack(features, dim=1)).unbind(1))

    def partition(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Task maps x (B, T, C, H, W) -> tokens (N, T, L, C) of the N windows (L cells each; N = B, L = H * W for
        global attention) and the keys to ignore (N, T * L) bool (padding), or None."""
        B, T, C, H, W = x.shape
        if self.window is None:
            return x.flatten(3).transpose(2, 3), None  # (B, T, HW, C)
        wh, ww, ph, pw = self._window_padding(H, W)
        Hp, Wp = H + ph, W + pw
        nh, nw = Hp // wh, Wp // ww
        x = F.pad(x, (0, pw, 0, ph))
        # (B, T, C, nh, wh, nw, ww) -> (B * nh * nw, T, wh * ww, C)
        x = x.reshape(B, T, C, nh, wh, nw, ww).permute(0, 3, 5, 1, 4, 6, 2).reshape(B * nh * nw, T, wh * ww, C)
        if not (ph or pw):
            return x, None
        valid = torch.zeros(Hp, Wp, dtype=torch.bool, device=x.device)
        valid[:H, :W] = True
        valid = valid.reshape(nh, wh, nw, ww).permute(0, 2, 1, 3).reshape(nh * nw, 1, wh * ww).expand(-1, T, -1)
        return x, ~valid.reshape(nh * nw, T * wh * ww).repeat(B, 1)  # True = ignore

    def merge(self, tokens: torch.Tensor, shape: torch.Size) -> torch.Tensor:
        """``partition``'s tokens back to task maps of ``shape`` (B, T, C, H, W)."""
        B, T, C, H, W = shape
        if self.window is None:
            return tokens.transpose(2, 3).reshape(B, T, C, H, W)
        wh, ww, ph, pw = self._window_padding(H, W)
        Hp, Wp = H + ph, W + pw
        nh, nw = Hp // wh, Wp // ww
        x = tokens.reshape(B, nh, nw, T, wh, ww, C).permute(0, 3, 6, 1, 4, 2, 5).reshape(B, T, C, Hp, Wp)
        return x[..., :H, :W] if ph or pw else x

    def _window_padding(self, H: int, W: int) -> tuple[int, int, int, int]:
        """(window rows, window cols, rows, cols of padding) for an H x W map."""
        wh, ww = (self.window, self.window) if isinstance(self.window, int) else self.window
        return wh, ww, (-H) % wh, (-W) % ww

    def _self_attention(self, x: torch.Tensor, ignore: torch.Tensor | None) -> torch.Tensor:
        """Multi-head self-attention with ``self.attn``'s weights; ``ignore`` (N, L) True = masked key.

        Same result as ``self.attn(x, x, x, key_padding_mask=ignore)``, but through ``multi_head_attention``
        (``scaled_dot_product_attention`` with an additive mask: 5x faster on CPU than the masked-softmax path of
        ``nn.MultiheadAttention``). The ONNX export swaps ``self.attention`` for ONNX Runtime's fused kernel.
        """
        q, k, v = F.linear(x, self.attn.in_proj_weight, self.attn.in_proj_bias).split(x.shape[-1], dim=-1)
        return self.attn.out_proj(self.attention(q, k, v, self.attn.num_heads, ignore))

    def attend(self, tokens: torch.Tensor, ignore: torch.Tensor | None) -> torch.Tensor:
        """tokens (N, T, L, C) -> same; attention over the T * L tokens of each of the N groups."""
        N, T, L, C = tokens.shape
        normed = task_layer_norm(self.norm_layers, tokens).reshape(N, T * L, C)
        x = tokens + self._self_attention(normed, ignore).reshape(N, T, L, C)
        return x + self.ffn_fc2(F.gelu(self.ffn_fc1(task_layer_norm(self.norm2_layers, x))))


def task_layer_norm(norms: nn.ModuleList, tokens: torch.Tensor) -> torch.Tensor:
    """tokens (N, T, L, C) with task t normalised by ``norms[t]``: one normalisation and one per-task scale and shift
    (the same as T LayerNorms on slices, in 3 operations instead of 3T + 1)."""
    weight = torch.stack([n.weight for n in norms])[:, None, :]  # (T, 1, C)
    bias = torch.stack([n.bias for n in norms])[:, None, :]
    return F.layer_norm(tokens, (int(tokens.shape[-1]),), eps=norms[0].eps) * weight + bias


def attend_in_windows(layers, x: torch.Tensor) -> torch.Tensor:
    """Task maps x (B, T, C, H, W) through ``layers`` (``CrossTaskAttentionLayer``s of one window) in turn: split
    into windows once, merged once; the same shape."""
    first = layers[0]
    if any(layer.window != first.window for layer in layers):
        raise ValueError(f"the layers' windows differ: {[layer.window for layer in layers]}")
    tokens, ignore = first.partition(x)
    for layer in layers:
        tokens = layer.attend(tokens, ignore)
    return first.merge(tokens, x.shape)
