"""Flag builders the commands share: bounded numbers, sizes, the input and frame flags, the network flags.

One declaration per flag: ``--device`` and ``--runtime`` default to None everywhere, meaning the config's
``perception`` value (``cpu`` and ``auto`` unless a ``--config`` file says otherwise).
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator

from m2h_slam.core.config import (
    AT_LEAST_ONE,
    FOV_DEG,
    IMAGE_SIDE_PX,
    NETWORK_SIDE_PX,
    NON_NEGATIVE,
    POSITIVE,
    RUNTIMES,
    ConfigValueError,
    Range,
)
from m2h_slam.core.errors import InputError


def bounded(cast: type, allowed: Range, name: str = "number"):
    """argparse type: ``cast`` the text and check it against ``allowed`` (finite, in range)."""

    def parse(text: str):
        value = cast(text)  # a ValueError becomes argparse's "invalid NAME value: 'TEXT'"
        problem = allowed.problem(value)
        if problem:
            raise argparse.ArgumentTypeError(problem)
        return value

    parse.__name__ = name  # argparse names the type in its messages
    return parse


positive_int = bounded(int, AT_LEAST_ONE, "integer")
non_negative_int = bounded(int, NON_NEGATIVE, "integer")
non_negative = bounded(float, NON_NEGATIVE)
positive = bounded(float, POSITIVE)
fov_deg = bounded(float, FOV_DEG)


def sizes(sides: Range):
    """argparse type: ``WIDTHxHEIGHT`` -> (width, height) px, each side allowed by ``sides``."""

    def parse(text: str) -> tuple[int, int]:
        try:
            width, height = (int(v) for v in text.lower().split("x"))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, e.g. 320x240, got {text!r}") from None
        requirement = next(filter(None, map(sides.requirement, (width, height))), None)
        if requirement:
            raise argparse.ArgumentTypeError(f"each side must be {requirement} px, got {text!r}")
        return width, height

    return parse


size = sizes(IMAGE_SIDE_PX)  # an image size
network_size = sizes(NETWORK_SIDE_PX)  # a network input size


@contextlib.contextmanager
def flags_checked(flags: dict[str, str]) -> Iterator[None]:
    """Around building a checked record from flags: its ``ConfigValueError`` becomes an ``InputError`` naming the
    flag (``flags``: field name -> flag; other fields are named as they are)."""
    try:
        yield
    except ConfigValueError as error:
        raise InputError(None, f"{flags.get(error.key, error.key)}: {error.problem}") from None


def add_input_arguments(parser: argparse.ArgumentParser, *, per_sequence: bool = True) -> None:
    """Flags every command that reads sequences shares. ``per_sequence``: also the flags that describe one
    sequence (size, intrinsics, Hypersim camera), which a whole data set does not take."""
    group = parser.add_argument_group("input")
    add_frame_arguments(group, per_scene=not per_sequence)
    if per_sequence:
        group.add_argument("--resize", type=size, metavar="WxH", help="resize frames (and intrinsics) to WxH")
        group.add_argument("--fov-deg", type=fov_deg, help="horizontal field of view for sources without intrinsics")
        group.add_argument("--intrinsics", metavar="FILE", help="intrinsics YAML/JSON (fx, fy, cx, cy, width, height)")
        group.add_argument("--camera", metavar="CAM", help="camera trajectory of a Hypersim scene (default: the "
                                                            "first, e.g. cam_00; `m2h-slam info SCENE` lists them)")
    group.add_argument("--config", metavar="FILE", help="YAML config (see configs/default.yaml)")


def add_frame_arguments(parser, *, per_scene: bool = False) -> None:
    """--stride and --max-frames: which frames of a source are read. The limit counts frames read after the
    stride, so unreadable frames (a damaged video) do not use it up."""
    parser.add_argument("--stride", type=positive_int, default=1, help="use every N-th frame (default 1)")
    parser.add_argument("--max-frames", type=positive_int,
                        help="stop after this many frames read" + (" per scene" if per_scene else "")
                             + " (counted after --stride; unreadable frames do not count)")


def add_network_arguments(parser: argparse.ArgumentParser, *, runtime: bool = True, input_size: bool = False) -> None:
    """--weights, --device (and --threads, --runtime; --input-size) of the commands that run the network."""
    group = parser.add_argument_group("network")
    group.add_argument("--weights", help="our .safetensors, an official .pt/.pth, or an .onnx "
                                         "(default: the shipped m2h_tiny demo weights)")
    if input_size:
        group.add_argument("--input-size", type=network_size, metavar="WxH",
                           help="network input size (default: the model's)")
    add_device_argument(group)
    if runtime:
        group.add_argument("--threads", type=positive_int, help="CPU threads for the network")
        group.add_argument("--runtime", choices=RUNTIMES,
                           help="network runtime (default: the config's, auto: ONNX Runtime on the CPU, exported once "
                                "and cached)")
        group.add_argument("--no-variants", dest="variants", action="store_false", default=None,
                           help="ONNX Runtime: run the export as trained, not a faster variant of it (INT8, shorter "
                                "attention windows: used by default where one passed its accuracy and speed check)")


def add_device_argument(parser) -> None:
    parser.add_argument("--device", help="torch device, e.g. cuda (default: the config's, cpu)")


def open_from_args(args: argparse.Namespace):
    """Open the sequence named by ``args.path`` with the shared input flags."""
    from m2h_slam.core.config import load_config
    from m2h_slam.sources import ReadOptions, open_sequence

    config = load_config(args.config)
    options = ReadOptions(args.stride, args.max_frames, args.resize, args.fov_deg, args.intrinsics, args.camera)
    return open_sequence(args.path, options, config.input)


def perception_from_args(config, args: argparse.Namespace):
    """``config`` with the network flags that were given (--weights, --device, --threads, --runtime,
    --no-variants) applied."""
    import dataclasses

    given = {name: getattr(args, name, None) for name in ("weights", "device", "threads", "runtime", "variants")}
    with flags_checked({name: "--no-variants" if name == "variants" else f"--{name}" for name in given}):
        perception = dataclasses.replace(config.perception, **{k: v for k, v in given.items() if v is not None})
    return dataclasses.replace(config, perception=perception)
