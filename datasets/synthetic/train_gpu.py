"""The demo weights' GPU recipe: render synthetic apartments straight into memory (one process per core, rays
cast on the GPU where Open3D is missing), then ``m2h-slam train``'s trainer on the GPU for a time budget.

    PYTHONPATH=. python datasets/synthetic/train_gpu.py --config configs/train/demo_gpu_1.yaml --out RUN --minutes 5

Apartments follow datasets/synthetic/make_training_set.sh (rooms 2 + seed % 5, two people, a moved object;
every fourth domain-randomised, every third of the others with camera noise, blur and exposure changes);
validation: plain seeds 850 and 852 as in configs/train/demo.yaml. A short probe measures samples/s, then the
number of epochs (and passes per epoch) is chosen to fill ``--minutes`` with one whole cosine schedule.
RUN holds the trainer's outputs (run/) and recipe.json (seeds, timings, the config used).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one thread per render process / DataLoader worker

import argparse  # noqa: E402
import csv  # noqa: E402
import dataclasses  # noqa: E402
import functools  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import math  # noqa: E402
import multiprocessing  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import torch  # noqa: E402

from m2h_slam.app.training import run_training  # noqa: E402
from m2h_slam.core.atomic import atomic_write_text  # noqa: E402
from m2h_slam.core.config import config_to_dict, load_config  # noqa: E402
from m2h_slam.core.intrinsics import Intrinsics  # noqa: E402
from m2h_slam.core.o3d import open3d  # noqa: E402
from m2h_slam.synthetic import Renderer, RenderOptions, WorldSpec, generate_world  # noqa: E402
from m2h_slam.synthetic.export import DEFAULT_HFOV_DEG  # noqa: E402
from m2h_slam.synthetic.render import Open3DRaycaster  # noqa: E402
from m2h_slam.train.dataset import TrainingDataset, compact  # noqa: E402
from m2h_slam.train.raycast_torch import TorchRaycaster  # noqa: E402
from m2h_slam.train.trainer import TrainConfig  # noqa: E402

VAL_SEEDS = (850, 852)
EPOCH_OVERHEAD_S = 5.0  # DataLoader start-up, validation and the checkpoint of one epoch


@dataclasses.dataclass(frozen=True)
class Job:
    seed: int
    frames: int
    fps: float
    stride: int
    size: tuple[int, int]
    plain: bool = False  # validation: no randomisation, no camera effects


def raycaster():
    """Open3D's where it is installed, else brute force in PyTorch (on the GPU when there is one)."""
    try:
        open3d()  # the project's one Open3D import (it preloads libusb)
    except ImportError:
        return functools.partial(TorchRaycaster, device="cuda" if torch.cuda.is_available() else "cpu")
    return Open3DRaycaster


def render(job: Job) -> list:
    """Every ``stride``-th frame of one apartment as training samples."""
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    seed, randomize = job.seed, job.seed % 4 == 1 and not job.plain
    effects = not job.plain and not randomize and seed % 3 == 0
    spec = WorldSpec(seed=seed, frames=job.frames, fps=job.fps, rooms=2 + seed % 5, people=2, move_object=True,
                     varied_furniture=randomize)
    options = RenderOptions(noise_std=3.0, blur_sigma_px=0.6, exposure_variation=0.2) if effects else \
        RenderOptions(randomize=randomize)
    renderer = Renderer(generate_world(spec), Intrinsics.from_fov(*job.size, DEFAULT_HFOV_DEG), options, raycaster())
    return [compact(renderer.render(i)) for i in range(0, job.frames, job.stride)]


def render_all(jobs: list[Job], processes: int) -> list:
    with multiprocessing.get_context("spawn").Pool(processes) as pool:  # spawn: CUDA in the workers
        return [sample for samples in pool.imap(render, jobs) for sample in samples]


def fit_schedule(rate: float, frames: int, minutes: float, epoch_minutes: float) -> tuple[int, int]:
    """(epochs, passes per epoch) that fill ``minutes`` of training at ``rate`` samples/s over ``frames`` frames,
    with epochs of about ``epoch_minutes`` (each also pays EPOCH_OVERHEAD_S)."""
    epochs = max(1, round(minutes / epoch_minutes))
    return epochs, max(1, int((minutes * 60 / epochs - EPOCH_OVERHEAD_S) * rate / frames))


def probe_rate(config: TrainConfig, data: TrainingDataset, out: Path, device: str, steps: int) -> float:
    """Steady training samples/s over the second half of ``steps`` steps (start-up left out)."""
    half = steps // 2
    probe = dataclasses.replace(config, epochs=1, repeats=max(1, math.ceil(steps * config.batch_size / len(data.samples))),
                                stop_after_steps=steps, log_every_steps=half, checkpoint_every_steps=0)
    run_training(probe, out, device=device, progress=False, data=data)
    with (out / "train.csv").open() as handle:
        rows = {int(r["step"]): float(r["samples_per_s"]) for r in csv.DictReader(handle)}
    batch = config.batch_size
    seconds = steps * batch / rows[steps] - half * batch / rows[half]
    return half * batch / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--config", default="configs/train/demo_gpu_1.yaml")
    parser.add_argument("--apartments", type=int, default=400)
    parser.add_argument("--first-seed", type=int, default=1000)
    parser.add_argument("--frames", type=int, default=30, help="per apartment")
    parser.add_argument("--fps", type=float, default=1.5, help="of the camera's walk (fewer: farther apart)")
    parser.add_argument("--minutes", type=float, default=5.0, help="training time to fill")
    parser.add_argument("--epoch-minutes", type=float, default=1.0, help="about this long per epoch")
    parser.add_argument("--jobs", type=int, default=os.cpu_count())
    parser.add_argument("--probe-steps", type=int, default=40)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")  # the trainer's per-epoch lines
    cv2.setNumThreads(1)  # also in the DataLoader workers forked from here: one thread each
    if args.out.exists():
        parser.error(f"{args.out} exists; choose another --out")
    args.out.mkdir(parents=True)
    config = load_config(args.config, TrainConfig)
    size = tuple(config.size)
    record = {"args": {k: str(v) for k, v in vars(args).items()}, "device": torch.cuda.get_device_name()
              if args.device.startswith("cuda") else "cpu"}

    started = time.perf_counter()
    seeds = range(args.first_seed, args.first_seed + args.apartments)
    samples = render_all([Job(s, args.frames, args.fps, 1, size) for s in seeds], args.jobs)
    val = render_all([Job(s, 60, 3.0, 2, size, plain=True) for s in VAL_SEEDS], len(VAL_SEEDS))
    record["render_s"] = round(time.perf_counter() - started, 1)
    print(f"rendered {len(samples)} training and {len(val)} validation frames in {record['render_s']} s", flush=True)
    data = TrainingDataset.from_samples(samples, size, config.augment, config.seed)
    held_out = TrainingDataset.from_samples(val, size)

    rate = probe_rate(config, data, args.out / "probe", args.device, args.probe_steps)
    epochs, repeats = fit_schedule(rate, len(samples), args.minutes, args.epoch_minutes)
    config = dataclasses.replace(config, epochs=epochs, repeats=repeats)
    record.update(probe_samples_per_s=round(rate, 1), epochs=epochs, repeats=repeats,
                  train_frames=len(samples), val_frames=len(val), config=config_to_dict(config))
    print(f"{rate:.0f} samples/s: {epochs} epochs of {repeats} passes over {len(samples)} frames", flush=True)
    atomic_write_text(args.out / "recipe.json", json.dumps(record, indent=1) + "\n")

    started = time.perf_counter()
    summary = run_training(config, args.out / "run", device=args.device, progress=False, data=data,
                           held_out=held_out)
    record["train_s"] = round(time.perf_counter() - started, 1)
    record["finished"] = summary["finished"]
    atomic_write_text(args.out / "recipe.json", json.dumps(record, indent=1) + "\n")
    print(f"trained {summary['steps']} steps in {record['train_s']} s", flush=True)


if __name__ == "__main__":
    main()
