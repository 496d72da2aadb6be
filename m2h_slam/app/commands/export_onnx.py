"""``m2h-slam export-onnx OUT.onnx``: a fixed-size ONNX model of the weights."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from m2h_slam.core.errors import InputError

log = logging.getLogger("m2h_slam")


def add(commands, common: argparse.ArgumentParser) -> None:
    from m2h_slam.app.arguments import network_size

    export = commands.add_parser("export-onnx", parents=[common], help="export a model to ONNX (fixed input size)")
    export.add_argument("out", help="output .onnx file")
    export.add_argument("--weights", help="our .safetensors or an official .pt/.pth "
                                          "(default: the shipped m2h_tiny demo weights)")
    export.add_argument("--input-size", type=network_size, metavar="WxH",
                        help="network input size (default: the model's)")
    export.add_argument("--standard-ops", action="store_true",
                        help="standard ONNX operators only, for runtimes other than ONNX Runtime (attention "
                             "as matrix products and a Softmax instead of ONNX Runtime's fused kernel)")
    export.add_argument("--force", action="store_true", help="replace an existing ONNX model (never another file)")
    export.set_defaults(func=main)


#: ModelProto fields (number, protobuf wire type) that may follow ir_version at the start of an ONNX file.
_MODEL_FIELDS = {(2, 2), (3, 2), (4, 2), (5, 0), (6, 2), (7, 2), (8, 2), (14, 2), (20, 2), (25, 2)}


def _varint(data: bytes, at: int) -> tuple[int, int]:
    """(value, next position) of the protobuf varint at ``data[at]``; ValueError if it runs off the end."""
    value = shift = 0
    while at < len(data) and shift < 64:
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at, shift = at + 1, shift + 7
        if not byte & 0x80:
            return value, at
    raise ValueError("truncated varint")


def is_onnx_model(path: Path) -> bool:
    """True if ``path`` starts as an ONNX model does (what export-onnx writes): ir_version, then a ModelProto field."""
    try:
        with open(path, "rb") as file:
            head = file.read(64)
        if not head or head[0] != 0x08:  # field 1 (ir_version), a varint
            return False
        version, at = _varint(head, 1)
        tag, _ = _varint(head, at)
        return 1 <= version <= 100 and (tag >> 3, tag & 7) in _MODEL_FIELDS
    except (OSError, ValueError):
        return False


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
    if out.exists():  # replaced only by --force, and only when it is a model (an export of ours)
        if not is_onnx_model(out):
            raise InputError(out, "exists and is not an ONNX model; export-onnx replaces only ONNX models (--force); "
                                  "choose another output file")
        if not args.force:
            raise InputError(out, "exists; pass --force to replace this ONNX model, or choose another output file")
    model = load_weights(weights)
    width, height = args.input_size or tuple(model.config.input_size)
    export_onnx(model, out, height, width, fused_attention=not args.standard_ops)
    log.info("wrote %s (input 1x3x%dx%d%s)", out, height, width, ", standard operators" if args.standard_ops else "")
    return 0
