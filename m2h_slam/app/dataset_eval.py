"""``m2h-slam eval DATASET --out OUT``: the network's dense metrics (and optionally the full mapping) over every
scene of a data set, scenes in parallel on Ray, resumable, with one aggregate table and a report.

    OUT/settings.json                 what was evaluated (a resumed evaluation must match it)
    OUT/scenes/NAME/result.json       one finished scene (written last: resuming skips such scenes)
    OUT/scenes/NAME/dense.npz         its running totals (pixels pooled over scenes in the aggregate)
    OUT/scenes/NAME/*.png, run/       its figures and, with mapping, its run folder
    OUT/metrics.json, OUT/report.md   aggregate, per-scene rows, failures; figures in OUT/figures/

A scene that fails (missing or broken files, no valid ground truth) is listed with its error; the others go on.
With ``workers`` > 1 scenes run in a local Ray instance of that many CPUs; with ``ray_address`` on a Ray cluster
(the data set, OUT and m2h-slam must be reachable from every node).
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from m2h_slam.core.atomic import atomic_write_bytes, atomic_write_text
from m2h_slam.core.config import (
    AT_LEAST_ONE,
    IMAGE_SIDE_PX,
    POSITIVE,
    THREADS,
    Checked,
    Range,
    device_problem,
    load_config,
    ranged,
)
from m2h_slam.core.dense_metrics import FrameScores, score_frames
from m2h_slam.core.errors import InputError
from m2h_slam.dataset_tools.items import DatasetItem, dataset_items, open_item
from m2h_slam.eval.report import depth_error_figure, iou_bars, paper_table, report_markdown
from m2h_slam.sources.sequence import ReadOptions

log = logging.getLogger("m2h_slam")

#: Dense metrics at the data set's own resolution: the working-size cap at the most input.max_image_side_px allows
#: (beyond any data set's images).
NATIVE_SIDE_PX = IMAGE_SIDE_PX.limit


@dataclass(frozen=True)
class EvalSettings(Checked):
    """What a data-set evaluation computes; stored in OUT/settings.json."""

    weights: str | None = None  # None: the shipped demo weights
    gt_perception: bool = False  # ground truth as perception (checks the data and the mapping, not a network)
    mapping: bool = False  # also map each scene and score trajectory, reconstruction and scene graph
    poses: str = "vo"
    correct_scale: bool = False  # Sim(3) trajectory alignment
    split: str | None = None
    stride: int = ranged(1, AT_LEAST_ONE)
    max_frames: int | None = ranged(None, AT_LEAST_ONE)
    median_scaling: bool = False
    # fraction of the image diagonal (a larger one pads the image by as much on every side)
    edge_tolerance: float = ranged(0.0075, Range(0, limit=0.1))
    threshold_m: float = ranged(0.05, POSITIVE)
    device: str = "cpu"
    config: str | None = None  # mapping config file (default: the built-in one)

    def _relations(self) -> list[tuple[str, str]]:
        if self.poses not in ("vo", "gt"):
            return [("poses", f"must be vo or gt, got {self.poses!r}")]
        if device_problem(self.device):
            return [("device", device_problem(self.device))]
        return []


def _config(settings: EvalSettings):
    """The run config of the evaluation: the config file (or the defaults) with the evaluation's network."""
    config = load_config(settings.config)
    perception = dataclasses.replace(config.perception, weights=settings.weights or config.perception.weights,
                                     device=settings.device)
    return dataclasses.replace(config, perception=perception)


def _read_options(settings: EvalSettings) -> ReadOptions:
    return ReadOptions(stride=settings.stride, max_frames=settings.max_frames)


_PERCEPTIONS: dict = {}  # one network per worker process and settings


def _perception(settings: EvalSettings, config, threads: int):
    """Frame -> Prediction, as ``m2h-slam run`` perceives: the network (built once per process) or ground truth."""
    from m2h_slam.perception.perception import Perception

    key = (settings, threads)
    if key not in _PERCEPTIONS:
        perception = dataclasses.replace(config.perception, threads=threads)
        _PERCEPTIONS[key] = Perception(dataclasses.replace(config, perception=perception), settings.gt_perception)
    return _PERCEPTIONS[key]


def score_item(item: DatasetItem, settings: EvalSettings, out: str, threads: int = 1, progress: bool = False) -> dict:
    """Evaluate one item (runs in a worker). Returns {"name", "status": "ok", "frames", "dense", "state", "mapping",
    "warnings", "seconds"} or {"name", "status": "failed", "error"}; never raises for a broken scene."""
    started = time.perf_counter()
    folder = Path(out) / "scenes" / item.name
    try:
        result = _score_item(item, settings, folder, threads, progress)
    except InputError as error:
        return {"name": item.name, "status": "failed", "error": str(error)}
    except Exception as error:  # a scene must not take the others down; the message says what happened
        from m2h_slam.app.crash_report import describe, write_traceback

        where = write_traceback(error, folder / "error.log")  # makes the folder; "no log written" if it cannot
        return {"name": item.name, "status": "failed", "error": f"unexpected {describe(error)}; {where}"}
    result.update({"name": item.name, "status": "ok", "seconds": round(time.perf_counter() - started, 2)})
    return result


def _score_item(item: DatasetItem, settings: EvalSettings, folder: Path, threads: int, progress: bool) -> dict:
    import torch

    torch.set_num_threads(threads)
    config = _config(settings)
    native = dataclasses.replace(config.input, max_image_side_px=NATIVE_SIDE_PX)
    sequence = open_item(item, _read_options(settings), native)
    first, count = item.span or (0, len(sequence))
    perceive = _perception(settings, config, threads)
    no_depth, frames, sample = [], 0, None
    from itertools import islice

    from m2h_slam.core.progress import progress as progress_bar

    def predict(frame):  # and note frames without depth and the sample picture's frame
        nonlocal frames, sample
        prediction = perceive(frame)
        if frame.depth_m is not None and not (frame.depth_m > 0).any():
            no_depth.append(frame.index)
        if frames == count // 2 and frame.depth_m is not None:
            sample = (frame.rgb, prediction.depth_m, frame.depth_m)
        frames += 1
        return prediction

    scores = score_frames(predict, progress_bar(islice(sequence.frames_from(first), count), total=count,
                                                desc=item.name, unit="frame", leave=False, disable=not progress),
                          FrameScores(settings.median_scaling, settings.edge_tolerance))
    if not frames:
        raise InputError(item.path, "no frames to evaluate")
    if len(no_depth) == frames:
        raise InputError(item.path, f"ground-truth depth has no valid pixel in any of its {frames} frame(s) "
                                    "(NaN or 0 everywhere)")
    warnings = [f"{len(no_depth)} frame(s) without valid ground-truth depth (first: frame {no_depth[0]})"] \
        if no_depth else []
    folder.mkdir(parents=True, exist_ok=True)
    if sample is not None:
        depth_error_figure(folder / "depth_error.png", *sample)
    mapping = None
    if settings.mapping and "world_T_camera" not in sequence.ground_truth:
        warnings.append("not mapped: the source has no ground-truth poses to score a trajectory against")
    elif settings.mapping:
        mapping = _map_and_score(item, settings, config, folder)
    return {"frames": frames, "dense": scores.result(), "state": scores.state(), "mapping": mapping,
            "warnings": warnings}


def _map_and_score(item: DatasetItem, settings: EvalSettings, config, folder: Path) -> dict:
    """Map the item's sequence (at the mapping config's working size) and score the run against it."""
    from m2h_slam.app.run_loop import RunOptions, run
    from m2h_slam.eval.run_eval import score_run

    sequence = open_item(item, _read_options(settings), config.input)
    run(sequence, folder / "run", config, RunOptions(poses=settings.poses, gt_perception=settings.gt_perception,
                                                     force=True, progress=False, snapshot_every=0))
    return score_run(folder / "run", sequence, settings.correct_scale, settings.threshold_m, figures=folder)


# -- many scenes -------------------------------------------------------------------------------------------------

def _execute(items: list[DatasetItem], settings: EvalSettings, out: Path, workers: int, ray_address: str | None,
             on_result, progress: bool) -> None:
    """Score ``items`` inline (one worker, no cluster) or as Ray tasks, at most ``workers`` in flight."""
    threads = min(THREADS.limit, max(1, (os.cpu_count() or 1) // workers))
    if workers == 1 and ray_address is None:
        for item in items:
            on_result(score_item(item, settings, str(out), threads, progress))
        return
    try:
        import ray
    except ImportError:
        raise InputError(None, "scenes in parallel (--workers > 1, --ray-address) need Ray; "
                               "pip install 'm2h-slam[eval]'") from None
    if ray_address:
        try:
            ray.init(address=ray_address, log_to_driver=False, logging_level=logging.WARNING)
        except ConnectionError as error:
            raise InputError(None, f"--ray-address {ray_address}: {error}") from None
    else:
        if not settings.gt_perception:  # built (and dropped) once here: the workers find its ONNX export cached
            from m2h_slam.perception.perception import Perception

            Perception(_config(settings), gt=False)
        # "local": a new instance of our own, even where a cluster already runs on this machine
        ray.init(address="local", num_cpus=workers, include_dashboard=False, log_to_driver=False,
                 logging_level=logging.WARNING)
    try:
        task = ray.remote(num_cpus=1, max_retries=0)(score_item)
        queue, running = list(items), []
        while queue or running:
            while queue and len(running) < workers:
                running.append(task.remote(queue.pop(0), settings, str(out), threads))
            done, running = ray.wait(running, num_returns=1)
            on_result(ray.get(done[0]))
    finally:
        ray.shutdown()


def _save_state(path: Path, state: dict[str, np.ndarray]) -> None:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **state)
    atomic_write_bytes(path, buffer.getvalue())


def _load_finished(out: Path, name: str) -> dict | None:
    """A scene finished by an earlier (interrupted) evaluation, with its totals; None if not finished."""
    folder = out / "scenes" / name
    try:
        result = json.loads((folder / "result.json").read_text())
        with np.load(folder / "dense.npz") as archive:
            result["state"] = {key: archive[key] for key in archive.files}
        return result
    except (OSError, ValueError, KeyError):
        return None


def _check_settings(out: Path, settings: EvalSettings, force: bool) -> None:
    path = out / "settings.json"
    wanted = dataclasses.asdict(settings)
    if path.is_file() and not force:
        try:
            previous = json.loads(path.read_text())
        except ValueError:
            previous = None
        if previous != wanted:
            changed = sorted(k for k in wanted if (previous or {}).get(k) != wanted[k])
            raise InputError(path, f"holds an evaluation with other settings ({', '.join(changed)}); "
                                   "pass --force to start it over or another --out")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(wanted, indent=1) + "\n")


def evaluate_dataset(root: str | Path, out: str | Path, settings: EvalSettings = EvalSettings(), workers: int = 1,
                     ray_address: str | None = None, force: bool = False, progress: bool = True) -> dict:
    """Evaluate every item of the data set at ``root`` into ``out``; returns the content of metrics.json."""
    from m2h_slam.core.progress import progress as progress_bar

    root, out = Path(root), Path(out)
    items = dataset_items(root, settings.split, options=_read_options(settings),
                          config=load_config(settings.config).input)
    if force and (out / "scenes").is_dir():
        import shutil

        shutil.rmtree(out / "scenes")
    _check_settings(out, settings, force)
    results = {item.name: _load_finished(out, item.name) for item in items}
    todo = [item for item in items if results[item.name] is None]
    if len(todo) < len(items):
        log.info("resuming: %d of %d scene(s) already evaluated", len(items) - len(todo), len(items))
    bar = progress_bar(total=len(items), initial=len(items) - len(todo), desc="scenes", unit="scene",
                       disable=not progress)

    def finished(result: dict) -> None:
        results[result["name"]] = result
        if result["status"] == "ok":
            folder = out / "scenes" / result["name"]
            _save_state(folder / "dense.npz", result["state"])
            atomic_write_text(folder / "result.json",
                              json.dumps({k: v for k, v in result.items() if k != "state"}, indent=1) + "\n")
        else:
            log.warning("%s failed: %s", result["name"], result["error"])
        bar.update()

    try:
        _execute(todo, settings, out, workers, ray_address, finished, progress and workers == 1)
    finally:
        bar.close()
    metrics = _aggregate(root, items, results, settings)
    figures = _figures(out, metrics)
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=1) + "\n")
    atomic_write_text(out / "report.md", report_markdown(metrics, figures))
    return metrics


def _aggregate(root: Path, items: list[DatasetItem], results: dict, settings: EvalSettings) -> dict:
    ok = {item.name: results[item.name] for item in items if results[item.name]["status"] == "ok"}
    failed = {item.name: results[item.name]["error"] for item in items if results[item.name]["status"] != "ok"}
    pooled = FrameScores(settings.median_scaling, settings.edge_tolerance)
    for result in ok.values():
        pooled.merge(result["state"])
    dense = pooled.result()
    mapped = [r["mapping"] for r in ok.values() if r.get("mapping")]
    mapping = {key: round(float(np.mean([m[key] for m in mapped if key in m])), 4)
               for key in (mapped[0] if mapped else {}) if isinstance(mapped[0][key], (int, float))}
    metrics = {
        "m2h_slam_eval": 1, "dataset": str(root), "format": items[0].format, "split": settings.split,
        "perception": "ground truth" if settings.gt_perception else (settings.weights or "demo weights"),
        "settings": dataclasses.asdict(settings),
        "aggregate": {"scenes_ok": len(ok), "scenes_failed": len(failed),
                      "frames": int(sum(r["frames"] for r in ok.values())), "dense": dense, "mapping": mapping},
        "scenes": {name: {k: r[k] for k in ("frames", "dense", "mapping", "warnings", "seconds")}
                   for name, r in ok.items()},
        "failed": failed,
    }
    if items[0].format == "nyudmt":
        metrics["paper_table"] = paper_table(dense)
    return metrics


def _figures(out: Path, metrics: dict) -> dict[str, str]:
    """The report's figures: IoU bars of the pooled semantics, then each scene's figures (relative paths)."""
    figures = {}
    semantics = metrics["aggregate"]["dense"].get("semantics")
    if semantics and semantics["iou_per_class"]:
        iou_bars(out / "figures" / "iou_per_class.png", {int(k): v for k, v in semantics["iou_per_class"].items()})
        figures["IoU per class"] = "figures/iou_per_class.png"
    for name in metrics["scenes"]:
        for file, title in (("depth_error.png", "depth error"), ("trajectory.png", "trajectory"),
                            ("topdown.png", "top-down map")):
            if (out / "scenes" / name / file).is_file():
                figures[f"{name}: {title}"] = f"scenes/{name}/{file}"
    return figures
