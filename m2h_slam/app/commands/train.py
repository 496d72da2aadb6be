"""``m2h-slam train SOURCE... --out RUN``: train M2H (one process, or DDP under torchrun)."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import os

from m2h_slam.app.arguments import (
    add_device_argument,
    flags_checked,
    network_size,
    non_negative_int,
    positive,
    positive_int,
)

log = logging.getLogger("m2h_slam")


def add(commands, common: argparse.ArgumentParser) -> None:
    train = commands.add_parser("train", parents=[common],
                                help="train an M2H model (one process, or DDP under torchrun)",
                                description="Train on sources with depth and semantic ground truth (m2h sequences, "
                                            "NYUD-MT gt_sets/train.txt, Hypersim, ScanNet). Multi-GPU / multi-node: "
                                            "torchrun --nproc_per_node N -m m2h_slam.cli train ...")
    train.add_argument("sources", nargs="*", help="training sources (default: the config's train:)")
    train.add_argument("--config", help="training config YAML (configs/train/*.yaml)")
    train.add_argument("--out", required=True, help="training folder: checkpoints, CSV and TensorBoard logs")
    train.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    train.add_argument("--val", nargs="+", metavar="SOURCE", help="validation sources (default: the config's val:)")
    train.add_argument("--model", help="registry entry (default: the config's, m2h_tiny)")
    train.add_argument("--backbone", metavar="FILE",
                       help="DINOv2 backbone weights to start from (torch-hub .pth or timm .safetensors)")
    train.add_argument("--epochs", type=positive_int)
    train.add_argument("--batch-size", type=positive_int, help="per process")
    train.add_argument("--lr", type=positive, help="peak learning rate")
    train.add_argument("--size", type=network_size, metavar="WxH", help="training image size (default: the model's)")
    train.add_argument("--workers", type=non_negative_int, help="DataLoader worker processes")
    train.add_argument("--stop-after-steps", type=positive_int, metavar="N",
                       help="stop with a checkpoint after N steps in all (--resume goes on)")
    add_device_argument(train)
    train.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from m2h_slam.app.output_folder import check_not_input
    from m2h_slam.app.output_lock import output_lock
    from m2h_slam.app.training import run_training
    from m2h_slam.core.config import load_config
    from m2h_slam.train.trainer import TrainConfig

    config = load_config(args.config, TrainConfig)
    overrides = {"train": tuple(args.sources) or None, "val": tuple(args.val) if args.val else None,
                 "model": args.model, "backbone": args.backbone, "epochs": args.epochs, "batch_size": args.batch_size, "learning_rate": args.lr,
                 "size": args.size, "workers": args.workers, "stop_after_steps": args.stop_after_steps}
    flags = {**{k: "--" + k.replace("_", "-") for k in overrides}, "learning_rate": "--lr", "train": "sources"}
    with flags_checked(flags):  # the ranges are TrainConfig's
        config = dataclasses.replace(config, **{k: v for k, v in overrides.items() if v is not None})
    check_not_input(args.out, [*config.train, *config.val])  # a training folder never replaces its data
    device = args.device or "cpu"
    if device != "cpu":
        from m2h_slam.perception import check_device

        check_device(device)
    # one m2h-slam at a time in OUT; under torchrun the first process holds the lock for all of them
    first = os.environ.get("RANK", "0") == "0"
    with output_lock(args.out) if first else contextlib.nullcontext():
        summary = run_training(config, args.out, resume=args.resume, device=device, progress=not args.quiet)
    log.info("%s: %d steps, %d of %d epochs%s", args.out, summary["steps"], summary["epochs_done"], config.epochs,
             "" if summary["finished"] else " (stopped; --resume continues)")
    return 0
