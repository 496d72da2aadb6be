"""``m2h-slam synth OUT``: a synthetic apartment sequence with exact ground truth."""

from __future__ import annotations

import argparse
import logging
import time

from m2h_slam.app.arguments import flags_checked, fov_deg, non_negative, non_negative_int, positive, positive_int, size

log = logging.getLogger("m2h_slam")


def add(commands, common: argparse.ArgumentParser) -> None:
    synth = commands.add_parser("synth", parents=[common],
                                help="generate a synthetic apartment sequence with exact ground truth")
    synth.add_argument("out", help="output folder (m2h sequence + mesh.ply, scene_graph.json, preview.png)")
    synth.add_argument("--seed", type=non_negative_int, default=0, help="world seed: same seed, same bytes (default 0)")
    synth.add_argument("--frames", type=positive_int, default=300, help="number of frames (default 300)")
    synth.add_argument("--fps", type=positive, default=15.0, help="frame rate (default 15)")
    synth.add_argument("--size", type=size, default=(320, 240), metavar="WxH", help="image size (default 320x240)")
    synth.add_argument("--hfov-deg", type=fov_deg, default=70.0, help="horizontal field of view (default 70)")
    # the ranges of --seed ... --exposure are WorldSpec's and RenderOptions' (checked when they are built)
    synth.add_argument("--rooms", type=int, default=4, help="rooms, 2-6 (default 4)")
    synth.add_argument("--people", type=int, default=2, help="walking people, 0-20 (default 2)")
    synth.add_argument("--static-camera", action="store_true", help="camera stands still in the largest room")
    synth.add_argument("--move-object", action="store_true", help="move one chair or box half-way through")
    synth.add_argument("--noise", type=non_negative, default=0.0, help="RGB noise sigma in 8-bit levels")
    synth.add_argument("--blur", type=non_negative, default=0.0, help="RGB blur sigma in pixels")
    synth.add_argument("--exposure", type=non_negative, default=0.0, help="exposure change amplitude (e.g. 0.2)")
    synth.add_argument("--randomize", action="store_true", help="domain randomisation: varied furniture, "
                       "photographic textures, random lights, white balance, noise, blur (for training)")
    synth.add_argument("--force", action="store_true", help="replace a non-empty output folder")
    synth.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from m2h_slam.app.output_folder import prepare_output_folder, sequence_owned
    from m2h_slam.app.output_lock import output_lock
    from m2h_slam.synthetic import SYNTHETIC_OUTPUTS, RenderOptions, WorldSpec, write_synthetic

    with flags_checked({"noise_std": "--noise", "blur_sigma_px": "--blur", "exposure_variation": "--exposure",
                        **{name: f"--{name}" for name in ("seed", "frames", "fps", "rooms", "people")}}):
        spec = WorldSpec(seed=args.seed, frames=args.frames, fps=args.fps, rooms=args.rooms, people=args.people,
                         static_camera=args.static_camera, move_object=args.move_object, varied_furniture=args.randomize)
        options = RenderOptions(noise_std=args.noise, blur_sigma_px=args.blur, exposure_variation=args.exposure,
                                randomize=args.randomize)
    with output_lock(args.out):  # one m2h-slam at a time in OUT
        prepare_output_folder(args.out, args.force, sequence_owned(SYNTHETIC_OUTPUTS))  # --force: frames, not rgb/
        start = time.perf_counter()
        out = write_synthetic(args.out, spec, args.size, args.hfov_deg, options, progress=not args.quiet)
    seconds = time.perf_counter() - start
    log.info("wrote %d frames (%dx%d) of synthetic world seed %d to %s in %.1f s (%.1f frames/s)",
             args.frames, *args.size, args.seed, out, seconds, args.frames / seconds)
    return 0
