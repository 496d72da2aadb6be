"""Data-set evaluation throughput: frames/s of `m2h-slam eval DATASET --out OUT` (predict with the demo weights
and score depth, semantics, normals and edges) at 1024x768 with 1 worker and with 2 (Ray), side by side on the
same data, plus the cost of the dense metrics alone per frame.

    python benchmarks/dataset_eval.py [--scenes 4] [--frames 30] [--size 1024x768]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import report, timed

from m2h_slam.app.dataset_eval import EvalSettings, evaluate_dataset
from m2h_slam.core.dense_metrics import FrameScores
from m2h_slam.perception.ground_truth import prediction_from_ground_truth
from m2h_slam.sources import open_sequence
from m2h_slam.synthetic import WorldSpec, write_synthetic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=4)
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--size", default="1024x768")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        for seed in range(args.scenes):
            write_synthetic(data / f"apt{seed}", WorldSpec(seed=100 + seed, frames=args.frames), size=size,
                            progress=False)
        frames = args.scenes * args.frames
        frame = next(iter(open_sequence(data / "apt0")))
        perfect = prediction_from_ground_truth(frame)
        metrics_ms = 1000 * timed(lambda: FrameScores().add(perfect, frame), repeat=5)
        runs = {}
        for workers in (1, 2):
            start = time.perf_counter()
            metrics = evaluate_dataset(data, Path(tmp) / f"out{workers}", EvalSettings(), workers=workers,
                                       progress=False)
            wall_s = time.perf_counter() - start
            assert metrics["aggregate"]["frames"] == frames and not metrics["failed"]
            runs[workers] = {"wall_s": round(wall_s, 2), "frames_per_s": round(frames / wall_s, 2),
                             "depth_abs_rel": round(metrics["aggregate"]["dense"]["depth"]["abs_rel"], 4)}
    report("dataset_eval", {
        "size": list(size), "scenes": args.scenes, "frames": frames,
        "dense_metrics_ms_per_frame": round(metrics_ms, 1),
        "workers_1": runs[1], "workers_2": runs[2],
        "speedup_2_vs_1": round(runs[2]["frames_per_s"] / runs[1]["frames_per_s"], 2),
        "same_scores": bool(runs[1]["depth_abs_rel"] == runs[2]["depth_abs_rel"]),
    })


if __name__ == "__main__":
    main()
