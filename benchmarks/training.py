"""Training throughput (samples/s) of `m2h-slam train` for m2h_tiny and m2h_small_vits14 at the demo input size,
with 1 and 2 DataLoader workers, side by side on the same randomised synthetic frames (augmentations on).

    python benchmarks/training.py [--steps 12] [--batch-size 8]
"""

from __future__ import annotations

import argparse
import csv
import tempfile
from pathlib import Path

from common import peak_rss_mb, report

from m2h_slam.perception.model import create_model
from m2h_slam.synthetic import RenderOptions, WorldSpec, write_synthetic
from m2h_slam.train import TrainConfig, TrainingDataset, train


def samples_per_s(model_name: str, data: Path, size: tuple[int, int], workers: int, steps: int, batch: int,
                  out: Path) -> float:
    config = TrainConfig(model=model_name, size=size, batch_size=batch, workers=workers, warmup_steps=0,
                         log_every_steps=1, stop_after_steps=steps, epochs=100)
    dataset = TrainingDataset([data], size, config.augment)
    train(create_model(model_name), dataset, out, config, progress=False)
    with (out / "train.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return float(rows[-1]["samples_per_s"])  # over the whole run, first batch included


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()
    size = tuple(create_model("m2h_tiny").config.input_size)  # the demo network's input size
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = write_synthetic(Path(tmp) / "data", WorldSpec(seed=3, frames=args.steps * args.batch_size),
                               size=size, options=RenderOptions(randomize=True), progress=False)
        for name in ("m2h_tiny", "m2h_small_vits14"):
            results[name] = {f"workers_{w}": round(samples_per_s(name, data, size, w, args.steps, args.batch_size,
                                                                 Path(tmp) / f"{name}-{w}"), 2) for w in (1, 2)}
            results[name]["ratio_2_vs_1"] = round(results[name]["workers_2"] / results[name]["workers_1"], 2)
    report("training", {"size": list(size), "batch_size": args.batch_size, "steps": args.steps,
                        "samples_per_s": results, "peak_rss_mb": round(peak_rss_mb(), 1)})


if __name__ == "__main__":
    main()
