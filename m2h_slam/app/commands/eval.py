"""``m2h-slam eval``: score a run against its sequence (``--gt``), or evaluate a data set (``--out``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from m2h_slam.app.arguments import add_input_arguments, add_network_arguments, positive, positive_int
from m2h_slam.core.errors import InputError


def add(commands, common: argparse.ArgumentParser) -> None:
    evaluate = commands.add_parser(
        "eval", parents=[common], help="score a run against its sequence (--gt), or evaluate a data set (--out)",
        description="Score a run: m2h-slam eval RUN --gt SEQUENCE. Evaluate a data set (Hypersim, ScanNet, Replica, "
                    "NYUD-MT, m2h sequences): m2h-slam eval DATASET --out FOLDER [--map] [--workers N].")
    evaluate.add_argument("path", help="output folder of m2h-slam run (with --gt), or a data set (with --out)")
    evaluate.add_argument("--gt", help="sequence with ground truth that the run mapped")
    evaluate.add_argument("--camera", metavar="CAM", help="with --gt: the camera of a Hypersim scene "
                                                          "(default: the first)")
    evaluate.add_argument("--out", help="folder for a data-set evaluation (metrics.json, report.md); resumes")
    evaluate.add_argument("--scale", action="store_true", help="Sim(3) alignment (monocular scale), like evo -as")
    evaluate.add_argument("--threshold", type=positive, default=0.05,
                          help="mesh distance threshold in m (default 0.05)")
    data = evaluate.add_argument_group("data-set evaluation (with --out)")
    data.add_argument("--split", help="train / val / test (Hypersim's official split when its CSV is in the data "
                                      "set root; NYUD-MT's gt_sets)")
    data.add_argument("--map", action="store_true", help="also map each scene: trajectory, reconstruction, graph")
    data.add_argument("--gt-perception", action="store_true", help="ground truth as perception (checks data, mapping)")
    data.add_argument("--poses", default="vo", choices=("vo", "gt"), help="poses when mapping (default vo)")
    data.add_argument("--median-scaling", action="store_true", help="scale each depth map by the median ratio")
    data.add_argument("--workers", type=positive_int, help="scenes in parallel, in a local Ray instance (default 1)")
    data.add_argument("--ray-address", metavar="ADDR", help="run scenes on this Ray cluster (e.g. 10.0.0.1:6379)")
    data.add_argument("--force", action="store_true", help="start over instead of resuming")
    add_network_arguments(evaluate, runtime=False)
    add_input_arguments(evaluate, per_sequence=False)
    evaluate.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    if args.gt is not None and args.out is not None:
        raise InputError(None, "eval takes --gt (score a run against its sequence) or --out (evaluate a data set), "
                               "not both")
    if args.camera is not None and args.gt is None:
        raise InputError(None, "--camera picks the camera of the --gt Hypersim scene; a data-set evaluation takes "
                               "every camera (or --split)")
    if args.gt is None and args.out is None:
        raise InputError(None, "eval needs --gt SEQUENCE (to score a run folder) or --out FOLDER (to evaluate a "
                               "data set)")
    return _eval_run(args) if args.gt is not None else _eval_dataset(args)


def _eval_run(args: argparse.Namespace) -> int:
    from m2h_slam.core.atomic import atomic_write_text
    from m2h_slam.eval.run_eval import evaluate_run

    target = Path(args.path) / "eval.json"
    if target.is_dir():
        raise InputError(target, "is a folder; eval writes its scores to this file")
    scores = evaluate_run(args.path, args.gt, correct_scale=args.scale, threshold_m=args.threshold,
                          camera=args.camera)
    atomic_write_text(target, json.dumps(scores, indent=1) + "\n")
    width = max(map(len, scores)) + 2
    for key, value in scores.items():
        print(f"{key + ':':<{width}}{value}")
    return 0


def _eval_dataset(args: argparse.Namespace) -> int:
    from m2h_slam.app.arguments import perception_from_args
    from m2h_slam.app.dataset_eval import EvalSettings, evaluate_dataset
    from m2h_slam.app.output_folder import check_not_input
    from m2h_slam.core.config import load_config
    from m2h_slam.eval.report import DENSE_COLUMNS

    if args.ray_address is None and args.workers is None:
        args.workers = 1
    device = perception_from_args(load_config(args.config), args).perception.device  # the flag, else the config's
    if not args.gt_perception:
        from m2h_slam.perception import check_device

        check_device(device)
    check_not_input(Path(args.out), [Path(args.path)])
    settings = EvalSettings(weights=args.weights, gt_perception=args.gt_perception, mapping=args.map,
                            poses=args.poses, correct_scale=args.scale, split=args.split, stride=args.stride,
                            max_frames=args.max_frames, median_scaling=args.median_scaling,
                            threshold_m=args.threshold, device=device, config=args.config)
    metrics = evaluate_dataset(args.path, args.out, settings, workers=args.workers or 1 << 16,
                               ray_address=args.ray_address, force=args.force, progress=not args.quiet)
    aggregate = metrics["aggregate"]
    dense = aggregate["dense"]
    print(f"{aggregate['scenes_ok']} scene(s), {aggregate['frames']} frame(s); "
          f"{aggregate['scenes_failed']} failed" + (": " + ", ".join(metrics["failed"]) if metrics["failed"] else ""))
    for task, key in DENSE_COLUMNS:
        if dense.get(task):
            print(f"{task} {key}: {dense[task][key]:.4f}")
    for key, value in aggregate["mapping"].items():
        print(f"{key}: {value}")
    print(f"wrote {Path(args.out) / 'metrics.json'} and {Path(args.out) / 'report.md'}")
    return 0
