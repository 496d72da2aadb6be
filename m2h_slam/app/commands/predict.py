"""``m2h-slam predict IMAGE_OR_DIR --out OUT``: depth, semantics, normals and edges for images."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from m2h_slam.app.arguments import add_network_arguments, perception_from_args
from m2h_slam.core.errors import InputError

log = logging.getLogger("m2h_slam")


def add(commands, common: argparse.ArgumentParser) -> None:
    predict = commands.add_parser("predict", parents=[common], help="depth, semantics, normals and edges for images")
    predict.add_argument("input", help="image file or folder of images")
    predict.add_argument("--out", required=True, help="output folder")
    predict.add_argument("--force", action="store_true", help="write into a non-empty folder (old predictions removed)")
    add_network_arguments(predict, input_size=True)
    predict.set_defaults(func=main)


def predictor_from_args(args: argparse.Namespace):
    """The ``Predictor`` of the network flags (defaults: the built-in config's perception, the demo weights)."""
    from m2h_slam.core.config import Config
    from m2h_slam.perception import Predictor, check_device, demo_weights

    c = perception_from_args(Config(), args).perception
    check_device(c.device)
    return Predictor.from_weights(c.weights or demo_weights(), device=c.device, runtime=c.runtime, threads=c.threads,
                                  **({"input_size": args.input_size} if args.input_size else {}))


def main(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from m2h_slam.app.output_folder import prepare_output_folder
    from m2h_slam.formats import image_io
    from m2h_slam.perception.prediction_files import PREDICTION_OUTPUTS, write_prediction
    from m2h_slam.sources.image_folder import list_images

    source = Path(args.input)
    if not source.exists():
        raise InputError(source, "no such file or folder")
    images = list_images(source) if source.is_dir() else [source]
    if not images:
        raise InputError(source, "folder holds no images")
    predictor = predictor_from_args(args)
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
