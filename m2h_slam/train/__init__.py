"""Training the M2H network: datasets with geometry-consistent augmentations, the training loop."""

from m2h_slam.train.augment import AugmentConfig, augment
from m2h_slam.train.dataset import TrainingDataset
from m2h_slam.train.trainer import TrainConfig, train

__all__ = ["AugmentConfig", "TrainConfig", "TrainingDataset", "augment", "train"]
