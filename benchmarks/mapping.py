"""Mapping back end costs and quality, measured side by side in one run (2-core CPU).

    .venv/bin/python benchmarks/mapping.py [--quick]

1. ms/frame per stage (predict, mask, odometry, moving objects, fusion, export) at 320x240 and 640x480;
2. our fusion (masks + TSDF + colour + semantic evidence + normals) vs plain VoxelBlockGrid
   integration of the same frames, alternating frame by frame;
3. per-frame time over a long sequence (mean of the last 10% / the first 10%);
4. quality on held-out synthetic apartments (seeds never used for training): ATE (evo)
   and mesh F1 at 5 cm, frames lost and moving objects flagged, with ground-truth
   perception and with the demo network (its own poses, and the true poses: the map its depth allows);
5. end-to-end frames/s of `m2h-slam run` with the demo weights at 320x240; peak RSS;
6. loop closure on long held-out walks (1,500 frames through 3 rooms, one person, seeds never used for training or
   tuning): the demo network and ground-truth perception, each with closures on and off; and a walk that
   never comes back, mapped with closures on and off (the outputs must be identical).

    .venv/bin/python benchmarks/mapping.py --long-walks [--frames N]     # section 6 alone (about 30 min)
    .venv/bin/python benchmarks/mapping.py --fusion                      # section 2 alone (about a minute)
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import numpy as np
from common import peak_rss_mb, report

from m2h_slam.app.run_loop import RunOptions, run
from m2h_slam.core.config import Config
from m2h_slam.core.intrinsics import Intrinsics
from m2h_slam.core.o3d import open3d
from m2h_slam.eval.run_eval import evaluate_run
from m2h_slam.perception.ground_truth import prediction_from_ground_truth
from m2h_slam.sources import open_sequence
from m2h_slam.synthetic import Renderer, WorldSpec, generate_world, write_synthetic
from pipeline import Mapper
from pipeline.mapping.fusion import SemanticTSDF
from pipeline.mapping.masks import fusion_mask

HELD_OUT_SEEDS = (900, 901)  # training data uses seeds 100-115
LONG_WALK_SEEDS = (930, 931)  # never used for training, tuning or tests


def frames_of(seed: int, count: int, size: tuple[int, int], people: int = 2):
    world = generate_world(WorldSpec(seed=seed, frames=count, rooms=4, people=people))
    renderer = Renderer(world, Intrinsics.from_fov(size[0], size[1], 70.0))
    for i in range(count):
        yield renderer.render(i)


def stage_times(size: tuple[int, int], count: int) -> dict:
    """Back end on ground-truth perception (VO), and the demo network's predict time, per frame."""
    from m2h_slam.perception import Predictor
    from m2h_slam.perception.perception import demo_weights

    frames = list(frames_of(21, count, size))
    mapper = Mapper(Config(), frames[0].intrinsics)
    stages: dict[str, list[float]] = {}
    for frame in frames:
        result = mapper.step(frame, prediction_from_ground_truth(frame))
        for k, v in result.timings_ms.items():
            stages.setdefault(k, []).append(v)
    start = time.perf_counter()
    mapper.finish()
    export_ms = 1000 * (time.perf_counter() - start)
    predictor = Predictor.from_weights(demo_weights())
    predictor.predict(frames[0].rgb)
    start = time.perf_counter()
    for frame in frames[:20]:
        predictor.predict(frame.rgb)
    predict_ms = 1000 * (time.perf_counter() - start) / 20
    out = {k: round(float(np.mean(v[1:])), 2) for k, v in stages.items()}
    out.update({"predict_m2h_tiny": round(predict_ms, 2), "export_once": round(export_ms, 1),
                "tracking_failures": mapper.state.counts["lost"]})
    return out


def fusion_vs_plain(size: tuple[int, int], count: int) -> dict:
    o3d = open3d()
    core = o3d.core
    config = Config().fusion
    frames = list(frames_of(22, count, size))
    predictions = [prediction_from_ground_truth(frame) for frame in frames]  # the input, as the depth is plain's
    ours = SemanticTSDF(config)
    plain = o3d.t.geometry.VoxelBlockGrid(("tsdf", "weight", "color"), (core.float32, core.float32, core.float32),
                                          ((1), (1), (3)), config.voxel_size_m, config.block_resolution, 10000)
    trunc = config.truncation_m / config.voxel_size_m
    t_ours, t_plain = [], []
    for frame, p in zip(frames, predictions):
        K = frame.intrinsics
        start = time.perf_counter()
        depth = o3d.t.geometry.Image(core.Tensor(frame.depth_m[..., None]))
        color = o3d.t.geometry.Image(core.Tensor(frame.rgb.astype(np.float32) / 255.0))
        Kt, ext = core.Tensor(K.matrix, core.float64), core.Tensor(np.linalg.inv(frame.world_T_camera), core.float64)
        blocks = plain.compute_unique_block_coordinates(depth, Kt, ext, 1.0, config.depth_max_m, trunc)
        plain.integrate(blocks, depth, color, Kt, ext, 1.0, config.depth_max_m, trunc)
        t_plain.append(time.perf_counter() - start)
        start = time.perf_counter()
        depth, weight, _ = fusion_mask(p, K, config)
        ours.integrate(depth, weight, frame.rgb, K, frame.world_T_camera, p.semantics, p.confidence, p.normals)
        t_ours.append(time.perf_counter() - start)
    plain_ms, ours_ms = 1000 * float(np.mean(t_plain[1:])), 1000 * float(np.mean(t_ours[1:]))
    return {"plain_ms": round(plain_ms, 2), "ours_ms": round(ours_ms, 2), "ratio": round(ours_ms / plain_ms, 2)}


def fusion_section(count: int) -> dict:
    """Section 2 at 320x240 and 640x480, with the target (issue 30: fusion at the cost of plain integration)."""
    return {"fusion_vs_plain": {f"{w}x{h}": fusion_vs_plain((w, h), count) for w, h in ((320, 240), (640, 480))},
            "fusion_target_ratio_640x480": 1.0}


def long_run(count: int) -> dict:
    frames = frames_of(23, count, (320, 240))
    mapper = None
    per_frame, truth = [], []
    for frame in frames:
        mapper = mapper or Mapper(Config(), frame.intrinsics)
        p = prediction_from_ground_truth(frame)
        start = time.perf_counter()
        mapper.step(frame, p)
        per_frame.append(time.perf_counter() - start)
        truth.append(frame.world_T_camera[:3, 3])
    tenth = max(1, count // 10)
    first, last = np.mean(per_frame[1:tenth]), np.mean(per_frame[-tenth:])
    truth = np.array(truth)  # the map starts at the first true pose: no alignment needed
    error = np.linalg.norm(mapper.poses[:, :3, 3] - truth, axis=1)
    return {"frames": count, "first_10pct_ms": round(1000 * first, 2), "last_10pct_ms": round(1000 * last, 2),
            "ratio_last_over_first": round(float(last / first), 3), "target_ratio": 1.2,
            "blocks": mapper.volume.block_count, "tracking_failures": mapper.state.counts["lost"],
            "frames_without_depth": mapper.state.counts["no_depth"], "moving_objects": mapper.state.counts["moving_objects"],
            "ate_rmse_m": round(float(np.sqrt(np.mean(error**2))), 3), "revisits": len(mapper.state.revisits),
            "map_rebuilds_s": mapper.state.rebuilds,
            "path_length_m": round(float(np.linalg.norm(np.diff(truth, axis=0), axis=1).sum()), 1)}


def quality(frames: int, tmp: Path) -> dict:
    results = {}
    for seed in HELD_OUT_SEEDS:
        sequence_dir = write_synthetic(tmp / f"seq{seed}", WorldSpec(seed=seed, frames=frames, rooms=4, people=2),
                                       size=(320, 240), progress=False)
        entry = {}
        # network_gt_poses: the network's depth fused at the true poses, the best map that depth allows
        for name, gt_perception, poses in (("gt_perception_vo", True, "vo"), ("network_vo", False, "vo"),
                                           ("network_gt_poses", False, "gt")):
            out = tmp / f"run{seed}_{name}"
            record = run(open_sequence(sequence_dir), out, Config(),
                         RunOptions(poses=poses, gt_perception=gt_perception, progress=False, snapshot_every=0))
            scores = evaluate_run(out, sequence_dir, correct_scale=not gt_perception and poses == "vo")
            scores["frames_per_s"] = record["frames_per_s"]
            scores.update({k: record["counts"][k] for k in ("fused", "lost", "moving_objects")})
            entry[name] = scores
        results[f"seed{seed}"] = entry
    return results


def _closures(on: bool, deterministic: bool = False) -> Config:
    config = Config()
    return dataclasses.replace(config, odometry=dataclasses.replace(config.odometry, loop_closure=on,
                                                                    deterministic=deterministic))


def _long_walk_scores(sequence_dir: Path, out: Path, config: Config, gt_perception: bool) -> dict:
    record = run(open_sequence(sequence_dir), out, config,
                 RunOptions(gt_perception=gt_perception, progress=False, snapshot_every=0))
    scores = evaluate_run(out, sequence_dir, correct_scale=not gt_perception)
    frames = record["counts"]["frames"]
    revisit_ms = record["timings"].get("revisits", {}).get("total_s", 0.0) * 1000
    keep = ("ate_percent_of_path", "ate_rmse_m", "scale", "mesh_f1@0.05m", "objects_f1", "rooms_recall",
            "rooms_precision", "rooms_estimated", "rooms_visited", "path_length_m")
    return {**{k: scores[k] for k in keep if k in scores}, "frames_per_s": record["frames_per_s"],
            "lost": record["counts"]["lost"], "loop_closure": record["loop_closure"],
            "loop_closure_ms_per_frame": round(revisit_ms / frames, 2)}


def long_walks(frames: int, tmp: Path) -> dict:
    """Section 6: loop closure on and off on long held-out walks, and on a walk that never comes back."""
    results = {}
    for seed in LONG_WALK_SEEDS:
        sequence_dir = write_synthetic(tmp / f"long{seed}", WorldSpec(seed=seed, frames=frames, rooms=3, people=1),
                                       size=(320, 240), progress=False)
        results[f"seed{seed}"] = {
            name: _long_walk_scores(sequence_dir, tmp / f"long{seed}_{name}", _closures(on), gt)
            for name, gt, on in (("network_closures", False, True), ("network_no_closures", False, False),
                                 ("gt_perception_closures", True, True), ("gt_perception_no_closures", True, False))}
    # 150 frames of a held-out walk never come back: closures on and off must write the same trajectory and mesh
    sequence_dir = write_synthetic(tmp / "once", WorldSpec(seed=HELD_OUT_SEEDS[0], frames=150, rooms=4, people=2),
                                   size=(320, 240), progress=False)
    outputs = []
    for on in (True, False):
        out = tmp / f"once_{on}"
        record = run(open_sequence(sequence_dir), out, _closures(on, deterministic=True),
                     RunOptions(progress=False, snapshot_every=0))
        outputs.append(((out / "trajectory.txt").read_bytes(), (out / "mesh.ply").read_bytes(),
                        record["loop_closure"]["revisits"]))
    results["walk_without_revisits"] = {"revisits": outputs[0][2], "identical_on_off": outputs[0][:2] == outputs[1][:2]}
    results["targets"] = {"network_ate_percent_of_path": 1.0, "network_mesh_f1@0.05m": 0.3,
                          "network_rooms_recall": 0.67, "gt_perception_ate_percent_of_path": 0.1}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--long-walks", action="store_true", help="only section 6 (loop closure on long walks)")
    parser.add_argument("--frames", type=int, default=1500, help="frames of each long walk (section 6)")
    parser.add_argument("--fusion", action="store_true", help="only section 2 (fusion vs plain integration)")
    args = parser.parse_args()
    if args.fusion:
        report("fusion", fusion_section(100))
        return
    if args.long_walks:
        with tempfile.TemporaryDirectory() as tmp:
            report("loop_closure", {"long_walks": long_walks(args.frames, Path(tmp))})
        return
    count = 40 if args.quick else 100
    result = {
        "stages_ms": {f"{w}x{h}": stage_times((w, h), count) for w, h in ((320, 240), (640, 480))},
        **fusion_section(count),
        "long_sequence": long_run(300 if args.quick else 2000),
    }
    with tempfile.TemporaryDirectory() as tmp:
        result["quality_held_out"] = quality(150 if args.quick else 300, Path(tmp))
    result["targets"] = {"ate_percent_of_path": 1.0, "mesh_f1@0.05m": 0.9}
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    report("mapping", result)


if __name__ == "__main__":
    main()
