"""The numbers of the demo weights' model card (docs/model-card.md), measured the way the card states them:

1. dense metrics on held-out synthetic frames (never used for training or validation) at 320x240: depth AbsRel,
   mIoU over the classes present (in the truth or the prediction; and over the truth's classes only), normal
   angle, edge F. Two sets: seeds 900-903, 4 rooms, the first 60 frames (4 s) of each walk; and seeds 950-961,
   2-6 rooms as in training, 30 frames at 1.5 frames/s (20 s, about 10 m of walking through several rooms);
2. the test protocol (`tests/test_demo_weights.py`: seed 900, 12 frames at 224x168) the same way;
3. the real Middlebury motorcycle frame: median-scaled AbsRel of the network against the constant-depth
   baseline (every pixel at the median true depth);
4. end to end: `m2h-slam run` with the demo weights on held-out apartments (seeds 900-902, 300 frames, 320x240,
   people walking), Sim(3)-aligned ATE as % of the path, mesh F1 at 5 cm, frames lost, frames/s.

    python benchmarks/demo_weights.py [--weights W] [--skip-mapping]
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from pathlib import Path

import numpy as np
from common import report

from m2h_slam.app.run_loop import RunOptions, run
from m2h_slam.core.config import Config
from m2h_slam.core.dense_metrics import DepthScores, headline, score_frames
from m2h_slam.eval.run_eval import evaluate_run
from m2h_slam.perception import Predictor, demo_weights
from m2h_slam.sources import open_sequence
from m2h_slam.sources.samples import motorcycle_frame
from m2h_slam.synthetic import WorldSpec, write_synthetic

HELD_OUT = (900, 901, 902, 903)
HELD_OUT_WALKS = tuple(range(950, 962))  # rooms 2 + seed % 5, as datasets/synthetic/make_training_set.sh
TEST_PROTOCOL = {"seed": 900, "frames": 12, "size": (224, 168)}  # tests/test_demo_weights.py


def dense(predictor: Predictor, folders: list[Path]) -> dict:
    frames = (frame for folder in folders for frame in open_sequence(folder))
    r = score_frames(lambda frame: predictor.predict(frame.rgb), frames).result()
    return {**{key: round(value, 2 if key == "normal_mean_deg" else 4) for key, value in headline(r).items()},
            "frames": r["depth"]["frames"]}


def motorcycle(predictor: Predictor) -> dict:
    frame = motorcycle_frame()
    network, constant = DepthScores(median_scaling=True), DepthScores()
    network.add(predictor.predict(frame.rgb).depth_m, frame.depth_m)
    valid = frame.depth_m > 0
    constant.add(np.full(frame.depth_m.shape, np.median(frame.depth_m[valid]), np.float32), frame.depth_m)
    return {"median_scaled_abs_rel": round(network.result()["abs_rel"], 4),
            "constant_depth_abs_rel": round(constant.result()["abs_rel"], 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=str(demo_weights()))
    parser.add_argument("--skip-mapping", action="store_true")
    parser.add_argument("--write-card", action="store_true",
                        help="also write the numbers beside the weights (WEIGHTS.card.json, read by the tests)")
    args = parser.parse_args()
    predictor = Predictor.from_weights(args.weights)
    result = {"weights": args.weights}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        folders = [write_synthetic(tmp / f"dense{seed}", WorldSpec(seed=seed, frames=60), size=(320, 240),
                                   progress=False) for seed in HELD_OUT]
        result["held_out_320x240"] = dense(predictor, folders)
        walks = [write_synthetic(tmp / f"walk_dense{seed}",
                                 WorldSpec(seed=seed, frames=30, fps=1.5, rooms=2 + seed % 5), size=(320, 240),
                                 progress=False) for seed in HELD_OUT_WALKS]
        result["held_out_walks_320x240"] = dense(predictor, walks)
        protocol = write_synthetic(tmp / "protocol", WorldSpec(seed=TEST_PROTOCOL["seed"],
                                                               frames=TEST_PROTOCOL["frames"]),
                                   size=TEST_PROTOCOL["size"], progress=False)
        result["test_protocol"] = {**TEST_PROTOCOL, **dense(predictor, [protocol])}
        result["motorcycle"] = motorcycle(predictor)
        if not args.skip_mapping:
            config = dataclasses.replace(Config(), perception=dataclasses.replace(Config().perception,
                                                                                  weights=args.weights))
            runs = {}
            for seed in HELD_OUT[:3]:
                sequence = write_synthetic(tmp / f"walk{seed}", WorldSpec(seed=seed, frames=300, people=2),
                                           progress=False)
                record = run(open_sequence(sequence), tmp / f"run{seed}", config, RunOptions(progress=False))
                scores = evaluate_run(tmp / f"run{seed}", sequence, correct_scale=True)
                counts = record["counts"]
                runs[f"seed{seed}"] = {"ate_percent_of_path": scores["ate_percent_of_path"],
                                       "mesh_f1": scores["mesh_f1@0.05m"],
                                       "lost_percent": round(100 * counts["lost"] / counts["frames"], 1),
                                       "frames_per_s": record["frames_per_s"]}
            result["end_to_end_300f_320x240"] = runs
    report("demo_weights", result)
    if args.write_card:
        import json

        card = Path(args.weights).with_suffix(".card.json")
        card.write_text(json.dumps({k: v for k, v in result.items() if k != "weights"}, indent=1) + "\n")


if __name__ == "__main__":
    main()
