"""Scene-graph cost: per-frame update (objects and agents) and the periodic rebuild (map frame, free
space, rooms, places, graph) against map size, on a synthetic apartment with ground-truth perception.

    python benchmarks/scene_graph.py [--frames 300] [--size 320x240]
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

from common import report

from m2h_slam.core.config import Config
from m2h_slam.perception.ground_truth import prediction_from_ground_truth
from m2h_slam.sources import open_sequence
from m2h_slam.synthetic import WorldSpec, write_synthetic
from pipeline import Mapper
from pipeline.scene_graph.builder import SceneGraphBuilder


def measure(path: Path, config: Config) -> dict:
    """Per-frame update and periodic rebuild times of one configuration."""
    sequence = open_sequence(path)
    mapper, builder = Mapper(config, sequence.intrinsics), SceneGraphBuilder(config, sequence.intrinsics)
    update_s, builds = [], []
    for k, frame in enumerate(sequence, start=1):
        prediction = prediction_from_ground_truth(frame)
        step = mapper.step(frame, prediction, frame.world_T_camera)
        start = time.perf_counter()
        builder.update(frame, step)
        update_s.append(time.perf_counter() - start)
        if k % config.graph.update_every_frames == 0 or k == len(sequence):
            start = time.perf_counter()
            graph, _ = builder.build(mapper.view(), final=k == len(sequence))
            builds.append({"frames": k, "blocks": mapper.volume.block_count,
                           "build_ms": round(1000 * (time.perf_counter() - start), 1), **(graph.counts() if graph else {})})
    update_ms = 1000 * sum(update_s) / len(update_s)
    build_ms = sum(b["build_ms"] for b in builds) / len(builds)
    return {"object_every_frames": config.graph.object_every_frames,
            "update_every_frames": config.graph.update_every_frames,
            "update_ms_per_frame": round(update_ms, 2), "mean_rebuild_ms": round(build_ms, 1),
            "amortised_ms_per_frame": round(update_ms + build_ms / config.graph.update_every_frames, 2),
            "rebuilds": builds,
            "rebuild_growth_last_vs_first": round(builds[-1]["build_ms"] / builds[0]["build_ms"], 2),
            "blocks_growth_last_vs_first": round(builds[-1]["blocks"] / max(builds[0]["blocks"], 1), 2)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--size", default="320x240")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory(prefix="m2h-bench-") as work:
        path = write_synthetic(Path(work) / "seq", WorldSpec(seed=3, frames=args.frames, rooms=4, people=2), size,
                               progress=False)
        runs = []
        for every in (1, 2):  # objects on every frame (default) and on every second frame
            config = Config()
            config = dataclasses.replace(config, graph=dataclasses.replace(config.graph, object_every_frames=every))
            runs.append(measure(path, config))
    report("scene_graph", {"frames": args.frames, "size": list(size), "target_ms_per_frame": 5.0, "runs": runs,
                           "ratio_every_2_vs_1": round(runs[1]["amortised_ms_per_frame"]
                                                       / runs[0]["amortised_ms_per_frame"], 2)})


if __name__ == "__main__":
    main()
