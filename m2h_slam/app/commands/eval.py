"""``m2h-slam eval``: score a run against its sequence (``--gt``), or evaluate a data set (``--out``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from m2h_slam.app.arguments import add_input_arguments, add_network_arguments, bounded, positive
from m2h_slam.core.config import WORKERS
from m2h_slam.core.errors import InputError

#: The splits ``--split`` knows: Hypersim's official partitions (NYUD-MT has train and val).
SPLITS = ("train", "val", "test")


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
    evaluate.add_argument("--any-gt", action="store_true",
                          help="with --gt: score the run against another sequence than the one it mapped (run.json "
                               "records the input; without this flag another one is refused)")
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
    data.add_argument("--workers", type=bounded(int, WORKERS, "integer"),
                      help="scenes in parallel, in a local Ray instance (default 1)")
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
    if args.any_gt and args.gt is None:
        raise InputError(None, "--any-gt goes with --gt (scoring a run against a sequence)")
    return _eval_run(args) if args.gt is not None else _eval_dataset(args)


def _recorded_input(run: Path) -> dict | None:
    """run.json's record of the run's input ({"path", "fingerprint", "read", ...}); None where it has none."""
    try:
        record = json.loads((run / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):  # no run.json (not a run folder: evaluate_run names what is missing)
        return None
    recorded = record.get("input") if isinstance(record, dict) else None
    if not isinstance(recorded, dict) or not isinstance(recorded.get("fingerprint"), str):
        return None
    return {**recorded, "config": record.get("config")}


def _check_ground_truth(run: Path, ground_truth: Path, camera: str | None) -> None:
    """``InputError`` naming both unless ``ground_truth`` is the sequence the run mapped (the fingerprint run.json
    records: the first frames as the run read them, so a moved or copied sequence still matches)."""
    import logging

    from m2h_slam.app.snapshot import input_fingerprint
    from m2h_slam.core.config import InputConfig, config_from_dict
    from m2h_slam.sources import ReadOptions, open_sequence
    from m2h_slam.sources.detect import detect_format

    recorded = _recorded_input(run)
    if recorded is None or (ground_truth / "run.json").is_file():  # evaluate_run refuses a run folder as --gt
        return
    read = recorded.get("read") if isinstance(recorded.get("read"), dict) else {}
    try:
        config = config_from_dict((recorded.get("config") or {}).get("input"), InputConfig, str(run / "run.json"))
    except (ValueError, TypeError, AttributeError):
        config = InputConfig()
    if camera is None and detect_format(ground_truth).format == "hypersim":
        camera = read.get("camera")  # the camera the run mapped (another source: its frames differ anyway)
    options = ReadOptions(stride=read.get("stride") or 1, max_frames=read.get("max_frames"),
                          resize=tuple(read["resize"]) if read.get("resize") else None, camera=camera)
    fingerprint = input_fingerprint(open_sequence(ground_truth, options, config))
    if fingerprint == recorded["fingerprint"]:
        return
    mapped = f"{recorded.get('path', '?')} (fingerprint {recorded['fingerprint']})"
    if not read:  # run.json of an older version: how the frames were read (stride, resize) is not known
        logging.getLogger("m2h_slam").warning(
            "%s: cannot confirm that the run mapped this sequence (run.json names %s, this one reads as %s)",
            ground_truth, mapped, fingerprint)
        return
    raise InputError(ground_truth, f"is not the sequence the run mapped: {run / 'run.json'} names {mapped}, this one "
                                   f"has fingerprint {fingerprint}; pass the mapped sequence as --gt, or --any-gt to "
                                   "score it against this one anyway")


def _eval_run(args: argparse.Namespace) -> int:
    from m2h_slam.app.output_lock import output_lock
    from m2h_slam.core.atomic import atomic_write_text
    from m2h_slam.eval.run_eval import evaluate_run

    target = Path(args.path) / "eval.json"
    if target.is_dir():
        raise InputError(target, "is a folder; eval writes its scores to this file")
    if not args.any_gt:
        _check_ground_truth(Path(args.path), Path(args.gt), args.camera)
    with output_lock(args.path, create=False):  # not while a run writes the folder
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
    from m2h_slam.app.output_lock import output_lock
    from m2h_slam.core.config import load_config
    from m2h_slam.core.errors import RunError
    from m2h_slam.eval.report import DENSE_COLUMNS

    if args.split is not None and args.split not in SPLITS:
        raise InputError(None, f"--split: unknown split {args.split!r}; choose {', '.join(SPLITS)}")
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
    with output_lock(args.out, [args.path]):  # one m2h-slam at a time in OUT
        metrics = evaluate_dataset(args.path, args.out, settings, workers=args.workers or 1 << 16,
                                   ray_address=args.ray_address, force=args.force, progress=not args.quiet)
    aggregate = metrics["aggregate"]
    if not aggregate["scenes_ok"]:  # the report lists every scene's error
        failed = metrics["failed"]
        name = next(iter(failed))
        problem = f"all {len(failed)} scene(s) failed (first, {name}: {failed[name]}); " \
                  f"see {Path(args.out) / 'report.md'}"
        if all(error.startswith("unexpected ") for error in failed.values()):
            raise RunError(problem)
        raise InputError(args.path, problem)
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
