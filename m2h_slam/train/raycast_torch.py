"""Ray casting without Open3D for the synthetic renderer (``Renderer(..., raycaster=...)``): every ray against
every triangle (Moeller-Trumbore) in PyTorch.

Brute force suits the synthetic worlds (1-2 thousand triangles) on a GPU, where Open3D may be missing (GPU
training machines, datasets/synthetic/train_gpu.py); on a CPU Open3D's BVH is much faster and remains the
renderer's default. The scalar
triple products of Moeller-Trumbore are written as (rays, 3) x (3, triangles) matrix products, so no
(rays, triangles, 3) tensor is formed.
"""

from __future__ import annotations

import numpy as np
import torch

CHUNK_ELEMENTS = 1 << 25  # rays x triangles per step (128 MiB per float32 matrix)


class TorchRaycaster:
    """Triangles ``vertices`` (V, 3) m, ``triangles`` (T, 3) indices on ``device``; ``cast`` as Open3D's
    ``RaycastingScene.cast_rays``: hits at t > 0 on either side, t in units of the ray direction's length."""

    def __init__(self, vertices: np.ndarray, triangles: np.ndarray, device: str | torch.device = "cpu"):
        self.device = torch.device(device)
        v = torch.as_tensor(np.asarray(vertices, np.float64), device=self.device)
        tri = torch.as_tensor(np.asarray(triangles, np.int64), device=self.device)
        v0, e1, e2 = v[tri[:, 0]], v[tri[:, 1]] - v[tri[:, 0]], v[tri[:, 2]] - v[tri[:, 0]]
        n = torch.linalg.cross(e1, e2)
        f32 = torch.float32
        self.n = n.to(f32)  # (T, 3) e1 x e2
        self.minus_n = -self.n
        self.e1, self.e2 = e1.to(f32), e2.to(f32)
        self.e2_x_v0 = torch.linalg.cross(e2, v0).to(f32)
        self.v0_x_e1 = torch.linalg.cross(v0, e1).to(f32)
        self.t_const = (e2 * torch.linalg.cross(v0, e1)).sum(1).to(f32)  # (T,) [e2, v0, e1]
        self.unit_normals = (n / n.norm(dim=1, keepdim=True).clamp_min(1e-30)).to(f32)

    def cast(self, rays: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(t_hit (N,) inf where nothing is hit, triangle id (N,) or -1, unit triangle normal (N, 3), 0 where
        nothing is hit) for rays (N, 6): origin, direction."""
        r = torch.as_tensor(np.asarray(rays, np.float32), device=self.device)
        n_rays, n_tris = len(r), len(self.n)
        t_hit = torch.full((n_rays,), float("inf"), device=self.device)
        ids = torch.full((n_rays,), -1, dtype=torch.int64, device=self.device)
        if n_tris:
            step = max(1, CHUNK_ELEMENTS // n_tris)
            for start in range(0, n_rays, step):
                t_hit[start:start + step], ids[start:start + step] = self._nearest(r[start:start + step])
        normals = torch.zeros((n_rays, 3), device=self.device)
        hit = ids >= 0
        normals[hit] = self.unit_normals[ids[hit]]
        return t_hit.cpu().numpy(), ids.cpu().numpy(), normals.cpu().numpy()

    def _nearest(self, r: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        o, d = r[:, :3], r[:, 3:]
        o_x_d = torch.linalg.cross(o, d)
        inv_det = torch.reciprocal_(d @ self.minus_n.T)  # 1 / (e1 . (d x e2)); inf where parallel
        u = (o_x_d @ self.e2.T).sub_(d @ self.e2_x_v0.T).mul_(inv_det)  # (o - v0) . (d x e2) / det
        v = (o_x_d @ self.e1.T).neg_().sub_(d @ self.v0_x_e1.T).mul_(inv_det)  # d . ((o - v0) x e1) / det
        t = (o @ self.n.T).sub_(self.t_const).mul_(inv_det)  # e2 . ((o - v0) x e1) / det
        miss = (u < 0) | (v < 0) | (u + v > 1) | ~(t > 0)  # NaN (a ray in the triangle's plane) misses
        nearest, index = t.masked_fill_(miss, float("inf")).min(dim=1)
        return nearest, torch.where(torch.isfinite(nearest), index, torch.full_like(index, -1))
