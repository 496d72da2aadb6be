"""``m2h-slam predict IMAGE_DIR_OR_VIDEO --out OUT``: depth, semantics, normals and edges for images or video frames."""

from __future__ import annotations

import argparse
import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from m2h_slam.app.arguments import add_frame_arguments, add_network_arguments, perception_from_args
from m2h_slam.core.errors import InputError

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger("m2h_slam")


def add(commands, common: argparse.ArgumentParser) -> None:
    predict = commands.add_parser("predict", parents=[common],
                                  help="depth, semantics, normals and edges for images or the frames of a video")
    predict.add_argument("input", help="image file, folder of images, or video file (one prediction per frame read, "
                                       "named frame_NNNNNN by its index in the video)")
    predict.add_argument("--out", required=True, help="output folder")
    predict.add_argument("--force", action="store_true", help="write into a non-empty folder (old predictions removed)")
    add_frame_arguments(predict.add_argument_group("input"))
    add_network_arguments(predict, input_size=True)
    predict.set_defaults(func=main)


def predictor_from_args(args: argparse.Namespace):
    """The ``Predictor`` of the network flags (defaults: the built-in config's perception, the demo weights)."""
    from m2h_slam.core.config import Config
    from m2h_slam.perception import Predictor, check_device, demo_weights
    from m2h_slam.perception.perception import note_demo_weights

    c = perception_from_args(Config(), args).perception
    check_device(c.device)
    weights = Path(c.weights) if c.weights else demo_weights()
    note_demo_weights(weights, synthetic_source=False)  # images and videos: not known to be synthetic
    return Predictor.from_weights(weights, device=c.device, runtime=c.runtime, variants=c.variants, threads=c.threads,
                                  **({"input_size": args.input_size} if args.input_size else {}))


class _Images:
    """The images of a file or folder, every ``stride``-th; unreadable ones are skipped with a warning."""

    unit = "image"

    def __init__(self, source: Path, stride: int):
        from m2h_slam.sources.image_folder import list_images

        if source.is_dir():
            self.paths = list_images(source)[::stride]
            if not self.paths:
                raise InputError(source, "folder holds no images")
        else:
            self.paths = [source]
        self.skipped = 0  # unreadable images
        self.total = len(self.paths)  # for the progress bar

    def __iter__(self) -> Iterator[tuple[str, np.ndarray]]:
        from m2h_slam.formats import image_io

        for path in self.paths:
            try:
                yield path.stem, image_io.read_rgb(path)
            except InputError as error:
                if len(self.paths) == 1:
                    raise  # a single image that cannot be read is the error itself
                log.warning("%s; skipped", error)
                self.skipped += 1


class _VideoFrames:
    """The frames of a video through the sequence reader (stride, frame limit, corrupt frames skipped), at the
    video's own size; named by their index in the video."""

    unit = "frame"

    def __init__(self, source: Path, stride: int, max_frames: int | None):
        from m2h_slam.core.config import IMAGE_SIDE_PX, InputConfig
        from m2h_slam.sources.sequence import ReadOptions
        from m2h_slam.sources.video import VideoSequence

        # The network needs no intrinsics (a field of view is given only to keep the reader's warning away), and
        # predictions are written at the frame's size, as for images (the working-size cap at the most
        # input.max_image_side_px allows: beyond any video's frames).
        config = InputConfig(max_image_side_px=IMAGE_SIDE_PX.limit)
        options = ReadOptions(stride, max_frames, fov_deg=config.default_fov_deg)
        self.sequence = VideoSequence(source, options, config)
        # for the progress bar: an upper bound (corrupt frames are skipped), None when the container gives no count
        self.total = len(self.sequence) if self.sequence.length_known else None

    @property
    def skipped(self) -> int:
        """Corrupt frames skipped in the read."""
        return self.sequence.frames_corrupt

    def __iter__(self) -> Iterator[tuple[str, np.ndarray]]:
        for frame in self.sequence:
            yield f"frame_{frame.index:06d}", frame.rgb


def main(args: argparse.Namespace) -> int:
    from m2h_slam.app.output_folder import prepare_output_folder
    from m2h_slam.app.output_lock import output_lock
    from m2h_slam.core.progress import progress
    from m2h_slam.perception.prediction_files import PREDICTION_OUTPUTS, write_prediction
    from m2h_slam.sources.video import VIDEO_SUFFIXES

    source = Path(args.input)
    if not source.exists():
        raise InputError(source, "no such file or folder")
    if source.is_file() and source.suffix.lower() in VIDEO_SUFFIXES:
        inputs = _VideoFrames(source, args.stride, args.max_frames)
    else:
        inputs = _Images(source, args.stride)
    predictor = predictor_from_args(args)
    with output_lock(args.out, [source]):  # one m2h-slam at a time in OUT
        out = prepare_output_folder(args.out, args.force, PREDICTION_OUTPUTS, inputs=[source])
        written, limit = 0, args.max_frames
        total = inputs.total if limit is None or inputs.total is None else min(inputs.total, limit)
        bar = progress(total=total, desc="predicting", unit=inputs.unit, disable=args.quiet or total == 1)
        with contextlib.closing(iter(inputs)) as frames:  # closing ends the reader's read (its warnings, its counts)
            for name, rgb in frames:
                write_prediction(out, name, rgb, predictor.predict(rgb))
                written += 1
                bar.update(1)
                if written == limit:  # the limit counts what was read, not what was listed
                    break
        bar.close()
    if not written:
        raise InputError(source, f"no readable {inputs.unit}s ({inputs.skipped} skipped); nothing was predicted")
    log.info("wrote predictions of %d %s(s) to %s%s", written, inputs.unit, out,
             f" ({inputs.skipped} unreadable skipped)" if inputs.skipped else "")
    return 0
