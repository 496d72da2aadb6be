"""Keyframes kept to rebuild the map after a loop closure: what each keyframe fused, at half resolution and in
compact types (0.23 MB per keyframe at 320x240 input: 12 bytes per stored pixel).

    store = KeyframeStore(budget_mb=512)
    store.add(number, depth, weight, rgb, semantics, confidence, normals)   # a keyframe as fused (pose-graph number)
    store.count_fused()                      # a fused frame that is not a keyframe: the last keyframe stands for it
    volume = rebuild(fusion_config, store.entries[:], store.intrinsics(K), poses)  # the map at new poses

Each view's fusion weight is multiplied by the frames its keyframe stands for, so a rebuilt map holds about the
weight and label evidence the frames gave (the scene graph's thresholds read the evidence). Memory is bounded:
past ``budget_mb`` every second stored keyframe is dropped, the one before it standing for its frames too.
Stored arrays are never changed in place, so a copy of ``entries`` can be read in another thread.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from m2h_slam.core.config import FusionConfig
from m2h_slam.core.intrinsics import Intrinsics
from pipeline.mapping.fusion import SemanticTSDF

STEP = 2  # every second pixel of each row and column


@dataclass(frozen=True)
class StoredView:
    """One keyframe's fused inputs at half resolution: depth_m (h, w) m (0: not fused), weight (h, w), rgb (h, w, 3)
    uint8, semantics (h, w) uint8, confidence (h, w), normals (h, w, 3) camera frame; float32."""

    depth_m: np.ndarray
    weight: np.ndarray
    rgb: np.ndarray
    semantics: np.ndarray
    confidence: np.ndarray
    normals: np.ndarray


@dataclass
class Entry:
    """A stored keyframe: its pose-graph number, the fused frames it stands for, its compact arrays."""

    number: int
    frames: int
    depth: np.ndarray  # float16
    weight: np.ndarray  # float16
    rgb: np.ndarray
    semantics: np.ndarray
    confidence: np.ndarray  # uint8, x 255
    normals: np.ndarray  # int8, x 127

    def view(self) -> StoredView:
        """The stored inputs as float32 again, the weight multiplied by the frames it stands for."""
        normals = self.normals.astype(np.float32) / 127
        normals /= np.maximum(np.linalg.norm(normals, axis=2, keepdims=True), 1e-6)
        return StoredView(self.depth.astype(np.float32), self.weight.astype(np.float32) * self.frames, self.rgb,
                          self.semantics, self.confidence.astype(np.float32) / 255, normals)

    @property
    def nbytes(self) -> int:
        return sum(getattr(self, name).nbytes for name in _FIELDS)


_FIELDS = ("depth", "weight", "rgb", "semantics", "confidence", "normals")


class KeyframeStore:
    """The stored keyframes in order, each with the frames it stands for."""

    def __init__(self, budget_mb: float = 512.0):
        self.budget_bytes = budget_mb * 1e6
        self.entries: list[Entry] = []
        self.nbytes = 0  # of the stored arrays: kept as entries come and go (summing them each keyframe grew)

    def __len__(self) -> int:
        return len(self.entries)

    def add(self, number: int, depth_m: np.ndarray, weight: np.ndarray, rgb: np.ndarray, semantics: np.ndarray,
            confidence: np.ndarray, normals: np.ndarray) -> None:
        """Keep keyframe ``number`` as fused (full-resolution (H, W) inputs of ``SemanticTSDF.integrate``)."""
        s = np.s_[::STEP, ::STEP]
        self.entries.append(Entry(int(number), 1, depth_m[s].astype(np.float16), weight[s].astype(np.float16),
                                  np.ascontiguousarray(rgb[s]), np.ascontiguousarray(semantics[s], np.uint8),
                                  np.round(confidence[s] * 255).astype(np.uint8),
                                  np.round(np.clip(normals[s], -1, 1) * 127).astype(np.int8)))
        self.nbytes += self.entries[-1].nbytes
        if self.nbytes > self.budget_bytes and len(self.entries) > 2:
            self._thin()

    def _thin(self) -> None:
        """Drop every second keyframe (never the last); the one before each stands for its frames."""
        kept = []
        for k, entry in enumerate(self.entries):
            if k % 2 == 0 or k == len(self.entries) - 1:
                kept.append(dataclasses.replace(entry))  # a copy: a rebuild may be reading the old entries
            else:
                kept[-1].frames += entry.frames
        self.entries = kept
        self.nbytes = sum(e.nbytes for e in kept)

    def count_fused(self) -> None:
        """One more fused frame that the last keyframe stands for."""
        if self.entries:
            self.entries[-1].frames += 1

    @staticmethod
    def intrinsics(K: Intrinsics) -> Intrinsics:
        """The intrinsics of the stored views of frames with intrinsics ``K``."""
        return K.subsampled(STEP)

    def view(self, number: int) -> StoredView | None:
        """The stored view of keyframe ``number`` (None: not stored, or dropped when the store was thinned)."""
        numbers = [e.number for e in self.entries]
        k = int(np.searchsorted(numbers, number))
        return self.entries[k].view() if k < len(numbers) and numbers[k] == number else None

    # -- snapshots ---------------------------------------------------------------------------
    def arrays(self) -> dict[str, np.ndarray]:
        """The store as stacked arrays (``keyframes_*``), for the mapper's snapshot (nothing while it is empty)."""
        if not self.entries:
            return {}
        out = {f"keyframes_{name}": np.stack([getattr(e, name) for e in self.entries]) for name in _FIELDS}
        out["keyframes_frames"] = np.array([e.frames for e in self.entries], np.int64)
        out["keyframes_numbers"] = np.array([e.number for e in self.entries], np.int64)
        return out

    def load_arrays(self, data) -> None:
        """Restore what ``arrays`` gave (``data``: a mapping of those names)."""
        self.entries, self.nbytes = [], 0
        if "keyframes_frames" not in data:
            return
        stacks = [data[f"keyframes_{name}"] for name in _FIELDS]
        for k, (number, frames) in enumerate(zip(data["keyframes_numbers"], data["keyframes_frames"])):
            self.entries.append(Entry(int(number), int(frames), *(stack[k] for stack in stacks)))
        self.nbytes = sum(e.nbytes for e in self.entries)


def rebuild(config: FusionConfig, entries: list[Entry], K: Intrinsics, poses: list[np.ndarray],
            volume: SemanticTSDF | None = None) -> SemanticTSDF:
    """Integrate ``entries`` (intrinsics ``K`` of the stored views) at ``poses`` (world_T_camera (4, 4) by pose-graph
    number) into ``volume``, a new one when None; the volume."""
    volume = SemanticTSDF(config) if volume is None else volume
    for entry in entries:
        v = entry.view()
        volume.integrate(v.depth_m, v.weight, v.rgb, K, poses[entry.number], v.semantics, v.confidence, v.normals)
    return volume
