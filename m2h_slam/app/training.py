"""``m2h-slam train``: the model, data and validation of a training config put together (the trainer itself knows
no metrics: validation is the dense metrics of ``m2h_slam.eval``, passed in). Runs as one process or, under
``torchrun --nproc_per_node N -m m2h_slam.cli train ...``, as N DDP processes."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from m2h_slam.core.dense_metrics import headline, score_frames
from m2h_slam.core.errors import InputError
from m2h_slam.perception.model import create_model, list_models
from m2h_slam.train.dataset import TrainingDataset
from m2h_slam.train.trainer import TrainConfig, distributed_from_environment, train

log = logging.getLogger("m2h_slam")


def dense_validation(dataset: TrainingDataset, device: str):
    """``validate(model)``: the dense metrics of the model's predictions on every frame of ``dataset``."""
    from m2h_slam.perception.predictor import Predictor, TorchBackend

    def validate(model) -> dict[str, float]:
        predictor = Predictor(TorchBackend(model, device), input_size=dataset.size)
        frames = (dataset.frame(index) for index in range(len(dataset)))
        # plain floats: the checkpoint state loads weights_only
        return headline(score_frames(lambda frame: predictor.predict(frame.rgb), frames).result())

    return validate


def initial_model(config: TrainConfig):
    """``config.model`` with the weights of ``config.init`` (else seeded random weights), its backbone from
    ``config.backbone`` when given."""
    if config.model not in list_models():
        raise InputError(None, f"model: unknown model {config.model!r}; choose from {', '.join(list_models())}")
    import torch

    torch.manual_seed(config.seed)  # the same initial weights for the same seed
    model = create_model(config.model)
    if config.init:
        from m2h_slam.perception.model.weights import load_checkpoint

        start = load_checkpoint(config.init)
        if start.config.to_dict() != model.config.to_dict():
            raise InputError(config.init, f"holds another model than '{config.model}'")
        model.load_state_dict(start.state_dict())
    if config.backbone:
        from m2h_slam.perception.model.weights import load_dinov2_backbone

        load_dinov2_backbone(model, config.backbone)
    return model


def run_training(config: TrainConfig, out: str | Path, resume: bool = False, device: str = "cpu",
                 progress: bool = True, data: TrainingDataset | None = None,
                 held_out: TrainingDataset | None = None) -> dict:
    """Train ``config.model`` on ``config.train`` (validating on ``config.val``) into the folder ``out``.
    ``data`` / ``held_out``: datasets already in memory, used instead of ``config.train`` / ``config.val``
    (``data`` takes ``config.repeats``)."""
    model = initial_model(config)
    size = tuple(config.size or model.config.input_size)
    config = dataclasses.replace(config, size=size)
    if data is None:
        if not config.train:
            raise InputError(None, "no training data: give sources on the command line or 'train:' in the config")
        data = TrainingDataset(list(config.train), size, config.augment, config.seed, config.stride,
                               config.max_frames)
    data.repeats = config.repeats
    if held_out is None and config.val:
        held_out = TrainingDataset(list(config.val), size, None, config.seed, config.stride, config.max_frames)
    log.info("training %s on %d frames at %dx%d%s", config.model, len(data.samples), *size,
             f", validating on {len(held_out)}" if held_out else "")
    with distributed_from_environment(device) as process_device:
        validate = dense_validation(held_out, process_device) if held_out is not None else None
        return train(model, data, out, config, validate, resume=resume, progress=progress, device=process_device)
