"""``m2h-slam export-onnx OUT.onnx``: a fixed-size ONNX model of the weights."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from m2h_slam.core.errors import InputError

log = logging.getLogger("m2h_slam")


def add(commands, common: argparse.ArgumentParser) -> None:
    from m2h_slam.app.arguments import size

    export = commands.add_parser("export-onnx", parents=[common], help="export a model to ONNX (fixed input size)")
    export.add_argument("out", help="output .onnx file")
    export.add_argument("--weights", help="our .safetensors or an official .pt/.pth "
                                          "(default: the shipped m2h_tiny demo weights)")
    export.add_argument("--input-size", type=size, metavar="WxH", help="network input size (default: the model's)")
    export.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from m2h_slam.app.output_folder import check_not_input
    from m2h_slam.perception import demo_weights
    from m2h_slam.perception.model.weights import load_weights
    from m2h_slam.perception.onnx_export import export_onnx

    weights = args.weights or demo_weights()
    if str(weights).lower().endswith(".onnx"):
        raise InputError(weights, "is already an ONNX model; export-onnx needs .safetensors or official .pt/.pth "
                                  "weights")
    out = Path(args.out)
    if out.is_dir():
        raise InputError(out, "output is a folder; give a file name")
    check_not_input(out, [weights])
    model = load_weights(weights)
    width, height = args.input_size or tuple(model.config.input_size)
    export_onnx(model, out, height, width)
    log.info("wrote %s (input 1x3x%dx%d)", out, height, width)
    return 0
