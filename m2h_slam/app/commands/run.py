"""``m2h-slam run PATH --out OUT``: frames -> perception -> mapping -> scene graph -> outputs."""

from __future__ import annotations

import argparse
import logging

from m2h_slam.app.arguments import (
    add_input_arguments,
    add_network_arguments,
    non_negative_int,
    open_from_args,
    perception_from_args,
)
from m2h_slam.core.errors import InputError

log = logging.getLogger("m2h_slam")


def add(commands, common: argparse.ArgumentParser) -> None:
    run = commands.add_parser("run", parents=[common], help="map a sequence or video: M2H -> odometry -> TSDF")
    run.add_argument("path", help="sequence folder, TUM RGB-D folder, image folder or video file")
    run.add_argument("--out", required=True, help="output folder (mesh.ply, trajectory.txt, run.json, previews)")
    run.add_argument("--poses", default="vo", help="vo (default), gt (the sequence's ground truth) or a TUM file")
    run.add_argument("--gt-perception", action="store_true",
                     help="use ground-truth depth/semantics instead of the network")
    run.add_argument("--resume", action="store_true", help="continue an interrupted run from its last snapshot")
    run.add_argument("--force", action="store_true", help="replace a previous run's outputs (other files stay)")
    run.add_argument("--save-predictions", action="store_true", help="also write per-frame predictions")
    run.add_argument("--snapshot-every", type=non_negative_int, default=100, metavar="N",
                     help="save a resumable snapshot every N frames (default 100; 0 = only when stopped)")
    view = run.add_mutually_exclusive_group()
    view.add_argument("--rerun", action="store_true", help="live view in a rerun viewer (needs m2h-slam[viz])")
    view.add_argument("--rerun-save", metavar="FILE.rrd", help="record the live view to a rerun file instead")
    add_network_arguments(run)
    add_input_arguments(run)
    run.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from m2h_slam.app.output_lock import output_lock
    from m2h_slam.app.run_loop import RunOptions, run
    from m2h_slam.core.config import load_config

    config = perception_from_args(load_config(args.config), args)
    if args.resume and args.force:
        raise InputError(None, "--resume and --force exclude each other: continue the run, or start it over")
    if not args.gt_perception:
        from m2h_slam.perception import check_device

        check_device(config.perception.device)
    sequence = open_from_args(args)
    options = RunOptions(poses=args.poses, gt_perception=args.gt_perception, resume=args.resume, force=args.force,
                         save_predictions=args.save_predictions, snapshot_every=args.snapshot_every,
                         progress=not args.quiet, rerun=args.rerun_save or args.rerun)
    inputs = [sequence.path] + ([args.poses] if args.poses not in ("vo", "gt") else [])
    with output_lock(args.out, inputs):  # one m2h-slam at a time in OUT
        record = run(sequence, args.out, config, options)
    counts = record["counts"]
    health = record["health"]
    loops = record["loop_closure"]
    closed = f", {loops['closed']} loop(s) closed" if loops["revisits"] else ""
    log.info("mapped %d frames at %.1f frames/s: %d fused, %d tracking failures%s, %d mesh vertices; perception %s "
             "-> %s", counts["frames"], record["frames_per_s"] or 0, counts["fused"], counts["lost"], closed,
             record["mesh"]["vertices"], health["verdict"], args.out)
    return 0
