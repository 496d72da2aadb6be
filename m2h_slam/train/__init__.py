"""Training the M2H network on sequences with ground truth."""

from m2h_slam.train.dataset import SequenceDataset
from m2h_slam.train.trainer import TrainConfig, train

__all__ = ["SequenceDataset", "TrainConfig", "train"]
