"""``m2h-slam info PATH [--json] [--check]``: what a sequence holds, and what ``run`` would reject."""

from __future__ import annotations

import argparse
import dataclasses
import json

from m2h_slam.app.arguments import add_input_arguments, open_from_args
from m2h_slam.core.errors import InputError, plain


def add(commands, common: argparse.ArgumentParser) -> None:
    info = commands.add_parser("info", parents=[common],
                               help="describe a sequence, video, image folder or TUM RGB-D folder")
    info.add_argument("path", help="sequence folder, TUM RGB-D folder, image folder or video file")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.add_argument("--check", action="store_true",
                      help="read every frame; report what run would reject or skip; fails (exit 2) when more "
                           "frames are unreadable than the limit it prints")
    add_input_arguments(info)
    info.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
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
        return _check_verdict(report, sequence.path)
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
        verdict = "run would stop (error below)" if report.errors else "too damaged (error below)" if report.too_damaged else "ok"
        rows.append(("check", f"{report.frames_read} frames read; {verdict}"))
        rows.extend(("  warning", plain(w)) for w in report.warnings)
    for key, value in rows:
        print(f"{key + ':':<14}{value}")
    return _check_verdict(report, sequence.path)


def _check_verdict(report, path) -> int:
    """0 without a check or when it passed; the check's error (or too many unreadable frames) as the command's
    error otherwise."""
    if report is not None and report.errors:
        raise InputError(None, report.errors[0])
    if report is not None and report.too_damaged:
        raise InputError(path, f"{report.damage()}; a run would map only the {report.frames_read} readable ones")
    return 0
