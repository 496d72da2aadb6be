"""Training loop: AdamW, per-task losses balanced by Dynamic Weight Averaging, a
checkpoint after every epoch (atomic), resumable."""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from m2h_slam.core.atomic import atomic_write_text
from m2h_slam.model.losses import DynamicWeightAverage, task_losses
from m2h_slam.model.m2h import M2H
from m2h_slam.model.weights import load_checkpoint, save_checkpoint

log = logging.getLogger("m2h_slam")


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 10
    batch_size: int = 8
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 0


def train(model: M2H, dataset, out: str | os.PathLike, config: TrainConfig = TrainConfig(),
          progress: bool = True) -> list[dict[str, float]]:
    """Train ``model`` on ``dataset``; writes OUT (safetensors) and OUT.log.json after every epoch.

    If OUT.log.json exists, training resumes from OUT after the epochs it lists.
    """
    out = Path(out)
    history_path = out.with_suffix(".log.json")
    history: list[dict[str, float]] = []
    if history_path.is_file() and out.is_file():
        history = json.loads(history_path.read_text())
        model.load_state_dict(load_checkpoint(out).state_dict())
        log.info("resuming %s after epoch %d", out, len(history))
    torch.manual_seed(config.seed + len(history))
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    for _ in history:
        schedule.step()
    dwa = DynamicWeightAverage()
    for record in history:
        dwa.update(record["losses"])
    loader = torch.utils.data.DataLoader(dataset, batch_size=config.batch_size, shuffle=True, drop_last=True)
    for epoch in range(len(history), config.epochs):
        model.train()
        sums: dict[str, float] = {}
        steps, start = 0, time.perf_counter()
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{config.epochs}", unit="batch", disable=not progress, leave=False)
        for images, target in bar:
            losses = task_losses(model(images), target)
            total = dwa.combine(losses)
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            optimizer.step()
            for name, value in losses.items():
                sums[name] = sums.get(name, 0.0) + value.item()
            steps += 1
            bar.set_postfix(loss=f"{total.item():.3f}")
        schedule.step()
        means = {name: value / max(steps, 1) for name, value in sums.items()}
        dwa.update(means)
        history.append({"epoch": epoch + 1, "losses": means, "seconds": round(time.perf_counter() - start, 1)})
        save_checkpoint(model, out)
        atomic_write_text(history_path, json.dumps(history, indent=1) + "\n")
        log.info("epoch %d: %s", epoch + 1, " ".join(f"{k}={v:.4f}" for k, v in means.items()))
    return history
