"""Semantic TSDF fusion on Open3D's VoxelBlockGrid.

Every voxel holds TSDF, weight and colour (what Open3D's mesh extraction reads) and, as
further attributes of the same grid, a fused NYU40 class with its vote weight, the total
semantic evidence it saw (confidence = vote weight / evidence) and a weighted sum of world
normals. One compiled pass (``pipeline.mapping.kernels.integrate_blocks``) updates all of them with
per-pixel weights (the view cosine: grazing views count less). Open3D allocates the blocks
and keeps them in its hash map, so growth, saving and loading carry every attribute.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from m2h_slam.core.config import FusionConfig
from m2h_slam.core.intrinsics import Intrinsics
from m2h_slam.core.labels import PALETTE
from m2h_slam.core.o3d import open3d
from m2h_slam.core.records import LabelledMesh
from m2h_slam.core.voxels import block_of, local_coords, local_index
from pipeline.mapping.kernels import integrate_blocks, raycast_blocks, touched_blocks

log = logging.getLogger("m2h_slam")

# name, Open3D dtype name, channels: the voxel attributes of the grid.
ATTRIBUTES = (("tsdf", "float32", 1), ("weight", "float32", 1), ("color", "float32", 3), ("label", "uint8", 1),
              ("label_weight", "float32", 1), ("evidence", "float32", 1), ("normal_sum", "float32", 3))


_BYTES_PER_VOXEL = sum(4 * c if d == "float32" else c for _, d, c in ATTRIBUTES)


@dataclass
class FusionStats:
    """What one integration did."""

    blocks: int  # allocated blocks after it
    voxels_updated: int
    budget_hit: bool


class SemanticTSDF:
    """TSDF + colour + semantic evidence + normals in one VoxelBlockGrid (CPU); it starts with room for
    ``initial_blocks`` blocks of R^3 voxels and grows as the map does."""

    def __init__(self, config: FusionConfig, initial_blocks: int = 2048):
        self.config = config
        self.device = open3d().core.Device("CPU:0")
        self.R = config.block_resolution
        self.initial_blocks = min(config.max_blocks, initial_blocks)
        self.grid = self._new_grid(self.initial_blocks)
        self.budget_hit = False

    def _new_grid(self, capacity: int):
        o3d = open3d()
        names, dtypes, channels = zip(*ATTRIBUTES)
        return o3d.t.geometry.VoxelBlockGrid(names, [getattr(o3d.core, d) for d in dtypes], list(channels),
                                             self.config.voxel_size_m, self.R, capacity, self.device)

    def voxels(self, name: str) -> np.ndarray:
        """The grid's attribute ``name`` as a writable view, one row per voxel: (capacity x R^3,) or (.., 3)."""
        array = self.grid.attribute(name).numpy()
        return array.reshape(-1) if array.shape[-1] == 1 else array.reshape(-1, array.shape[-1])

    def _block_table(self) -> tuple[np.ndarray, np.ndarray]:
        """(block keys (N, 3), their buffer indices (N,)) of the allocated blocks."""
        hashmap = self.grid.hashmap()
        active = hashmap.active_buf_indices().numpy().astype(np.int64)
        return hashmap.key_tensor().numpy()[active], active

    @property
    def block_count(self) -> int:
        return int(self.grid.hashmap().size())

    # -- integration ------------------------------------------------------------------------
    def integrate(self, depth_m: np.ndarray, weight: np.ndarray, rgb: np.ndarray, K: Intrinsics,
                  world_T_camera: np.ndarray, semantics: np.ndarray, confidence: np.ndarray,
                  normals: np.ndarray) -> FusionStats:
        """Fuse one frame. depth_m (H, W) m: pixels to fuse have depth > 0, all others 0; weight (H, W)
        fusion weight of each pixel (view cosine); rgb (H, W, 3) uint8; normals (H, W, 3) camera frame."""
        depth = np.ascontiguousarray(depth_m, np.float32)
        camera_T_world = np.linalg.inv(world_T_camera)
        blocks = self._blocks_seen(depth, K, world_T_camera)
        blocks = self._within_budget(blocks) if blocks.shape[0] else blocks
        if not blocks.shape[0]:
            return FusionStats(self.block_count, 0, self.budget_hit)
        hashmap = self.grid.hashmap()
        hashmap.activate(blocks)
        buf, _ = hashmap.find(blocks)  # all present now; the views below are taken after any growth
        updated = integrate_blocks(
            buf.numpy().astype(np.int64), blocks.numpy().astype(np.int64), self.R, self.config.voxel_size_m,
            camera_T_world, np.ascontiguousarray(world_T_camera[:3, :3]), K.fx, K.fy, K.cx, K.cy, depth,
            np.ascontiguousarray(weight, np.float32), np.ascontiguousarray(rgb, np.uint8), semantics.astype(np.uint8),
            np.ascontiguousarray(confidence, np.float32), np.ascontiguousarray(normals, np.float32),
            self.config.truncation_m, self.config.voxel_size_m, *(self.voxels(name) for name, _, _ in ATTRIBUTES))
        return FusionStats(self.block_count, int(updated), self.budget_hit)

    def _within_budget(self, blocks):
        """Keep only already allocated blocks once the budget would be exceeded (the map is never corrupted)."""
        new_total = self.block_count + blocks.shape[0]
        if new_total <= self.config.max_blocks:
            return blocks
        _, found = self.grid.hashmap().find(blocks)
        if not self.budget_hit:
            log.warning("voxel-block budget of %d blocks reached (fusion.max_blocks, ~%.0f MB): new space is no longer "
                        "mapped; raise fusion.max_blocks or fusion.voxel_size_m", self.config.max_blocks,
                        self.config.max_blocks * self.R**3 * _BYTES_PER_VOXEL / 1e6)
        self.budget_hit = True
        return blocks[found]

    # -- queries ------------------------------------------------------------------------------
    def voxel_table(self, *names: str, require: str = "weight") -> tuple[np.ndarray, list[np.ndarray]]:
        """(positions (N, 3) m, [attribute (N,) or (N, 3) per name]) of the voxels whose ``require``
        attribute is positive, in a canonical order independent of the buffer layout: blocks by their
        coordinates, voxels by their place in the block."""
        R = self.R
        keys, active = self._block_table()
        order = np.lexsort(keys.T[::-1])
        keys, active = keys[order].astype(np.int32), active[order]
        block, local = np.nonzero(self.voxels(require).reshape(-1, R**3)[active] > 0)  # (block index, voxel in it)
        rows = active[block] * R**3 + local
        voxel = keys[block] * R + np.stack(local_coords(local.astype(np.int32), R), axis=1)
        return voxel * self.config.voxel_size_m, [self.voxels(name)[rows] for name in names]

    def labelled_voxels(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(sample points (N, 3) m, labels (N,), confidence (N,)) of voxels with semantic evidence, by position."""
        points, (labels, label_weight, evidence) = self.voxel_table("label", "label_weight", "evidence",
                                                                   require="evidence")
        return points, labels, label_weight / evidence

    def _blocks_seen(self, depth_m: np.ndarray, K: Intrinsics, world_T_camera: np.ndarray):
        """Open3D (N, 3) int32 tensor of the block coordinates within truncation of a depth image's points (every
        fourth pixel, as Open3D's ``compute_unique_block_coordinates``, compiled without its hash set)."""
        keys = touched_blocks(np.ascontiguousarray(depth_m, np.float32), K.fx, K.fy, K.cx, K.cy,
                              np.asarray(world_T_camera, np.float64), self.R * self.config.voxel_size_m,
                              self.config.truncation_m, self.config.depth_max_m, 4)
        return open3d().core.Tensor(keys)

    def sample(self, points_world: np.ndarray, *names: str) -> list[np.ndarray]:
        """Attributes ``names`` (e.g. "tsdf", "weight", "label") of the voxels nearest to (N, 3) world
        points, one (N,) array each; 0 where the map has no block."""
        R = self.R
        voxel = np.rint(np.asarray(points_world, np.float64).reshape(-1, 3) / self.config.voxel_size_m).astype(np.int64)
        block = np.stack(block_of(*voxel.T, R), axis=1)
        found = np.zeros(len(voxel), bool)
        row = np.zeros(len(voxel), np.int64)
        if len(voxel):
            buf, hit = self.grid.hashmap().find(open3d().core.Tensor(block.astype(np.int32)))
            found = hit.numpy().astype(bool)
            row = np.where(found, buf.numpy().astype(np.int64) * R**3 + local_index(*voxel.T, R), 0)
        return [np.where(found, self.voxels(name)[row], 0) for name in names]

    def raycast(self, world_T_camera: np.ndarray, K: Intrinsics, region_depth_m: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray] | None:
        """(depth (H, W) m, colour (H, W, 3) in [0, 1]) of the map seen from a pose, through the blocks
        around ``region_depth_m`` (a depth image, e.g. the last fused frame); None if no such block exists.
        (Our own compiled ray marching: Open3D's ray_cast corrupted the heap now and then on CPU.)"""
        blocks = self._blocks_seen(region_depth_m, K, world_T_camera)
        if not blocks.shape[0] or not self.block_count:
            return None
        buf, found = self.grid.hashmap().find(blocks)
        found = found.numpy().astype(bool)
        if not found.any():
            return None
        keys, buf = blocks.numpy()[found].astype(np.int64), buf.numpy()[found].astype(np.int64)
        origin = keys.min(axis=0)
        index = np.full(keys.max(axis=0) - origin + 1, -1, np.int64)
        index[tuple((keys - origin).T)] = buf
        return raycast_blocks(index, origin, self.R, self.config.voxel_size_m, self.voxels("tsdf"),
                              self.voxels("weight"), self.voxels("color"), np.asarray(world_T_camera, np.float64),
                              K.fx, K.fy, K.cx, K.cy, K.height, K.width, self.config.depth_min_m,
                              self.config.depth_max_m, self.config.truncation_m)

    def extract_mesh(self) -> tuple[LabelledMesh, np.ndarray]:
        """(mesh with semantic colours and labels, (N, 3) uint8 fused RGB per vertex); empty if nothing was fused."""
        if self.block_count == 0:  # Open3D refuses to mesh an empty grid
            empty = LabelledMesh(np.zeros((0, 3)), np.zeros((0, 3), np.int64), np.zeros((0, 3), np.uint8),
                                 np.zeros(0, np.uint8), np.zeros(0, np.uint16))
            return empty, np.zeros((0, 3), np.uint8)
        mesh = self.grid.extract_triangle_mesh(self.config.mesh_weight_threshold).to_legacy()
        vertices = np.asarray(mesh.vertices)
        triangles = np.asarray(mesh.triangles).astype(np.int64)
        rgb = (np.clip(np.asarray(mesh.vertex_colors), 0, 1) * 255).astype(np.uint8) if mesh.has_vertex_colors() \
            else np.zeros((len(vertices), 3), np.uint8)
        vertices, triangles, rgb = _canonical_order(vertices, triangles, rgb)
        labels = np.zeros(len(vertices), np.uint8)
        points, voxel_labels, _ = self.labelled_voxels()
        if len(vertices) and len(points):
            distance, nearest = cKDTree(points).query(vertices, distance_upper_bound=2.0 * self.config.voxel_size_m)
            hit = np.isfinite(distance)
            labels[hit] = voxel_labels[nearest[hit]]
        instances = np.zeros(len(vertices), np.uint16)
        return LabelledMesh(vertices, triangles, PALETTE[labels], labels, instances), rgb

    # -- persistence ----------------------------------------------------------------------------
    def save(self, folder: str | os.PathLike) -> None:
        """Write the allocated blocks with every attribute (``grid.npz``: block keys + one array per attribute).

        Written with numpy, not Open3D's ``save``: Open3D aborts the process when a write fails (full disk).
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        keys, buf = self._block_table()
        arrays = {name: self.grid.attribute(name).numpy()[buf] for name, _, _ in ATTRIBUTES}
        with open(folder / "grid.npz", "wb") as handle:
            np.savez(handle, keys=keys, **arrays)
        (folder / "fusion.json").write_text(json.dumps({"budget_hit": self.budget_hit}))

    def load(self, folder: str | os.PathLike) -> None:
        """Replace the map by the one ``save`` wrote into ``folder``."""
        folder = Path(folder)
        with np.load(folder / "grid.npz") as data:
            keys = open3d().core.Tensor(data["keys"].astype(np.int32).reshape(-1, 3))
            self.grid = self._new_grid(max(self.initial_blocks, keys.shape[0]))
            if keys.shape[0]:
                hashmap = self.grid.hashmap()
                hashmap.activate(keys)
                buf, _ = hashmap.find(keys)
                buf = buf.numpy().astype(np.int64)
                for name, _, _ in ATTRIBUTES:  # views taken after activation (which may grow the buffers)
                    self.grid.attribute(name).numpy()[buf] = data[name]
        self.budget_hit = bool(json.loads((folder / "fusion.json").read_text())["budget_hit"])


def _canonical_order(vertices: np.ndarray, triangles: np.ndarray, rgb: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertices sorted by position and triangles by their vertex ids, so the same map always gives the same
    file (the block hash map's order changes when a snapshot is reloaded)."""
    order = np.lexsort((rgb[:, 2], rgb[:, 1], rgb[:, 0], vertices[:, 2], vertices[:, 1], vertices[:, 0]))
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    triangles = rank[triangles]
    triangles = triangles[np.lexsort(triangles.T[::-1])]
    return vertices[order], triangles, rgb[order]
