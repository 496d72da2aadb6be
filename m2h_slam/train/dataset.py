"""Training samples from m2h sequence folders with ground truth (e.g. ``m2h-slam synth``)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from m2h_slam.core.errors import InputError
from m2h_slam.data import ReadOptions, open_sequence
from m2h_slam.model.config import IMAGE_MEAN, IMAGE_STD

REQUIRED = ("depth_m", "semantics", "normals", "edges")


class SequenceDataset(torch.utils.data.Dataset):
    """All frames of the given sequences, resized to ``size`` (W, H), as (image, target) pairs.

    image: (3, H, W) normalised. target: depth (1, H, W) m, semantics (H, W) long,
    normals (3, H, W), edges (1, H, W), intrinsics (4,) fx, fy, cx, cy px.
    Frames are decoded once and kept in memory (uint8 / float16).
    """

    def __init__(self, folders: list[str | os.PathLike], size: tuple[int, int]):
        self.size = size
        self.samples = []
        for folder in folders:
            sequence = open_sequence(folder, ReadOptions(resize=size))
            missing = [k for k in REQUIRED if k not in sequence.ground_truth]
            if missing:
                raise InputError(Path(folder), f"training needs ground truth {', '.join(missing)}")
            for frame in sequence:
                K = frame.intrinsics
                self.samples.append((frame.rgb, frame.depth_m.astype(np.float16), frame.semantics,
                                     frame.normals.astype(np.float16), frame.edges,
                                     np.array([K.fx, K.fy, K.cx, K.cy], np.float32)))
        self.mean = torch.tensor(IMAGE_MEAN).view(3, 1, 1)
        self.std = torch.tensor(IMAGE_STD).view(3, 1, 1)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        rgb, depth, semantics, normals, edges, K = self.samples[index]
        image = (torch.from_numpy(rgb).permute(2, 0, 1).float() / 255.0 - self.mean) / self.std
        target = {
            "depth": torch.from_numpy(depth.astype(np.float32))[None],
            "semantics": torch.from_numpy(semantics.astype(np.int64)),
            "normals": torch.from_numpy(normals.astype(np.float32)).permute(2, 0, 1),
            # Edges a pixel wide are hard to hit at low resolution: widen to 3 px for training.
            "edges": F.max_pool2d(torch.from_numpy(edges).float()[None, None], 3, 1, 1)[0],
            "intrinsics": torch.from_numpy(K),
        }
        return image, target
