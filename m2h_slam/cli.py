"""The ``m2h-slam`` command line: thin wrappers over the library.

User mistakes end with one line on stderr (``m2h-slam: error: FILE: problem``)
and exit status 2; warnings print as ``m2h-slam: warning: ...``.
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import re
import sys
from collections.abc import Sequence as Seq

from m2h_slam import __version__
from m2h_slam.core.config import AT_LEAST_ONE, NON_NEGATIVE, POSITIVE, RUNTIMES, Range
from m2h_slam.core.errors import InputError, M2HError
from m2h_slam.core.interrupts import Terminated, raise_on_sigterm

log = logging.getLogger("m2h_slam")


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def plain(text: str) -> str:
    """``text`` without terminal colour codes (Open3D puts them in its messages)."""
    return _ANSI.sub("", text)


class _Formatter(logging.Formatter):
    """Info as plain lines; warnings and errors prefixed like the CLI's own errors."""

    def format(self, record: logging.LogRecord) -> str:
        message = plain(record.getMessage())
        if record.levelno >= logging.WARNING:
            return f"m2h-slam: {record.levelname.lower()}: {message}"
        return message


def _bounded(cast: type, allowed: Range, name: str = "number"):
    """argparse type: ``cast`` the text and check it against ``allowed`` (finite, in range)."""

    def parse(text: str):
        value = cast(text)  # a ValueError becomes argparse's "invalid NAME value: 'TEXT'"
        problem = allowed.problem(value)
        if problem:
            raise argparse.ArgumentTypeError(problem)
        return value

    parse.__name__ = name  # argparse names the type in its messages
    return parse


_positive_int = _bounded(int, AT_LEAST_ONE, "integer")
_non_negative_int = _bounded(int, NON_NEGATIVE, "integer")
_non_negative = _bounded(float, NON_NEGATIVE)
_positive = _bounded(float, POSITIVE)
_fov = _bounded(float, Range(0, 180, low_open=True, high_open=True))


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, e.g. 320x240, got {text!r}") from None
    if width < 1 or height < 1:
        raise argparse.ArgumentTypeError(f"size must be positive, got {text!r}")
    return width, height


def add_input_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags every command that reads a sequence shares."""
    group = parser.add_argument_group("input")
    group.add_argument("--stride", type=_positive_int, default=1, help="use every N-th frame (default 1)")
    group.add_argument("--max-frames", type=_positive_int, help="stop after this many frames")
    group.add_argument("--resize", type=_size, metavar="WxH", help="resize frames (and intrinsics) to WxH")
    group.add_argument("--fov-deg", type=_fov, help="horizontal field of view for sources without intrinsics")
    group.add_argument("--intrinsics", metavar="FILE", help="intrinsics YAML/JSON (fx, fy, cx, cy, width, height)")
    group.add_argument("--camera", metavar="CAM", help="camera trajectory of a Hypersim scene (default: the first, "
                                                        "e.g. cam_00; `m2h-slam info SCENE` lists them)")
    group.add_argument("--config", metavar="FILE", help="YAML config (see configs/default.yaml)")


def open_from_args(args: argparse.Namespace):
    """Open the sequence named by ``args.path`` with the shared input flags."""
    from m2h_slam.core.config import load_config
    from m2h_slam.sources import ReadOptions, open_sequence

    config = load_config(args.config)
    options = ReadOptions(args.stride, args.max_frames, args.resize, args.fov_deg, args.intrinsics, args.camera)
    return open_sequence(args.path, options, config.input)


def cmd_info(args: argparse.Namespace) -> int:
    import dataclasses

    sequence = open_from_args(args)
    report = None
    if args.check:
        from m2h_slam.sources.check import check_sequence

        report = check_sequence(sequence, progress=not args.quiet and not args.json)
    info = sequence.info()
    if args.json:
        record = dataclasses.asdict(info)
        record["frames_known"] = sequence.length_known
        if report is not None:
            record["check"] = dataclasses.asdict(report)
        print(json.dumps(record, indent=2))
        return _check_verdict(report)
    K = info.intrinsics
    fps = f"{info.fps:.3f}" if info.fps else "unknown"
    rows = [
        ("path", info.path),
        ("format", info.format),
        ("frames", str(info.num_frames) if sequence.length_known else "unknown (the container gives no count)"),
        ("size", f"{info.width}x{info.height}"),
        ("fps", fps),
        ("intrinsics", f"fx={K.fx:.2f} fy={K.fy:.2f} cx={K.cx:.2f} cy={K.cy:.2f} (hfov {K.hfov_deg:.1f} deg)"),
        ("  from", info.intrinsics_source),
        ("ground truth", ", ".join(info.ground_truth) or "none"),
    ]
    if info.cameras:
        rows.append(("cameras", ", ".join(info.cameras) + f" (reading {info.camera}; pick one with --camera)"))
    if report is not None:
        verdict = "run would stop (error below)" if report.errors else "ok"
        rows.append(("check", f"{report.frames_read} frames read; {verdict}"))
        rows.extend(("  warning", plain(w)) for w in report.warnings)
    for key, value in rows:
        print(f"{key + ':':<14}{value}")
    return _check_verdict(report)


def _check_verdict(report) -> int:
    """0 without a check or when it passed; the check's error as the command's error otherwise."""
    if report is not None and report.errors:
        raise InputError(None, report.errors[0])
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from m2h_slam.app.output_folder import prepare_output_folder
    from m2h_slam.sources.samples import write_sample
    from m2h_slam.sources.sequence_folder import SEQUENCE_OUTPUTS

    prepare_output_folder(args.out, args.force, SEQUENCE_OUTPUTS)
    out = write_sample(args.name, args.out)
    print(f"wrote sample '{args.name}' to {out}")
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    import time

    from m2h_slam.app.output_folder import prepare_output_folder
    from m2h_slam.synthetic import SYNTHETIC_OUTPUTS, RenderOptions, WorldSpec, write_synthetic

    prepare_output_folder(args.out, args.force, SYNTHETIC_OUTPUTS)
    spec = WorldSpec(seed=args.seed, frames=args.frames, fps=args.fps, rooms=args.rooms, people=args.people,
                     static_camera=args.static_camera, move_object=args.move_object, varied_furniture=args.randomize)
    options = RenderOptions(noise_std=args.noise, blur_sigma_px=args.blur, exposure_variation=args.exposure,
                            randomize=args.randomize)
    start = time.perf_counter()
    out = write_synthetic(args.out, spec, args.size, args.hfov_deg, options, progress=not args.quiet)
    seconds = time.perf_counter() - start
    log.info("wrote %d frames (%dx%d) of synthetic world seed %d to %s in %.1f s (%.1f frames/s)",
             args.frames, *args.size, args.seed, out, seconds, args.frames / seconds)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    import dataclasses

    from m2h_slam.core.config import load_config
    from m2h_slam.train.trainer import TrainConfig
    from m2h_slam.app.training import run_training

    config = load_config(args.config, TrainConfig)
    overrides = {"train": tuple(args.sources) or None, "val": tuple(args.val) if args.val else None,
                 "model": args.model, "epochs": args.epochs, "batch_size": args.batch_size, "learning_rate": args.lr,
                 "size": args.size, "workers": args.workers, "stop_after_steps": args.stop_after_steps}
    config = dataclasses.replace(config, **{k: v for k, v in overrides.items() if v is not None})
    from m2h_slam.app.output_folder import check_not_input

    check_not_input(args.out, [*config.train, *config.val])  # a training folder never replaces its data
    if args.device != "cpu":
        from m2h_slam.perception import check_device

        check_device(args.device)
    summary = run_training(config, args.out, resume=args.resume, device=args.device, progress=not args.quiet)
    log.info("%s: %d steps, %d of %d epochs%s", args.out, summary["steps"], summary["epochs_done"], config.epochs,
             "" if summary["finished"] else " (stopped; --resume continues)")
    return 0


def _check_output_file(path: str, inputs=()) -> None:
    """An output file must not be a folder, an input, or lie under a file."""
    from pathlib import Path

    from m2h_slam.app.output_folder import check_not_input

    out = Path(path)
    if out.is_dir():
        raise InputError(out, "output is a folder; give a file name")
    check_not_input(out, inputs)


def _weights(args: argparse.Namespace):
    """``--weights``, or the shipped demo weights."""
    from m2h_slam.app.run_loop import demo_weights

    return args.weights or demo_weights()


def _predictor(args: argparse.Namespace):
    from m2h_slam.perception import Predictor, check_device

    check_device(args.device)
    return Predictor.from_weights(_weights(args), device=args.device, runtime=args.runtime, threads=args.threads,
                                  **({"input_size": args.input_size} if args.input_size else {}))


def cmd_predict(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tqdm import tqdm

    from m2h_slam.formats import image_io
    from m2h_slam.sources.image_folder import list_images
    from m2h_slam.app.output_folder import prepare_output_folder
    from m2h_slam.perception.prediction_files import PREDICTION_OUTPUTS, write_prediction

    source = Path(args.input)
    if not source.exists():
        raise InputError(source, "no such file or folder")
    images = list_images(source) if source.is_dir() else [source]
    if not images:
        raise InputError(source, "folder holds no images")
    predictor = _predictor(args)
    out = prepare_output_folder(args.out, args.force, PREDICTION_OUTPUTS, inputs=[source])
    skipped = 0
    for path in tqdm(images, desc="predicting", unit="image", disable=args.quiet or len(images) < 2):
        try:
            rgb = image_io.read_rgb(path)
        except InputError as error:
            log.warning("%s; skipped", error)
            skipped += 1
            continue
        write_prediction(out, path.stem, rgb, predictor.predict(rgb))
    log.info("wrote predictions of %d image(s) to %s%s", len(images) - skipped, out,
             f" ({skipped} unreadable skipped)" if skipped else "")
    return 0


def cmd_export_onnx(args: argparse.Namespace) -> int:
    from m2h_slam.perception.onnx_export import export_onnx
    from m2h_slam.perception.model.weights import load_weights

    weights = _weights(args)
    if str(weights).lower().endswith(".onnx"):
        raise InputError(weights, "is already an ONNX model; export-onnx needs .safetensors or official .pt/.pth weights")
    _check_output_file(args.out, [weights])
    model = load_weights(weights)
    width, height = args.input_size or tuple(model.config.input_size)
    export_onnx(model, args.out, height, width)
    log.info("wrote %s (input 1x3x%dx%d)", args.out, height, width)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    import dataclasses

    from m2h_slam.core.config import load_config
    from m2h_slam.app.run_loop import RunOptions, run

    config = load_config(args.config)
    perception = config.perception
    if args.weights:
        perception = dataclasses.replace(perception, weights=args.weights)
    if args.device:
        try:
            perception = dataclasses.replace(perception, device=args.device)
        except ValueError as error:
            raise InputError(None, f"--device: {str(error).removeprefix('device ')}") from None
    if args.threads:
        perception = dataclasses.replace(perception, threads=args.threads)
    if args.runtime:
        perception = dataclasses.replace(perception, runtime=args.runtime)
    config = dataclasses.replace(config, perception=perception)
    out = args.out
    if args.resume and args.force:
        raise InputError(None, "--resume and --force exclude each other: continue the run, or start it over")
    if not args.gt_perception:
        from m2h_slam.perception import check_device

        check_device(config.perception.device)
    sequence = open_from_args(args)
    options = RunOptions(poses=args.poses, gt_perception=args.gt_perception, resume=args.resume, force=args.force,
                         save_predictions=args.save_predictions, snapshot_every=args.snapshot_every,
                         progress=not args.quiet, rerun=args.rerun_save or args.rerun)
    record = run(sequence, out, config, options)
    counts = record["counts"]
    log.info("mapped %d frames at %.1f frames/s: %d fused, %d tracking failures, %d mesh vertices -> %s",
             counts["frames"], record["frames_per_s"] or 0, counts["fused"], counts["lost"],
             record["mesh"]["vertices"], out)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
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
    from pathlib import Path

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
    from pathlib import Path

    from m2h_slam.app.output_folder import check_not_input
    from m2h_slam.app.dataset_eval import EvalSettings, evaluate_dataset
    from m2h_slam.eval.report import DENSE_COLUMNS

    if args.ray_address is None and args.workers is None:
        args.workers = 1
    if not args.gt_perception:
        from m2h_slam.perception import check_device

        check_device(args.device)
    check_not_input(Path(args.out), [Path(args.path)])
    settings = EvalSettings(weights=args.weights, gt_perception=args.gt_perception, mapping=args.map,
                            poses=args.poses, correct_scale=args.scale, split=args.split, stride=args.stride,
                            max_frames=args.max_frames, median_scaling=args.median_scaling,
                            threshold_m=args.threshold, device=args.device, config=args.config)
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


def cmd_graph(args: argparse.Namespace) -> int:
    from pathlib import Path

    from m2h_slam.app.graph_summary import load_graph_document, route_lines, summary_lines

    data = load_graph_document(Path(args.run))
    if args.route:
        lines = route_lines(data, *args.route)
    elif args.json:
        print(json.dumps(data, indent=1))
        return 0
    else:
        lines = summary_lines(data)
    print("\n".join(lines))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from m2h_slam.sources.samples import SAMPLES

    parser = argparse.ArgumentParser(prog="m2h-slam", description="Monocular spatial perception: M2H + SLAM + scene graph.")
    parser.add_argument("--version", action="version", version=f"m2h-slam {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="print errors only")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help="print errors only")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    info = commands.add_parser("info", parents=[common], help="describe a sequence, video, image folder or TUM RGB-D folder")
    info.add_argument("path", help="sequence folder, TUM RGB-D folder, image folder or video file")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.add_argument("--check", action="store_true", help="read every frame; report what run would reject or skip")
    add_input_arguments(info)
    info.set_defaults(func=cmd_info)

    sample = commands.add_parser("sample", parents=[common], help="write a small real sample sequence (no download)")
    sample.add_argument("name", choices=sorted(SAMPLES), help="; ".join(f"{k}: {v}" for k, v in SAMPLES.items()))
    sample.add_argument("out", help="output folder")
    sample.add_argument("--force", action="store_true", help="replace a sample or sequence in a non-empty folder")
    sample.set_defaults(func=cmd_sample)

    synth = commands.add_parser("synth", parents=[common], help="generate a synthetic apartment sequence with exact ground truth")
    synth.add_argument("out", help="output folder (m2h sequence + mesh.ply, scene_graph.json, preview.png)")
    synth.add_argument("--seed", type=_non_negative_int, default=0, help="world seed: same seed, same bytes (default 0)")
    synth.add_argument("--frames", type=_positive_int, default=300, help="number of frames (default 300)")
    synth.add_argument("--fps", type=_positive, default=15.0, help="frame rate (default 15)")
    synth.add_argument("--size", type=_size, default=(320, 240), metavar="WxH", help="image size (default 320x240)")
    synth.add_argument("--hfov-deg", type=_fov, default=70.0, help="horizontal field of view (default 70)")
    synth.add_argument("--rooms", type=_bounded(int, Range(2, 6), "integer"), default=4, help="rooms, 2-6 (default 4)")
    synth.add_argument("--people", type=_bounded(int, Range(0, 20), "integer"), default=2, help="walking people (default 2)")
    synth.add_argument("--static-camera", action="store_true", help="camera stands still in the largest room")
    synth.add_argument("--move-object", action="store_true", help="move one chair or box half-way through")
    synth.add_argument("--noise", type=_non_negative, default=0.0, help="RGB noise sigma in 8-bit levels")
    synth.add_argument("--blur", type=_non_negative, default=0.0, help="RGB blur sigma in pixels")
    synth.add_argument("--exposure", type=_non_negative, default=0.0, help="exposure change amplitude (e.g. 0.2)")
    synth.add_argument("--randomize", action="store_true", help="domain randomisation: varied furniture, photographic "
                       "textures, random lights, white balance, noise, blur (for training)")
    synth.add_argument("--force", action="store_true", help="replace a non-empty output folder")
    synth.set_defaults(func=cmd_synth)

    run = commands.add_parser("run", parents=[common], help="map a sequence or video: M2H -> odometry -> TSDF")
    run.add_argument("path", help="sequence folder, TUM RGB-D folder, image folder or video file")
    run.add_argument("--out", required=True, help="output folder (mesh.ply, trajectory.txt, run.json, previews)")
    run.add_argument("--weights", help="network weights (default: the shipped m2h_tiny demo weights)")
    run.add_argument("--poses", default="vo", help="vo (default), gt (the sequence's ground truth) or a TUM file")
    run.add_argument("--gt-perception", action="store_true", help="use ground-truth depth/semantics instead of the network")
    run.add_argument("--device", help="torch device for the network, e.g. cuda")
    run.add_argument("--threads", type=_positive_int, help="CPU threads for the network")
    run.add_argument("--runtime", choices=RUNTIMES,
                     help="network runtime (default auto: ONNX Runtime on the CPU, exported once and cached)")
    run.add_argument("--resume", action="store_true", help="continue an interrupted run from its last snapshot")
    run.add_argument("--force", action="store_true", help="replace a previous run's outputs (other files stay)")
    run.add_argument("--save-predictions", action="store_true", help="also write per-frame predictions")
    run.add_argument("--snapshot-every", type=_non_negative_int, default=100, metavar="N",
                     help="save a resumable snapshot every N frames (default 100; 0 = only when stopped)")
    view = run.add_mutually_exclusive_group()
    view.add_argument("--rerun", action="store_true", help="live view in a rerun viewer (needs m2h-slam[viz])")
    view.add_argument("--rerun-save", metavar="FILE.rrd", help="record the live view to a rerun file instead")
    add_input_arguments(run)
    run.set_defaults(func=cmd_run)

    evaluate = commands.add_parser(
        "eval", parents=[common], help="score a run against its sequence (--gt), or evaluate a data set (--out)",
        description="Score a run: m2h-slam eval RUN --gt SEQUENCE. Evaluate a data set (Hypersim, ScanNet, Replica, "
                    "NYUD-MT, m2h sequences): m2h-slam eval DATASET --out FOLDER [--map] [--workers N].")
    evaluate.add_argument("path", help="output folder of m2h-slam run (with --gt), or a data set (with --out)")
    evaluate.add_argument("--gt", help="sequence with ground truth that the run mapped")
    evaluate.add_argument("--camera", metavar="CAM", help="with --gt: the camera of a Hypersim scene (default: the first)")
    evaluate.add_argument("--out", help="folder for a data-set evaluation (metrics.json, report.md); resumes")
    evaluate.add_argument("--scale", action="store_true", help="Sim(3) alignment (monocular scale), like evo -as")
    evaluate.add_argument("--threshold", type=_positive, default=0.05, help="mesh distance threshold in m (default 0.05)")
    data = evaluate.add_argument_group("data-set evaluation (with --out)")
    data.add_argument("--split", help="train / val / test (Hypersim's official split when its CSV is in the data "
                                      "set root; NYUD-MT's gt_sets)")
    data.add_argument("--map", action="store_true", help="also map each scene: trajectory, reconstruction, graph")
    data.add_argument("--weights", help="network weights (default: the shipped demo weights)")
    data.add_argument("--gt-perception", action="store_true", help="ground truth as perception (checks data, mapping)")
    data.add_argument("--poses", default="vo", choices=("vo", "gt"), help="poses when mapping (default vo)")
    data.add_argument("--median-scaling", action="store_true", help="scale each depth map by the median ratio")
    data.add_argument("--device", default="cpu", help="torch device (default cpu)")
    data.add_argument("--workers", type=_positive_int, help="scenes in parallel, in a local Ray instance (default 1)")
    data.add_argument("--ray-address", metavar="ADDR", help="run scenes on this Ray cluster (e.g. 10.0.0.1:6379)")
    data.add_argument("--stride", type=_positive_int, default=1, help="use every N-th frame (default 1)")
    data.add_argument("--max-frames", type=_positive_int, help="at most this many frames per scene")
    data.add_argument("--config", metavar="FILE", help="YAML config for mapping (see configs/default.yaml)")
    data.add_argument("--force", action="store_true", help="start over instead of resuming")
    evaluate.set_defaults(func=cmd_eval)

    graph = commands.add_parser("graph", parents=[common], help="summarise a run's scene graph; --route between rooms")
    graph.add_argument("run", help="output folder of m2h-slam run")
    graph.add_argument("--json", action="store_true", help="print the scene graph JSON")
    graph.add_argument("--route", nargs=2, metavar=("ROOM_A", "ROOM_B"), help="shortest walk between two rooms (ids)")
    graph.set_defaults(func=cmd_graph)

    train = commands.add_parser("train", parents=[common], help="train an M2H model (one process, or DDP under torchrun)",
                                description="Train on sources with depth and semantic ground truth (m2h sequences, "
                                            "NYUD-MT gt_sets/train.txt, Hypersim, ScanNet). Multi-GPU / multi-node: "
                                            "torchrun --nproc_per_node N -m m2h_slam.cli train ...")
    train.add_argument("sources", nargs="*", help="training sources (default: the config's train:)")
    train.add_argument("--config", help="training config YAML (configs/train/*.yaml)")
    train.add_argument("--out", required=True, help="training folder: checkpoints, CSV and TensorBoard logs")
    train.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    train.add_argument("--val", nargs="+", metavar="SOURCE", help="validation sources (default: the config's val:)")
    train.add_argument("--model", help="registry entry (default: the config's, m2h_tiny)")
    train.add_argument("--epochs", type=_positive_int)
    train.add_argument("--batch-size", type=_positive_int, help="per process")
    train.add_argument("--lr", type=_positive, help="peak learning rate")
    train.add_argument("--size", type=_size, metavar="WxH", help="training image size (default: the model's)")
    train.add_argument("--workers", type=_non_negative_int, help="DataLoader worker processes")
    train.add_argument("--stop-after-steps", type=_positive_int, metavar="N",
                       help="stop with a checkpoint after N steps in all (--resume goes on)")
    train.add_argument("--device", default="cpu", help="torch device (default cpu; cuda under torchrun: one GPU each)")
    train.set_defaults(func=cmd_train)

    def add_model_arguments(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--weights", help="our .safetensors, an official .pt/.pth, or an .onnx "
                                           "(default: the shipped m2h_tiny demo weights)")
        sub.add_argument("--input-size", type=_size, metavar="WxH", help="network input size (default: the model's)")

    predict = commands.add_parser("predict", parents=[common], help="depth, semantics, normals and edges for images")
    predict.add_argument("input", help="image file or folder of images")
    predict.add_argument("--out", required=True, help="output folder")
    add_model_arguments(predict)
    predict.add_argument("--device", default="cpu", help="torch device (default cpu)")
    predict.add_argument("--threads", type=_positive_int, help="CPU threads")
    predict.add_argument("--runtime", choices=RUNTIMES, default="auto",
                         help="network runtime (default auto: ONNX Runtime on the CPU, exported once and cached)")
    predict.add_argument("--force", action="store_true", help="write into a non-empty folder (old predictions removed)")
    predict.set_defaults(func=cmd_predict)

    export = commands.add_parser("export-onnx", parents=[common], help="export a model to ONNX (fixed input size)")
    export.add_argument("out", help="output .onnx file")
    add_model_arguments(export)
    export.set_defaults(func=cmd_export_onnx)
    return parser


#: OSError numbers that mean a wrong path (a user mistake, status 2); others (disk full, I/O) give status 1.
_PATH_ERRORS = {errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.EROFS, errno.ENOENT,
                errno.ENAMETOOLONG, errno.ELOOP}


def _error(message: str, status: int) -> int:
    print(f"m2h-slam: error: {plain(message)}", file=sys.stderr)
    return status


def _crash_log(error: BaseException) -> str:
    """Write the traceback of an unexpected error to a log file; its path (or a note that none was written)."""
    import tempfile
    import time
    import traceback

    try:
        fd, path = tempfile.mkstemp(prefix=f"m2h-slam-error-{time.strftime('%Y%m%d-%H%M%S')}-", suffix=".log")
        with os.fdopen(fd, "w") as handle:
            handle.write("".join(traceback.format_exception(error)))
        return f"traceback in {path}"
    except OSError:
        return "no log written"


def main(argv: Seq[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    log.handlers[:] = [handler]
    log.setLevel(logging.ERROR if args.quiet else logging.INFO)
    log.propagate = False
    raise_on_sigterm()
    try:
        return args.func(args)
    except InputError as error:
        return _error(str(error), 2)
    except M2HError as error:  # a run that failed: its message says what was kept and where the log is
        return _error(str(error), 1)
    except KeyboardInterrupt as interrupt:
        terminated = isinstance(interrupt, Terminated)
        print(f"m2h-slam: {'terminated' if terminated else 'interrupted'}", file=sys.stderr)
        return 143 if terminated else 130
    except OSError as error:  # unwritable path, disk full: name the path
        where = error.filename or getattr(args, "out", None) or "?"
        return _error(f"{where}: {error.strerror or error}", 2 if error.errno in _PATH_ERRORS else 1)
    except Exception as error:  # a bug: one line, the traceback in a file
        return _error(f"unexpected {type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}; "
                      f"{_crash_log(error)}", 1)


if __name__ == "__main__":
    sys.exit(main())
