"""Scene-graph cost and quality.

Cost (default): per-frame update (objects and agents) and the periodic rebuild (map frame, free space, rooms,
places, graph) against map size, on a synthetic apartment with ground-truth perception.

Quality (``--quality``): held-out walks (seeds 900-905, people walking) mapped with our odometry, once with the
shipped demo network and once with ground-truth perception, scored by ``m2h-slam eval`` (objects and rooms also
``_strict``: against whole true objects and rooms, not only the part the camera saw), with the issue's targets.

    python benchmarks/scene_graph.py [--frames 300] [--size 320x240]
    python benchmarks/scene_graph.py --quality [--seeds 900-905] [--frames 300] [--size 320x240]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

from common import report

from m2h_slam.cli import main as m2h_slam
from m2h_slam.core.config import Config
from m2h_slam.eval.run_eval import evaluate_run
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


SCORES = ("objects_f1", "objects_f1_strict", "objects_estimated", "objects_seen", "rooms_precision", "rooms_recall",
          "rooms_precision_strict", "rooms_recall_strict", "rooms_estimated", "rooms_visited", "agents", "people_seen",
          "people_followed", "agent_id_switches", "agent_most_switches_per_person", "mesh_f1@0.05m",
          "ate_percent_of_path")
# The network column's targets: (score, lowest or highest allowed).
TARGETS = {"objects_f1": (0.7, None), "rooms_precision": (0.8, None), "rooms_recall": (0.8, None),
           "mesh_f1@0.05m": (0.45, None), "ate_percent_of_path": (None, 1.5), "agent_most_switches_per_person": (None, 1),
           "object_events": (None, 0)}


def score_walk(sequence: Path, out: Path, gt_perception: bool) -> dict:
    """Map ``sequence`` with our odometry (network or true perception) and score it."""
    assert m2h_slam(["-q", "run", str(sequence), "--out", str(out), "--force",
                     *(["--gt-perception"] if gt_perception else [])]) == 0
    scores = evaluate_run(out, sequence)
    record = json.loads((out / "run.json").read_text())
    row = {k: scores.get(k) for k in SCORES}
    row["extra_agents"] = max(0, row["agents"] - row["people_seen"] - 1)
    row["people_without_agent"] = row["people_seen"] - row["people_followed"]
    row["object_events"] = len((record.get("scene_graph") or {}).get("events", []))
    row["frames_per_s"] = record["frames_per_s"]  # beside other work when the machine is shared
    return row


def _misses(row: dict) -> list[str]:
    out = [k for k, (low, high) in TARGETS.items() if row.get(k) is None or (low is not None and row[k] < low)
           or (high is not None and row[k] > high)]
    return out + [k for k in ("extra_agents", "people_without_agent") if row[k] > 0]


def _mean(rows: list[dict]) -> dict:
    return {k: round(sum(r[k] for r in rows) / len(rows), 4) for k in rows[0] if isinstance(rows[0][k], (int, float))}


def quality(seeds: list[int], frames: int, size: tuple[int, int], work: Path) -> dict:
    walks = []
    for seed in seeds:
        sequence = write_synthetic(work / f"walk{seed}", WorldSpec(seed=seed, frames=frames, people=2), size,
                                   progress=False)
        network = score_walk(sequence, work / f"net{seed}", gt_perception=False)
        truth = score_walk(sequence, work / f"gt{seed}", gt_perception=True)
        walks.append({"seed": seed, "network": network, "ground_truth_perception": truth,
                      "network_misses": _misses(network)})
        print(json.dumps(walks[-1]), flush=True)
    return {"walks": walks, "mean_network": _mean([w["network"] for w in walks]),
            "mean_ground_truth_perception": _mean([w["ground_truth_perception"] for w in walks]),
            "targets_network": {k: {"at_least": lo, "at_most": hi} for k, (lo, hi) in TARGETS.items()},
            "walks_meeting_every_target": sum(not w["network_misses"] for w in walks)}


def _seeds(text: str) -> list[int]:
    first, _, last = text.partition("-")
    return list(range(int(first), int(last or first) + 1))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--size", default="320x240")
    parser.add_argument("--quality", action="store_true", help="score held-out walks instead of timing")
    parser.add_argument("--seeds", type=_seeds, default=_seeds("900-905"), help="walks for --quality, e.g. 900-905")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    if args.quality:
        with tempfile.TemporaryDirectory(prefix="m2h-bench-") as work:
            report("scene_graph_quality", {"frames": args.frames, "size": list(size),
                                           **quality(args.seeds, args.frames, size, Path(work))})
        return
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
