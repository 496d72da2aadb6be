"""Multi-task losses: per-task terms, cross-task consistency terms, Dynamic Weight Averaging.

Every term takes the network output dict (``M2H.forward``) and a target dict that may
lack any task (that term is then skipped) or mark pixels invalid (depth 0, semantics 0,
zero normals are ignored). Shapes: depth (B, 1, H, W) m; semantics (B, H, W) long;
normals (B, 3, H, W); edges (B, 1, H, W) in {0, 1}; intrinsics (B, 4) fx, fy, cx, cy px.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F

SemanticWeighting = Literal["sqrt_inverse", "none"]


def semantic_loss(logits: torch.Tensor, target: torch.Tensor, weighting: SemanticWeighting = "sqrt_inverse"
                  ) -> torch.Tensor:
    """Cross-entropy over labelled pixels (class 0 = unknown is ignored). ``weighting`` "sqrt_inverse" weighs
    each class by 1 / sqrt(its pixel share in the batch), so that small objects count beside walls and floors
    (it also makes the network more ready to predict classes that a scene lacks); "none": plain cross-entropy."""
    target = target.long()
    labelled = target[target > 0]
    if labelled.numel() == 0:
        return logits.sum() * 0.0
    if weighting == "none":
        return F.cross_entropy(logits, target, ignore_index=0)
    counts = torch.bincount(labelled, minlength=logits.shape[1]).to(logits.dtype)
    present = counts > 0
    weight = torch.zeros_like(counts)
    weight[present] = (counts[present] / labelled.numel()).rsqrt()
    weight = weight / (weight * counts).sum() * labelled.numel()  # mean weight per labelled pixel: 1
    return F.cross_entropy(logits, target, weight=weight.detach(), ignore_index=0)


def depth_loss(pred: torch.Tensor, target: torch.Tensor, si_weight: float = 0.5) -> torch.Tensor:
    """L1 (m), L1 of log depth (the relative error) and the scale-invariant log error, over pixels with
    target depth > 0."""
    valid = target > 0
    if not valid.any():
        return pred.sum() * 0.0
    p, t = pred[valid], target[valid]
    d = torch.log(p) - torch.log(t)
    silog = torch.sqrt(torch.clamp((d**2).mean() - 0.85 * d.mean() ** 2, min=1e-8))
    return (p - t).abs().mean() + d.abs().mean() + si_weight * silog


def normal_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 - cosine similarity over pixels with a target normal."""
    valid = target.norm(dim=1) > 0.5
    if not valid.any():
        return pred.sum() * 0.0
    cos = (pred * target).sum(dim=1)
    return (1.0 - cos[valid]).mean()


def edge_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Class-balanced binary cross-entropy (edge pixels weighted by the non-edge share)."""
    target = target.float()
    positive = target.mean()
    weight = torch.where(target > 0.5, 1.0 - positive, positive).clamp(min=1e-3)
    return F.binary_cross_entropy_with_logits(logits, target, weight=weight) / weight.mean()


def normals_from_depth(depth: torch.Tensor, intrinsics: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) camera-frame unit normals (facing the camera) from planar depth (B, 1, H, W)."""
    B, _, H, W = depth.shape
    fx, fy, cx, cy = (intrinsics[:, i].view(B, 1, 1) for i in range(4))
    v, u = torch.meshgrid(torch.arange(H, device=depth.device, dtype=depth.dtype),
                          torch.arange(W, device=depth.device, dtype=depth.dtype), indexing="ij")
    z = depth[:, 0]
    points = torch.stack([(u - cx) / fx * z, (v - cy) / fy * z, z], dim=1)
    du = F.pad(points[..., :, 1:] - points[..., :, :-1], (0, 1, 0, 0), mode="replicate")
    dv = F.pad(points[..., 1:, :] - points[..., :-1, :], (0, 0, 0, 1), mode="replicate")
    normals = F.normalize(torch.cross(du, dv, dim=1), dim=1)
    facing = (normals * points).sum(dim=1, keepdim=True) > 0
    return torch.where(facing, -normals, normals)


def depth_normal_consistency(depth: torch.Tensor, normals: torch.Tensor, intrinsics: torch.Tensor) -> torch.Tensor:
    """1 - |cos| between normals derived from the predicted depth and the predicted normals."""
    derived = normals_from_depth(depth, intrinsics)
    return (1.0 - (derived * normals).sum(dim=1).abs()).mean()


def semantic_boundaries(logits: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) soft boundary map: 1 - agreement of class probabilities with the right/lower neighbour."""
    p = logits.softmax(dim=1)
    right = F.pad((p[..., :, :-1] * p[..., :, 1:]).sum(1, keepdim=True), (0, 1, 0, 0), value=1.0)
    down = F.pad((p[..., :-1, :] * p[..., 1:, :]).sum(1, keepdim=True), (0, 0, 0, 1), value=1.0)
    return 1.0 - torch.minimum(right, down)


def edge_semantic_consistency(edge_logits: torch.Tensor, sem_logits: torch.Tensor) -> torch.Tensor:
    """L1 between the edge probability and the boundaries of the predicted semantics."""
    return (torch.sigmoid(edge_logits) - semantic_boundaries(sem_logits)).abs().mean()


def task_losses(out: dict[str, torch.Tensor], target: dict[str, torch.Tensor],
                consistency_weight: float = 0.1, semantic_weighting: SemanticWeighting = "sqrt_inverse"
                ) -> dict[str, torch.Tensor]:
    """Every term that the targets allow; consistency terms need only predictions (and intrinsics).

    The edge-semantic term is computed at half resolution (it is a smooth prior; full
    resolution costs as much as the rest of the loss).
    """
    losses = {}
    if target.get("semantics") is not None:
        losses["semantics"] = semantic_loss(out["sem_seg"], target["semantics"], semantic_weighting)
    if target.get("depth") is not None:
        losses["depth"] = depth_loss(out["depth"], target["depth"])
    if target.get("normals") is not None:
        losses["normals"] = normal_loss(out["normals"], target["normals"])
    if target.get("edges") is not None:
        losses["edges"] = edge_loss(out["edges"], target["edges"])
    if target.get("intrinsics") is not None:
        losses["depth_normal"] = consistency_weight * depth_normal_consistency(out["depth"], out["normals"], target["intrinsics"])
    half = [F.avg_pool2d(out[k], 2) if min(out[k].shape[-2:]) >= 4 else out[k] for k in ("edges", "sem_seg")]
    losses["edge_semantic"] = consistency_weight * edge_semantic_consistency(*half)
    return losses


class DynamicWeightAverage:
    """DWA (Liu et al. 2019): w_k = K exp(r_k / T) / sum_j exp(r_j / T), r_k = L_k(t-1) / L_k(t-2).

    Call ``update`` with each epoch's mean losses; ``weights`` holds the weights for the
    next epoch (1 for every task until two epochs are known).
    """

    def __init__(self, temperature: float = 2.0):
        self.temperature = temperature
        self.history: list[dict[str, float]] = []

    def weights(self, names) -> dict[str, float]:
        names = list(names)
        if len(self.history) < 2 or not all(n in self.history[-1] and n in self.history[-2] for n in names):
            return {n: 1.0 for n in names}
        ratios = {n: self.history[-1][n] / max(self.history[-2][n], 1e-12) for n in names}
        exps = {n: math.exp(r / self.temperature) for n, r in ratios.items()}
        total = sum(exps.values())
        return {n: len(names) * e / total for n, e in exps.items()}

    def update(self, epoch_losses: dict[str, float]) -> None:
        self.history.append(dict(epoch_losses))

    def combine(self, losses: dict[str, torch.Tensor]) -> torch.Tensor:
        weights = self.weights(losses)
        return sum(weights[n] * v for n, v in losses.items())
