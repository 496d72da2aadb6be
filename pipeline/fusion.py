"""Semantic TSDF fusion on Open3D's VoxelBlockGrid.

TSDF, weight and colour are integrated natively from the masked depth. Semantic
evidence and normals are fused per voxel in arrays beside the grid, indexed by the
grid's block buffer index: each voxel keeps a fused class with a vote weight (a
majority vote with decay: the same class adds its confidence, another subtracts it and
takes over below zero) and the total evidence it saw, so confidence = weight / evidence.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from m2h_slam.core.config import FusionConfig
from m2h_slam.core.intrinsics import Intrinsics
from m2h_slam.core.labels import NUM_CLASSES, PALETTE
from m2h_slam.core.o3d import open3d
from m2h_slam.core.records import LabelledMesh

log = logging.getLogger("m2h_slam")


@dataclass
class FusionStats:
    """What one integration did."""

    blocks: int  # allocated blocks after it
    pixels_fused: int
    budget_hit: bool


class SemanticTSDF:
    """TSDF + colour + semantic evidence + normals, on CPU or CUDA (``device`` "CPU:0" / "CUDA:0")."""

    def __init__(self, config: FusionConfig, device: str = "CPU:0", initial_blocks: int = 10000):
        o3d = open3d()
        core = o3d.core
        self.config = config
        self.device = core.Device(device)
        self.R = config.block_resolution
        self.grid = o3d.t.geometry.VoxelBlockGrid(
            ("tsdf", "weight", "color"), (core.float32, core.float32, core.float32), ((1), (1), (3)),
            config.voxel_size_m, self.R, min(config.max_blocks, initial_blocks), self.device)
        self.trunc_multiplier = config.truncation_m / config.voxel_size_m
        self.labels = np.zeros(0, np.uint8)
        self.label_weight = np.zeros(0, np.float32)
        self.evidence = np.zeros(0, np.float32)
        self.normal_sum = np.zeros((0, 3), np.float32)
        self.budget_hit = False

    # -- indexing ---------------------------------------------------------------------------
    def _ensure(self, size: int) -> None:
        if size > len(self.labels):
            grow = max(size, 2 * len(self.labels))
            for name in ("labels", "label_weight", "evidence"):
                old = getattr(self, name)
                new = np.zeros(grow, old.dtype)
                new[: len(old)] = old
                setattr(self, name, new)
            normals = np.zeros((grow, 3), np.float32)
            normals[: len(self.normal_sum)] = self.normal_sum
            self.normal_sum = normals

    def voxel_index(self, points_world: np.ndarray) -> np.ndarray:
        """Flat voxel index (buffer index x R^3 + local index) of world points; -1 where no block exists."""
        o3d = open3d()
        R = self.R
        voxel = np.floor(points_world / self.config.voxel_size_m).astype(np.int64)
        block = np.floor_divide(voxel, R)
        local = voxel - block * R
        if not len(points_world):
            return np.zeros(0, np.int64)
        buf, found = self.grid.hashmap().find(o3d.core.Tensor(block.astype(np.int32), device=self.device))
        buf = buf.cpu().numpy().astype(np.int64).reshape(-1)
        found = found.cpu().numpy().reshape(-1)
        flat = buf * R**3 + (local[:, 2] * R + local[:, 1]) * R + local[:, 0]
        return np.where(found, flat, -1)

    def _block_table(self) -> tuple[np.ndarray, np.ndarray]:
        """(block keys (N, 3), their buffer indices (N,)) of the allocated blocks."""
        hashmap = self.grid.hashmap()
        active = hashmap.active_buf_indices().cpu().numpy().astype(np.int64)
        return hashmap.key_tensor().cpu().numpy()[active], active

    def _remap(self, keys: np.ndarray, old_buf: np.ndarray) -> None:
        """Move the semantic arrays to the blocks' new buffer indices (after the hash map grew or was reloaded)."""
        o3d = open3d()
        R3 = self.R**3
        if not len(keys):
            return
        new_buf, found = self.grid.hashmap().find(o3d.core.Tensor(keys, device=self.device))
        new_buf = new_buf.cpu().numpy().astype(np.int64).reshape(-1)
        if not found.cpu().numpy().all():
            raise RuntimeError("voxel blocks disappeared from the hash map")
        self._ensure((int(old_buf.max()) + 1) * R3 if len(old_buf) else 0)
        old_rows = (old_buf[:, None] * R3 + np.arange(R3)).reshape(-1)
        new_rows = (new_buf[:, None] * R3 + np.arange(R3)).reshape(-1)
        arrays = {name: getattr(self, name)[old_rows] for name in ("labels", "label_weight", "evidence", "normal_sum")}
        self.labels = np.zeros(0, np.uint8)
        self.label_weight = np.zeros(0, np.float32)
        self.evidence = np.zeros(0, np.float32)
        self.normal_sum = np.zeros((0, 3), np.float32)
        self._ensure((int(new_buf.max()) + 1) * R3 if len(new_buf) else 0)
        for name, values in arrays.items():
            getattr(self, name)[new_rows] = values

    @property
    def block_count(self) -> int:
        return int(self.grid.hashmap().size())

    # -- integration ------------------------------------------------------------------------
    def integrate(self, depth_m: np.ndarray, rgb: np.ndarray, K: Intrinsics, world_T_camera: np.ndarray,
                  semantics: np.ndarray, confidence: np.ndarray, normals: np.ndarray, weight: np.ndarray) -> FusionStats:
        """Fuse one frame. depth_m (H, W) m, masked: pixels to fuse have depth > 0, all others 0;
        weight (H, W) evidence weight of each pixel (e.g. view cosine); normals (H, W, 3) camera frame."""
        o3d = open3d()
        core = o3d.core
        depth = np.asarray(depth_m, np.float32)
        depth_image = o3d.t.geometry.Image(core.Tensor(np.ascontiguousarray(depth[..., None]), device=self.device))
        color_image = o3d.t.geometry.Image(core.Tensor(np.ascontiguousarray(rgb, dtype=np.float32) / 255.0, device=self.device))
        Kt = core.Tensor(K.matrix, core.float64)
        extrinsic = core.Tensor(np.linalg.inv(world_T_camera), core.float64)
        blocks = self.grid.compute_unique_block_coordinates(depth_image, Kt, extrinsic, 1.0, self.config.depth_max_m,
                                                            self.trunc_multiplier)
        blocks = self._within_budget(blocks)
        if blocks.shape[0]:
            hashmap = self.grid.hashmap()
            capacity = hashmap.capacity()
            before = self._block_table() if hashmap.size() + blocks.shape[0] > capacity else None
            self.grid.integrate(blocks, depth_image, color_image, Kt, extrinsic, 1.0, self.config.depth_max_m,
                                self.trunc_multiplier)
            if before is not None and self.grid.hashmap().capacity() != capacity:
                self._remap(*before)  # the hash map grew and moved its blocks
        fused = self._fuse_semantics(depth, K, world_T_camera, semantics, confidence, normals, weight)
        return FusionStats(self.block_count, fused, self.budget_hit)

    def _within_budget(self, blocks):
        """Keep only already allocated blocks once the budget would be exceeded (the map is never corrupted)."""
        new_total = self.block_count + blocks.shape[0]
        if new_total <= self.config.max_blocks:
            return blocks
        _, found = self.grid.hashmap().find(blocks)
        if not self.budget_hit:
            log.warning("voxel-block budget of %d blocks reached (fusion.max_blocks, ~%.0f MB): new space is no longer "
                        "mapped; raise fusion.max_blocks or fusion.voxel_size_m", self.config.max_blocks,
                        self.config.max_blocks * self.R**3 * 20 / 1e6)
        self.budget_hit = True
        return blocks[found]

    def _fuse_semantics(self, depth, K, world_T_camera, semantics, confidence, normals, weight) -> int:
        # About the same number of samples per voxel at any resolution (the stride is for 320 px wide images).
        s = max(1, round(self.config.semantic_stride_px * K.width / 320))
        sub = np.zeros(depth.shape, bool)
        sub[::s, ::s] = True
        v, u = np.nonzero(sub & (depth > 0))
        if not len(v):
            return 0
        z = depth[v, u].astype(np.float64)
        points = np.stack([(u - K.cx) / K.fx * z, (v - K.cy) / K.fy * z, z], axis=1)
        points = points @ world_T_camera[:3, :3].T + world_T_camera[:3, 3]
        index = self.voxel_index(points)
        keep = index >= 0
        index, v, u = index[keep], v[keep], u[keep]
        if not len(index):
            return 0
        self._ensure(int(index.max()) + 1)
        w = (confidence[v, u] * weight[v, u]).astype(np.float64)
        labels = semantics[v, u].astype(np.int64)
        # Evidence per (voxel, class) in this frame; the strongest class per voxel votes.
        key = index * NUM_CLASSES + labels
        keys, inverse = np.unique(key, return_inverse=True)
        sums = np.bincount(inverse, weights=w)
        voxels, classes = keys // NUM_CLASSES, keys % NUM_CLASSES
        order = np.lexsort((-sums, voxels))
        voxels, classes, sums = voxels[order], classes[order], sums[order]
        first = np.ones(len(voxels), bool)
        first[1:] = voxels[1:] != voxels[:-1]
        total = np.bincount(np.searchsorted(voxels[first], voxels), weights=sums)
        vox, cls, win = voxels[first], classes[first], sums[first]
        current, current_w = self.labels[vox], self.label_weight[vox].astype(np.float64)
        same = current == cls
        new_w = np.where(same, current_w + win, current_w - win)
        flip = new_w < 0
        self.labels[vox] = np.where(flip, cls, current).astype(np.uint8)
        self.label_weight[vox] = np.abs(new_w)
        self.evidence[vox] += total
        world_normals = normals[v, u] @ world_T_camera[:3, :3].T
        unique, inverse = np.unique(index, return_inverse=True)
        for axis in range(3):
            self.normal_sum[unique, axis] += np.bincount(inverse, weights=w * world_normals[:, axis]).astype(np.float32)
        return len(index)

    # -- queries ------------------------------------------------------------------------------
    def labelled_voxels(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(centres (N, 3) m, labels (N,), confidence (N,)) of voxels with semantic evidence."""
        flat = np.flatnonzero(self.evidence > 0)
        R = self.R
        keys = self.grid.hashmap().key_tensor().cpu().numpy().astype(np.int64)
        buf, local = flat // R**3, flat % R**3
        lx, ly, lz = local % R, (local // R) % R, local // (R * R)
        voxel = keys[buf] * R + np.stack([lx, ly, lz], axis=1)
        order = np.lexsort(voxel.T[::-1])  # by position, independent of buffer layout (ties break the same way)
        flat, voxel = flat[order], voxel[order]
        centres = (voxel + 0.5) * self.config.voxel_size_m
        confidence = self.label_weight[flat] / np.maximum(self.evidence[flat], 1e-9)
        return centres, self.labels[flat], confidence

    def extract_mesh(self) -> tuple[LabelledMesh, np.ndarray]:
        """(mesh with semantic colours and labels, (N, 3) uint8 fused RGB per vertex)."""
        mesh = self.grid.extract_triangle_mesh(self.config.mesh_weight_threshold).to_legacy()
        vertices = np.asarray(mesh.vertices)
        triangles = np.asarray(mesh.triangles).astype(np.int64)
        rgb = (np.clip(np.asarray(mesh.vertex_colors), 0, 1) * 255).astype(np.uint8) if mesh.has_vertex_colors() \
            else np.zeros((len(vertices), 3), np.uint8)
        labels = np.zeros(len(vertices), np.uint8)
        centres, voxel_labels, _ = self.labelled_voxels()
        if len(vertices) and len(centres):
            distance, nearest = cKDTree(centres).query(vertices, distance_upper_bound=2.0 * self.config.voxel_size_m)
            hit = np.isfinite(distance)
            labels[hit] = voxel_labels[nearest[hit]]
        instances = np.zeros(len(vertices), np.uint16)
        return LabelledMesh(vertices, triangles, PALETTE[labels], labels, instances), rgb

    # -- persistence ----------------------------------------------------------------------------
    def save(self, folder: str | os.PathLike) -> None:
        """Write the grid and the semantic arrays (stored per block key: buffer indices change on reload)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.grid.save(str(folder / "grid.npz"))
        keys, active = self._block_table()
        self._ensure((int(active.max()) + 1) * self.R**3 if len(active) else 0)
        rows = (active[:, None] * self.R**3 + np.arange(self.R**3)).reshape(-1)
        np.savez(folder / "semantics.npz", keys=keys, labels=self.labels[rows], label_weight=self.label_weight[rows],
                 evidence=self.evidence[rows], normal_sum=self.normal_sum[rows], budget_hit=self.budget_hit)

    def load(self, folder: str | os.PathLike) -> None:
        o3d = open3d()
        folder = Path(folder)
        self.grid = o3d.t.geometry.VoxelBlockGrid.load(str(folder / "grid.npz")).to(self.device)
        data = np.load(folder / "semantics.npz")
        # The saved blocks are laid out as buffer indices 0..N-1; move them to where the grid holds them.
        self.labels, self.label_weight = data["labels"], data["label_weight"]
        self.evidence, self.normal_sum = data["evidence"], data["normal_sum"]
        self._remap(data["keys"], np.arange(len(data["keys"]), dtype=np.int64))
        self.budget_hit = bool(data["budget_hit"])
