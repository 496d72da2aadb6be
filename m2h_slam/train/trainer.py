"""The training loop: AdamW, linear warm-up then cosine decay (per step), gradient clipping, autocast where the
device supports it, per-task losses balanced by Dynamic Weight Averaging (or equally) plus the cross-task
consistency terms, validation each epoch, resumable checkpoints, CSV and TensorBoard logs, DDP.

    OUT/last.safetensors      the weights after the last finished step that was saved (m2h-slam's format)
    OUT/last.state.pt         optimizer, schedule, step, DWA history and RNG states (``torch.load(weights_only=True)``)
    OUT/best.safetensors      the weights with the best validation score so far
    OUT/train.csv, val.csv    losses (every ``log_every_steps``) and validation metrics (every epoch)
    OUT/tensorboard/          the same as TensorBoard scalars
    OUT/train.json            config, history, replica checksums (DDP)

Under ``torchrun`` (``WORLD_SIZE`` set) each process trains one replica (DDP, DistributedSampler); rank 0
writes. Batches are drawn from a DistributedSampler seeded per epoch and augmentations from (seed, epoch,
index), so a resumed run sees the same samples, in the same order, as one that was never stopped.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import math
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
import torch.distributed as dist

from m2h_slam.core.atomic import atomic_write, atomic_write_text
from m2h_slam.core.config import (
    AT_LEAST_ONE,
    NETWORK_SIDE_PX,
    NON_NEGATIVE,
    POSITIVE,
    SEED,
    WORKERS,
    Checked,
    Range,
    config_to_dict,
    ranged,
)
from m2h_slam.core.errors import InputError
from m2h_slam.core.interrupts import Interrupts
from m2h_slam.core.progress import progress as progress_bar
from m2h_slam.perception.model.losses import DynamicWeightAverage, SemanticWeighting, task_losses
from m2h_slam.perception.model.weights import load_checkpoint, save_checkpoint
from m2h_slam.train.augment import AugmentConfig

log = logging.getLogger("m2h_slam")


@dataclass(frozen=True)
class TrainConfig(Checked):
    """``m2h-slam train --config FILE`` (configs/train/*.yaml); unknown keys are errors naming the file."""

    model: str = "m2h_tiny"
    init: str | None = None  # weights to start from (our .safetensors of the same model), e.g. the demo weights
    # DINOv2 backbone weights to start from (torch-hub .pth or timm .safetensors of the model's ViT), e.g. for
    # m2h_vits14 the official dinov2_vits14 file; the decoder starts from seeded random weights
    backbone: str | None = None
    train: tuple[str, ...] = ()  # sources with depth + semantics ground truth
    val: tuple[str, ...] = ()
    size: tuple[int, int] | None = ranged(None, NETWORK_SIDE_PX)  # (W, H); default: the model's input size
    stride: int = ranged(1, AT_LEAST_ONE)  # every N-th frame of each source
    max_frames: int | None = ranged(None, AT_LEAST_ONE)  # per source
    epochs: int = ranged(10, Range(1, limit=10_000))  # the cosine schedule spans them all: no run ends 10k
    # passes over the training frames per epoch, each freshly augmented (each epoch draws a permutation of all the
    # passes: 8 bytes a frame and pass)
    repeats: int = ranged(1, Range(1, limit=10_000))
    batch_size: int = ranged(8, Range(1, limit=1024))  # per process (1024 frames at 224 px: 2 GB of inputs alone)
    learning_rate: float = ranged(1e-3, POSITIVE)
    weight_decay: float = ranged(1e-4, NON_NEGATIVE)
    warmup_steps: int = ranged(100, NON_NEGATIVE)
    clip_grad_norm: float = ranged(1.0, NON_NEGATIVE)  # 0: no clipping
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"  # auto: bf16 on CUDA when supported, else fp32
    dwa: bool = True  # Dynamic Weight Averaging of the task losses; False: equal weights
    dwa_temperature: float = ranged(2.0, POSITIVE)
    consistency_weight: float = ranged(0.1, NON_NEGATIVE)  # depth-normal and edge-semantic terms
    semantic_weighting: SemanticWeighting = "sqrt_inverse"  # class weights of the semantic cross-entropy
    augment: AugmentConfig | None = field(default_factory=AugmentConfig)
    workers: int = ranged(2, Range(0, limit=WORKERS.limit))  # DataLoader worker processes
    seed: int = ranged(0, SEED)
    log_every_steps: int = ranged(10, AT_LEAST_ONE)
    checkpoint_every_steps: int = ranged(0, NON_NEGATIVE)  # 0: at the end of each epoch only
    # stop (with a checkpoint) after this many steps in all; --resume goes on
    stop_after_steps: int | None = ranged(None, AT_LEAST_ONE)


def lr_factor(step: int, warmup_steps: int, total_steps: int) -> float:
    """Learning-rate multiplier: linear warm-up to 1, then cosine decay to 0 at ``total_steps``."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``precision`` on ``device`` (None: full precision)."""
    if precision == "auto":
        return torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else None
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


class _Skip(torch.utils.data.Sampler):
    """The indices of ``sampler`` after the first ``skip`` (resuming inside an epoch)."""

    def __init__(self, sampler, skip: int):
        self.sampler, self.skip = sampler, skip

    def __iter__(self):
        for k, index in enumerate(self.sampler):
            if k >= self.skip:
                yield index

    def __len__(self) -> int:
        return max(0, len(self.sampler) - self.skip)


@dataclass
class _Logs:
    """CSV and TensorBoard writers (rank 0 only)."""

    out: Path
    writer: object = None

    def __post_init__(self):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise InputError(None, "training logs need TensorBoard; pip install 'm2h-slam[train]'") from None
        self.writer = SummaryWriter(str(self.out / "tensorboard"))

    def forget_after(self, step: int) -> None:
        """Drop the CSV rows logged after ``step`` (a run killed after its last checkpoint logged them; the
        resumed run logs those steps again)."""
        for path in (self.out / "train.csv", self.out / "val.csv"):
            if path.is_file():
                with path.open(newline="") as handle:
                    rows = list(csv.DictReader(handle))
                kept = [r for r in rows if int(r["step"]) <= step]
                if len(kept) < len(rows):
                    atomic_write_text(path, _csv_text(rows[0].keys(), kept))

    def row(self, name: str, values: dict[str, float]) -> None:
        path = self.out / f"{name}.csv"
        new = not path.is_file()
        with path.open("a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(values))
            if new:
                writer.writeheader()
            writer.writerow(values)
        for key, value in values.items():
            if key not in ("step", "epoch"):
                self.writer.add_scalar(f"{name}/{key}", value, int(values["step"]))
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def _csv_text(fields, rows: list[dict]) -> str:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(fields))
    writer.writeheader()
    writer.writerows(rows)
    return text.getvalue()


def _state_path(out: Path) -> Path:
    return out / "last.state.pt"


def _save(out: Path, model, optimizer, schedule, state: dict) -> int:
    """Weights, then the training state that refers to them (a kill between the two keeps the previous pair
    loadable: the state names the step its weights were saved at). Returns the step saved."""
    save_checkpoint(model, out / "last.safetensors")
    payload = {"optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
               "torch_rng": torch.get_rng_state(), **state}
    atomic_write(_state_path(out), lambda tmp: torch.save(payload, tmp))
    return state["step"]


def _optimise(net, params: list, images: torch.Tensor, target: dict[str, torch.Tensor], stepping: tuple, dwa,
              config: TrainConfig, dtype: torch.dtype | None) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """One optimisation step on a batch; ``params``: the trained parameters (clipped); ``stepping``: (optimizer,
    grad scaler, schedule). Returns the task losses and their combined total."""
    optimizer, scaler, schedule = stepping
    with torch.autocast(images.device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
        losses = task_losses(net(images), target, config.consistency_weight, config.semantic_weighting)
    total = dwa.combine(losses) if config.dwa else sum(losses.values())
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(total).backward()
    if config.clip_grad_norm > 0:
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(params, config.clip_grad_norm)
    scaler.step(optimizer)
    scaler.update()
    schedule.step()
    return losses, total


def _ignore_stop_signals(_worker_id: int) -> None:
    """DataLoader workers leave Ctrl-C and SIGTERM to the main process, which saves and then stops them."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _checksum(model) -> torch.Tensor:
    """(2,) float64 sum and sum of squares of every parameter (equal on every DDP replica)."""
    values = torch.cat([p.detach().double().flatten().cpu() for p in model.parameters()])
    return torch.stack([values.sum(), (values**2).sum()])


def train(model, dataset, out: str | os.PathLike, config: TrainConfig = TrainConfig(),
          validate: Callable[[torch.nn.Module], dict[str, float]] | None = None, resume: bool = False,
          progress: bool = True, device: str = "cpu") -> dict:
    """Train ``model`` on ``dataset`` (a TrainingDataset) into the folder ``out``; returns the train.json record.

    ``validate(model) -> {metric: value}`` runs after each epoch on rank 0 (``abs_rel`` lower is better picks
    best.safetensors, else the first metric). ``resume``: continue from OUT/last.*; without it, a folder that
    holds a training run is refused.
    """
    out = Path(out)
    distributed = dist.is_available() and dist.is_initialized()
    rank, world = (dist.get_rank(), dist.get_world_size()) if distributed else (0, 1)
    main = rank == 0
    # epoch_sums / epoch_steps: the running loss sums of the epoch in progress (DWA needs whole-epoch means)
    state = {"step": 0, "epoch": 0, "dwa": [], "best": None, "history": [], "epoch_sums": {}, "epoch_steps": 0}
    if resume:
        if not _state_path(out).is_file():
            raise InputError(out, "holds no training run to resume (no last.state.pt)")
        saved = torch.load(_state_path(out), weights_only=True)
        model.load_state_dict(load_checkpoint(out / "last.safetensors").state_dict())
        state.update({k: saved[k] for k in state})
    elif _state_path(out).is_file():
        raise InputError(out, "holds a training run; pass --resume to continue it or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    torch_device = torch.device(device)
    model.to(torch_device)
    # find_unused_parameters: the backbone's final norm (and frozen parts) get no gradient; without it their
    # buckets would never be averaged and the replicas would drift apart
    net = torch.nn.parallel.DistributedDataParallel(model, find_unused_parameters=True) if distributed else model
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay)
    sampler = torch.utils.data.DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=True,
                                                  seed=config.seed, drop_last=True)
    steps_per_epoch = len(sampler) // config.batch_size
    if steps_per_epoch == 0:
        raise InputError(None, f"{len(dataset)} training frames make no batch of {config.batch_size} per process")
    total_steps = config.epochs * steps_per_epoch
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, config.warmup_steps, total_steps))
    if resume:
        optimizer.load_state_dict(saved["optimizer"])
        schedule.load_state_dict(saved["schedule"])
        torch.set_rng_state(saved["torch_rng"])
        log.info("resuming %s at step %d of %d (epoch %d)", out, state["step"], total_steps, state["epoch"] + 1)
    else:
        torch.manual_seed(config.seed)
    dwa = DynamicWeightAverage(config.dwa_temperature)
    dwa.history = list(state["dwa"])
    dtype = autocast_dtype(config.precision, torch_device)
    scaler = torch.amp.GradScaler(enabled=dtype == torch.float16)
    logs = _Logs(out) if main else None
    if logs is not None and resume:
        logs.forget_after(state["step"])
    stopped = False
    saved_step = state["step"]
    try:
        with Interrupts() as interrupts:
            while state["epoch"] < config.epochs and not stopped:
                epoch = state["epoch"]
                sampler.set_epoch(epoch)
                dataset.set_epoch(epoch)
                done_in_epoch = state["step"] - epoch * steps_per_epoch
                loader = torch.utils.data.DataLoader(
                    dataset, batch_size=config.batch_size, sampler=_Skip(sampler, done_in_epoch * config.batch_size),
                    drop_last=True, num_workers=config.workers, persistent_workers=False,
                    worker_init_fn=_ignore_stop_signals)
                net.train()
                sums: dict[str, float] = state["epoch_sums"]
                started, seen = time.perf_counter(), 0
                bar = progress_bar(loader, desc=f"epoch {epoch + 1}/{config.epochs}", unit="batch", leave=False,
                           disable=not (progress and main), initial=done_in_epoch, total=steps_per_epoch)
                for images, target in bar:
                    with interrupts.critical():  # a stop waits for the step to finish
                        losses, total = _optimise(net, params, images.to(torch_device),
                                                  {k: v.to(torch_device) for k, v in target.items()},
                                                  (optimizer, scaler, schedule), dwa, config, dtype)
                        state["step"] += 1
                        state["epoch_steps"] += 1
                        seen += len(images) * world
                        for name, value in losses.items():
                            sums[name] = sums.get(name, 0.0) + value.item()
                        rate = seen / max(time.perf_counter() - started, 1e-9)
                        bar.set_postfix(loss=f"{total.item():.3f}", samples_per_s=f"{rate:.1f}")
                        if main and state["step"] % config.log_every_steps == 0:
                            logs.row("train", {"step": state["step"], "epoch": epoch + 1, "lr": schedule.get_last_lr()[0],
                                               "loss": total.item(), "samples_per_s": rate,
                                               **{k: v.item() for k, v in losses.items()}})
                        stopped = config.stop_after_steps is not None and state["step"] >= config.stop_after_steps
                        if main and (stopped or (config.checkpoint_every_steps
                                                 and state["step"] % config.checkpoint_every_steps == 0)):
                            saved_step = _save(out, model, optimizer, schedule, state)
                    if stopped:
                        break
                if stopped and state["step"] < (epoch + 1) * steps_per_epoch:
                    break
                means = {name: value / max(state["epoch_steps"], 1) for name, value in sums.items()}
                dwa.update(means)
                state.update({"dwa": list(dwa.history), "epoch": epoch + 1, "epoch_sums": {}, "epoch_steps": 0})
                record = {"epoch": epoch + 1, "step": state["step"], "losses": means,
                          "seconds": round(time.perf_counter() - started, 1)}
                if main and validate is not None:
                    model.eval()
                    with torch.no_grad():
                        record["val"] = validate(model)
                    logs.row("val", {"step": state["step"], "epoch": epoch + 1, **record["val"]})
                    _keep_best(out, model, record["val"], state)
                state["history"].append(record)
                if main:
                    saved_step = _save(out, model, optimizer, schedule, state)
                    log.info("epoch %d: %s", epoch + 1, " ".join(f"{k}={v:.4f}" for k, v in means.items()))
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: keep every finished step, then stop as asked
        if main and state["step"] > saved_step:
            _save(out, model, optimizer, schedule, state)
            log.info("stopped at step %d; --resume continues from there", state["step"])
        raise
    finally:
        if logs is not None:
            logs.close()
    summary = {"config": config_to_dict(config), "steps": state["step"], "epochs_done": state["epoch"],
               "steps_per_epoch": steps_per_epoch, "world_size": world, "history": state["history"],
               "finished": state["step"] >= total_steps}
    if distributed:
        checks = [torch.zeros(2, dtype=torch.float64) for _ in range(world)]
        dist.all_gather(checks, _checksum(model))
        summary["replica_checksums"] = [c.tolist() for c in checks]
    else:
        summary["replica_checksums"] = [_checksum(model).tolist()]
    if main:
        atomic_write_text(out / "train.json", json.dumps(summary, indent=1) + "\n")
    return summary


def _keep_best(out: Path, model, metrics: dict[str, float], state: dict) -> None:
    key = "abs_rel" if "abs_rel" in metrics else next(iter(metrics), None)
    if key is None:
        return
    score = metrics[key] if key == "abs_rel" else -metrics[key]
    if state["best"] is None or score < state["best"]:
        state["best"] = score
        save_checkpoint(model, out / "best.safetensors")


@contextlib.contextmanager
def distributed_from_environment(device: str):
    """Under torchrun (WORLD_SIZE > 1): join the process group (NCCL on CUDA, else gloo) for the block; yields
    this process's device."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        yield device
        return
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.set_device(local_rank)
        device = f"cuda:{local_rank}"
    dist.init_process_group(backend="nccl" if cuda else "gloo")
    try:
        yield device
    finally:
        dist.destroy_process_group()
