"""Keyframes kept to rebuild the map after a loop closure: what each keyframe fused, at half resolution and in
compact types (0.23 MB per keyframe at 320x240 input: 12 bytes per stored pixel).

    store = KeyframeStore(budget_mb=512)
    store.add(number, depth, weight, rgb, semantics, confidence, normals)   # a keyframe as fused (pose-graph number)
    store.count_fused()                      # a fused frame that is not a keyframe: the last keyframe stands for it
    for number, view in store.views():       # float32 again, with the intrinsics of the half image
        volume.integrate(view.depth_m, view.weight, view.rgb, store.intrinsics(K), poses[number], ...)

Each view's fusion weight is multiplied by the frames its keyframe stands for, so a rebuilt map holds about the
weight and label evidence the frames gave (the scene graph's thresholds read the evidence). Memory is bounded:
past ``budget_mb`` every second stored keyframe is dropped, the one before it standing for its frames too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from m2h_slam.core.intrinsics import Intrinsics

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


_FIELDS = ("depth", "weight", "rgb", "semantics", "confidence", "normals")


class KeyframeStore:
    """The stored keyframes in order (keyframe number = position), each with the frames it stands for."""

    def __init__(self, budget_mb: float = 512.0):
        self.budget_bytes = budget_mb * 1e6
        self._arrays: dict[str, list[np.ndarray]] = {name: [] for name in _FIELDS}
        self.numbers: list[int] = []  # the pose-graph number of each stored keyframe
        self.frames: list[int] = []  # fused frames each keyframe stands for (itself and the ones after it)
        self._bytes = 0

    def __len__(self) -> int:
        return len(self.frames)

    def add(self, number: int, depth_m: np.ndarray, weight: np.ndarray, rgb: np.ndarray, semantics: np.ndarray,
            confidence: np.ndarray, normals: np.ndarray) -> None:
        """Keep keyframe ``number`` as fused (full-resolution (H, W) inputs of ``SemanticTSDF.integrate``)."""
        s = np.s_[::STEP, ::STEP]
        values = (depth_m[s].astype(np.float16), weight[s].astype(np.float16), np.ascontiguousarray(rgb[s]),
                  np.ascontiguousarray(semantics[s], np.uint8), np.round(confidence[s] * 255).astype(np.uint8),
                  np.round(np.clip(normals[s], -1, 1) * 127).astype(np.int8))
        for name, value in zip(_FIELDS, values):
            self._arrays[name].append(value)
        self.numbers.append(int(number))
        self.frames.append(1)
        self._bytes += sum(v.nbytes for v in values)
        if self._bytes > self.budget_bytes and len(self.frames) > 2:
            self._thin()

    def _thin(self) -> None:
        """Drop every second keyframe (never the last); the one before each stands for its frames."""
        keep = [k for k in range(len(self.frames)) if k % 2 == 0 or k == len(self.frames) - 1]
        for k in range(1, len(self.frames)):
            if k not in keep:
                self.frames[k - 1] += self.frames[k]
        for name in _FIELDS:
            self._arrays[name] = [self._arrays[name][k] for k in keep]
        self.numbers, self.frames = [self.numbers[k] for k in keep], [self.frames[k] for k in keep]
        self._bytes = self.nbytes

    def count_fused(self) -> None:
        """One more fused frame that the last keyframe stands for."""
        if self.frames:
            self.frames[-1] += 1

    @staticmethod
    def intrinsics(K: Intrinsics) -> Intrinsics:
        """The intrinsics of the stored views of frames with intrinsics ``K``."""
        return K.subsampled(STEP)

    def views(self):
        """(pose-graph number, ``StoredView``) of every stored keyframe in order (weights multiplied by the frames
        it stands for)."""
        for k, number in enumerate(self.numbers):
            yield number, self._view(k)

    def view(self, number: int) -> StoredView | None:
        """The stored view of keyframe ``number`` (None: not stored, or dropped when the store was thinned)."""
        k = int(np.searchsorted(self.numbers, number))
        return self._view(k) if k < len(self.numbers) and self.numbers[k] == number else None

    def _view(self, k: int) -> StoredView:
        a = self._arrays
        normals = a["normals"][k].astype(np.float32) / 127
        normals /= np.maximum(np.linalg.norm(normals, axis=2, keepdims=True), 1e-6)
        return StoredView(a["depth"][k].astype(np.float32), a["weight"][k].astype(np.float32) * self.frames[k],
                          a["rgb"][k], a["semantics"][k], a["confidence"][k].astype(np.float32) / 255, normals)

    @property
    def nbytes(self) -> int:
        return sum(x.nbytes for values in self._arrays.values() for x in values)

    # -- snapshots ---------------------------------------------------------------------------
    def arrays(self) -> dict[str, np.ndarray]:
        """The store as stacked arrays (``keyframes_*``), for the mapper's snapshot (nothing while it is empty)."""
        if not self.frames:
            return {}
        out = {f"keyframes_{name}": np.stack(values) for name, values in self._arrays.items()}
        out["keyframes_frames"] = np.array(self.frames, np.int64)
        out["keyframes_numbers"] = np.array(self.numbers, np.int64)
        return out

    def load_arrays(self, data) -> None:
        """Restore what ``arrays`` gave (``data``: a mapping of those names)."""
        self.__init__(self.budget_bytes / 1e6)
        if "keyframes_frames" not in data:
            return
        for name in _FIELDS:
            self._arrays[name] = list(data[f"keyframes_{name}"])
        self.frames = [int(n) for n in data["keyframes_frames"]]
        self.numbers = [int(n) for n in data["keyframes_numbers"]]
        self._bytes = self.nbytes
