"""``m2h-slam sample NAME OUT``: a small real sample sequence from data shipped in installed packages."""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger("m2h_slam")


def add(commands, common: argparse.ArgumentParser) -> None:
    from m2h_slam.sources.samples import SAMPLES

    sample = commands.add_parser("sample", parents=[common], help="write a small real sample sequence (no download)")
    sample.add_argument("name", choices=sorted(SAMPLES), help="; ".join(f"{k}: {v}" for k, v in SAMPLES.items()))
    sample.add_argument("out", help="output folder")
    sample.add_argument("--force", action="store_true", help="replace a sample or sequence in a non-empty folder")
    sample.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from m2h_slam.app.output_folder import prepare_output_folder, sequence_owned
    from m2h_slam.app.output_lock import output_lock
    from m2h_slam.sources.samples import write_sample
    from m2h_slam.sources.sequence_folder import SEQUENCE_OUTPUTS

    with output_lock(args.out):  # one m2h-slam at a time in OUT
        prepare_output_folder(args.out, args.force, sequence_owned(SEQUENCE_OUTPUTS))  # --force: frames, not rgb/
        out = write_sample(args.name, args.out)
    print(f"wrote sample '{args.name}' to {out}")
    return 0
