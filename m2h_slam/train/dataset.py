"""Training samples from any source ``open_sequence`` reads with depth and semantic ground truth: m2h sequence
folders (``m2h-slam synth``, user data), NYUD-MT (a split file ``gt_sets/train.txt``), Hypersim scenes, ScanNet.

Frames are resized to the training size once and kept in memory (uint8 / float16). Targets a source lacks are
derived: normals from the depth (``normals_from_depth``), edges from the class / instance boundaries. With an
``AugmentConfig`` every item is a fresh random draw, reproducible from (seed, epoch, index) whichever
DataLoader worker or DDP rank produces it; ``set_epoch`` moves to the next draw (as DistributedSampler does).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from m2h_slam.core.errors import InputError
from m2h_slam.core.geometry import normals_from_depth
from m2h_slam.core.intrinsics import Intrinsics
from m2h_slam.core.labels import semantic_edges
from m2h_slam.core.records import Frame
from m2h_slam.perception.model.config import IMAGE_MEAN, IMAGE_STD
from m2h_slam.sources import ReadOptions, open_sequence
from m2h_slam.train.augment import AugmentConfig, augment

REQUIRED = ("depth_m", "semantics")


Sample = tuple  # (rgb uint8, depth float16, semantics, normals float16, edges, (fx, fy, cx, cy, width, height))


def compact(frame: Frame) -> Sample:
    """What a sample keeps in memory: uint8 images, float16 depth and normals, the intrinsics."""
    normals = frame.normals if frame.normals is not None else normals_from_depth(frame.depth_m, frame.intrinsics)
    edges = frame.edges if frame.edges is not None else semantic_edges(frame.semantics, frame.instances)
    K = frame.intrinsics
    return (frame.rgb, frame.depth_m.astype(np.float16), frame.semantics, normals.astype(np.float16), edges,
            (K.fx, K.fy, K.cx, K.cy, K.width, K.height))


class TrainingDataset(torch.utils.data.Dataset):
    """All frames of ``sources`` at ``size`` (W, H) as (image, target) pairs, ``repeats`` times per epoch (each
    repeat with its own augmentation draw).

    image: (3, H, W) normalised. target: depth (1, H, W) m (0 invalid), semantics (H, W) long (0 ignored),
    normals (3, H, W), edges (1, H, W) in {0, 1} (widened to 3 px), intrinsics (4,) fx, fy, cx, cy px.
    """

    def __init__(self, sources: list[str | os.PathLike], size: tuple[int, int], augment: AugmentConfig | None = None,
                 seed: int = 0, stride: int = 1, max_frames: int | None = None, repeats: int = 1):
        samples = []
        for source in sources:
            sequence = open_sequence(source, ReadOptions(stride=stride, max_frames=max_frames, resize=size))
            missing = [k for k in REQUIRED if k not in sequence.ground_truth]
            if missing:
                raise InputError(Path(source), f"training needs ground truth {', '.join(missing)}")
            samples += [compact(frame) for frame in sequence]
        if not samples:
            raise InputError(Path(str(sources[0])) if sources else None, "no training frames")
        self._hold(samples, size, augment, seed, repeats)

    @classmethod
    def from_samples(cls, samples: list[Sample], size: tuple[int, int], augment: AugmentConfig | None = None,
                     seed: int = 0, repeats: int = 1) -> TrainingDataset:
        """A dataset of frames already in memory (``compact(frame)`` of frames at ``size``)."""
        wrong = [s[5][4:] for s in samples if tuple(s[5][4:]) != tuple(size)]
        if not samples or wrong:
            raise ValueError(f"need samples of size {size}, got {len(samples)} with {len(wrong)} of other sizes")
        dataset = cls.__new__(cls)
        dataset._hold(list(samples), size, augment, seed, repeats)
        return dataset

    def _hold(self, samples: list[Sample], size: tuple[int, int], augment: AugmentConfig | None, seed: int,
              repeats: int) -> None:
        self.samples, self.size, self.augment, self.seed, self.repeats, self.epoch = samples, size, augment, seed, repeats, 0
        self.mean = torch.tensor(IMAGE_MEAN).view(3, 1, 1)
        self.std = torch.tensor(IMAGE_STD).view(3, 1, 1)

    def __len__(self) -> int:
        return len(self.samples) * self.repeats

    def set_epoch(self, epoch: int) -> None:
        """Augmentations of ``epoch`` (each epoch draws anew)."""
        self.epoch = epoch

    def frame(self, index: int) -> Frame:
        """Sample ``index`` as a Frame (augmented when the dataset augments); repeat r of frame i is index
        r * frames + i."""
        if not 0 <= index < len(self):
            raise IndexError(f"sample {index} of {len(self)}")  # also ends iteration over the dataset
        rgb, depth, semantics, normals, edges, (fx, fy, cx, cy, width, height) = self.samples[index % len(self.samples)]
        frame = Frame(index, 0.0, rgb, Intrinsics(fx, fy, cx, cy, width, height), depth_m=depth.astype(np.float32),
                      semantics=semantics, normals=normals.astype(np.float32), edges=edges)
        if self.augment is not None:
            frame = augment(frame, np.random.default_rng([self.seed, self.epoch, index]), self.augment)
        return frame

    def __getitem__(self, index: int):
        frame = self.frame(index)
        K = frame.intrinsics
        image = (torch.from_numpy(frame.rgb).permute(2, 0, 1).float() / 255.0 - self.mean) / self.std
        target = {
            "depth": torch.from_numpy(frame.depth_m)[None],
            "semantics": torch.from_numpy(frame.semantics.astype(np.int64)),
            "normals": torch.from_numpy(frame.normals).permute(2, 0, 1),
            # Edges a pixel wide are hard to hit at low resolution: widen to 3 px for training.
            "edges": F.max_pool2d(torch.from_numpy(frame.edges).float()[None, None], 3, 1, 1)[0],
            "intrinsics": torch.tensor([K.fx, K.fy, K.cx, K.cy], dtype=torch.float32),
        }
        return image, target
