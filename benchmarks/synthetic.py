"""Synthetic world rendering speed: frames/s at 320x240 and 640x480 (render only, and
render + writing every ground-truth image), and at 320x240 with domain randomisation (as
`synth --randomize`: varied furniture, textures, lights, camera effects), on one generated apartment.

    .venv/bin/python benchmarks/synthetic.py [--frames N]
Target: at least 50 frames/s rendering at 320x240.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

from common import peak_rss_mb, report

from m2h_slam.core.intrinsics import Intrinsics
from m2h_slam.sources.sequence_folder import SequenceWriter
from m2h_slam.synthetic import Renderer, RenderOptions, WorldSpec, generate_world


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=200)
    args = parser.parse_args()
    spec = WorldSpec(seed=0, frames=args.frames, rooms=5, people=2)
    start = time.perf_counter()
    world = generate_world(spec)
    generate_s = time.perf_counter() - start
    sizes = {}
    for width, height in ((320, 240), (640, 480)):
        renderer = Renderer(world, Intrinsics.from_fov(width, height, 70.0))
        renderer.render(0)
        start = time.perf_counter()
        for i in range(args.frames):
            renderer.render(i)
        render_s = time.perf_counter() - start
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            with SequenceWriter(Path(tmp) / "seq", renderer.K, fps=spec.fps) as writer:
                for i in range(args.frames):
                    writer.write(renderer.render(i))
            render_and_write_s = time.perf_counter() - start
        sizes[f"{width}x{height}"] = {
            "render_ms_per_frame": round(1000 * render_s / args.frames, 2),
            "render_frames_per_s": round(args.frames / render_s, 1),
            "render_and_write_frames_per_s": round(args.frames / render_and_write_s, 1),
        }
    varied = generate_world(dataclasses.replace(spec, varied_furniture=True))
    randomized = Renderer(varied, Intrinsics.from_fov(320, 240, 70.0), RenderOptions(randomize=True))
    randomized.render(0)
    start = time.perf_counter()
    for i in range(args.frames):
        randomized.render(i)
    sizes["320x240 randomized"] = {"render_frames_per_s": round(args.frames / (time.perf_counter() - start), 1)}
    small = min(sizes["320x240"]["render_frames_per_s"], sizes["320x240 randomized"]["render_frames_per_s"])
    report("synthetic", {
        "frames": args.frames,
        "world": {"rooms": spec.rooms, "people": spec.people, "objects": len(world.objects),
                  "static_triangles": sum(len(m.triangles) for m in world.static_meshes)},
        "generate_world_s": round(generate_s, 3),
        "sizes": sizes,
        "target_320x240_frames_per_s": 50,
        "ratio_to_target_320x240": round(small / 50, 2),
        "meets_target": small >= 50,
        "peak_rss_mb": round(peak_rss_mb(), 1),
    })


if __name__ == "__main__":
    main()
