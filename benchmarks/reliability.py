"""What crash safety costs: sealed snapshots vs Open3D's own grid save, snapshot load, the run's input
binding, and the export with the canonical vertex order.

A map is built from a synthetic apartment with ground-truth perception and poses; every measurement
alternates the compared variants in one run.

    python benchmarks/reliability.py [--frames 150] [--size 320x240]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from common import report

from m2h_slam.app import snapshot
from m2h_slam.core.config import Config
from m2h_slam.perception.ground_truth import prediction_from_ground_truth
from m2h_slam.sources import open_sequence
from m2h_slam.synthetic import WorldSpec, write_synthetic
from pipeline.scene_mapper import SceneMapper


def _mean_ms(fn, repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return 1000 * (time.perf_counter() - start) / repeat


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--size", default="320x240")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    work = Path(tempfile.mkdtemp(prefix="m2h-bench-"))
    try:
        seq_path = write_synthetic(work / "seq", WorldSpec(seed=0, frames=args.frames), size, progress=False)
        sequence = open_sequence(seq_path)
        config = Config()
        scene = SceneMapper(config, sequence.intrinsics)
        mapper = scene.mapper
        start = time.perf_counter()
        for frame in sequence:
            mapper.step(frame, prediction_from_ground_truth(frame), frame.world_T_camera)
        map_ms = 1000 * (time.perf_counter() - start) / len(sequence)
        binding = {}
        binding_ms = _mean_ms(lambda: binding.update(snapshot.input_binding(sequence, config, "gt", None)), args.repeat)
        ours, open3d_save = [], []
        for k in range(args.repeat):  # alternate the two writers
            t0 = time.perf_counter()
            snapshot.save_snapshot(work / "out", scene, {}, binding)
            ours.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            (work / "o3d").mkdir(exist_ok=True)
            mapper.volume.grid.save(str(work / "o3d" / "grid.npz"))
            open3d_save.append(time.perf_counter() - t0)
        snapshot_mb = sum(p.stat().st_size for p in (work / "out" / ".snapshot").rglob("*") if p.is_file()) / 2**20
        other = SceneMapper(config, sequence.intrinsics)
        load_ms = _mean_ms(lambda: snapshot.load_snapshot(work / "out", other, binding), args.repeat)
        finish_ms = _mean_ms(mapper.finish, args.repeat)
        same = other.mapper.finish().mesh.vertices.tobytes() == mapper.finish().mesh.vertices.tobytes()
        result = {
            "frames": len(sequence), "size": list(size), "blocks": mapper.volume.block_count,
            "map_ms_per_frame": round(map_ms, 2),
            "snapshot_mb": round(snapshot_mb, 1),
            "snapshot_sealed_ms": round(1000 * sum(ours) / len(ours), 1),
            "open3d_grid_save_ms": round(1000 * sum(open3d_save) / len(open3d_save), 1),
            "ratio_sealed_vs_open3d": round(sum(ours) / sum(open3d_save), 2),
            "snapshot_load_ms": round(load_ms, 1),
            "reloaded_mesh_identical": same,
            "input_binding_ms": round(binding_ms, 1),
            "mesh_extraction_ms": round(finish_ms, 1),
        }
        report("reliability", result)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
