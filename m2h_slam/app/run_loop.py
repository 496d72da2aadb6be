"""``m2h-slam run``: frames -> perception -> SceneMapper (mapping, scene graph) -> outputs, with snapshots and resume.

    OUT/mesh.ply          fused mesh, semantic colours, per-vertex NYU40 label
    OUT/mesh_rgb.ply      the same mesh with fused RGB colours
    OUT/trajectory.txt    TUM trajectory (world_T_camera), readable by `evo_ape tum`
    OUT/run.json          config, versions, input, per-stage timings, counts, tracking events
    OUT/preview.png       a few frames: RGB, depth, semantics
    OUT/scene_graph.json  rooms, places, objects, agents (docs/scene-graph.schema.json); scene_graph_dsg.json:
                          the same through spark_dsg; scene_graph.png: the graph and map from above
    OUT/predictions/      per-frame predictions as an m2h sequence (with --save-predictions)
    OUT/.snapshot/        mapper state every `snapshot_every` frames and at the end, for --resume
    OUT/error.log         the traceback of an unexpected error (the run's one-line message names it)
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from m2h_slam import __version__
from m2h_slam.app import snapshot
from m2h_slam.app.run_outputs import write_outputs
from m2h_slam.core.atomic import atomic_write_text
from m2h_slam.core.config import Config, config_to_dict
from m2h_slam.core.errors import InputError, RunError
from m2h_slam.core.interrupts import Interrupts
from m2h_slam.core.records import Frame, Prediction
from m2h_slam.formats.trajectory_io import read_tum_trajectory
from m2h_slam.perception.perception import Perception, note_demo_weights
from m2h_slam.sources.sequence import Sequence

log = logging.getLogger("m2h_slam")


@dataclass(frozen=True)
class RunOptions:
    """How a run gets its poses and perception, and what it writes."""

    poses: str = "vo"  # "vo", "gt" or a TUM file
    gt_perception: bool = False
    resume: bool = False
    force: bool = False  # clear a previous run's outputs (only the files a run writes)
    save_predictions: bool = False
    snapshot_every: int = 100
    progress: bool = True
    rerun: bool | str = False  # True: spawn a rerun viewer; a path: record to that .rrd file


class _Poses:
    """Given poses (--poses gt or a TUM file) or None for odometry; ``source``: the sequence, named in messages."""

    def __init__(self, mode: str, max_time_diff_s: float, source: Path | None = None):
        self.mode, self.max_dt, self.source = mode, max_time_diff_s, source
        self.stamps = self.table = None
        if mode not in ("vo", "gt"):
            self.stamps, self.table = read_tum_trajectory(Path(mode))

    def __call__(self, frame: Frame) -> np.ndarray | None:
        if self.mode == "vo":
            return None
        if self.mode == "gt":
            if frame.world_T_camera is None:
                raise InputError(self.source, f"--poses gt needs ground-truth poses (frame {frame.index} has none)")
            return frame.world_T_camera
        k = int(np.argmin(np.abs(self.stamps - frame.timestamp_s)))
        if abs(self.stamps[k] - frame.timestamp_s) > self.max_dt:
            raise InputError(Path(self.mode), f"no pose within {self.max_dt} s of frame {frame.index} (t={frame.timestamp_s:.3f} s)")
        return self.table[k]


def _odometry_device(torch_device: str) -> str:
    """Open3D device for odometry: CUDA when the network runs on CUDA and Open3D was built with it."""
    from m2h_slam.core.o3d import open3d

    if torch_device.startswith("cuda") and open3d().core.cuda.is_available():
        return "CUDA:0"
    return "CPU:0"


def _versions() -> dict[str, str]:
    """Versions of what the run used; torch's from its metadata (a run with --gt-perception never imports it)."""
    from importlib import metadata

    import cv2

    from m2h_slam.core.o3d import open3d

    versions = {"m2h_slam": __version__, "python": platform.python_version(), "numpy": np.__version__,
                "open3d": open3d().__version__, "opencv": cv2.__version__}
    try:
        versions["torch"] = metadata.version("torch")
    except metadata.PackageNotFoundError:
        pass
    return versions


def _scale_record(scales: np.ndarray) -> dict:
    """run.json's record of the per-frame depth scales (null: the frame was not aligned to the map)."""
    aligned = scales[np.isfinite(scales)]
    spread = {} if not len(aligned) else {
        "median": round(float(np.median(aligned)), 4), "p10": round(float(np.percentile(aligned, 10)), 4),
        "p90": round(float(np.percentile(aligned, 90)), 4)}
    return {"aligned_frames": int(len(aligned)), **spread,
            "per_frame": [None if not np.isfinite(s) else round(float(s), 4) for s in scales]}


def _stage_summary(timings: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    return {stage: {"mean_ms": round(float(np.mean(v)), 2), "median_ms": round(float(np.median(v)), 2),
                    "total_s": round(float(np.sum(v)) / 1000, 2)} for stage, v in timings.items() if v}


def run(sequence: Sequence, out: str | Path, config: Config, options: RunOptions = RunOptions()) -> dict:
    """Map ``sequence`` into ``out``; returns the run record (also written as run.json).

    Interrupted (Ctrl-C, SIGTERM) or failed runs save a snapshot first; ``resume=True``
    continues from it. An unexpected error ends in ``RunError`` with the traceback in
    ``OUT/error.log``.
    """
    from pipeline.scene_mapper import SceneMapper

    out = Path(out)
    snapshot.prepare_output(out, options.resume, options.force, _inputs(sequence, options))
    perception = Perception(config, options.gt_perception, source=sequence.path)
    note_demo_weights(perception.weights, sequence.synthetic)
    poses = _Poses(options.poses, config.input.tum_max_time_diff_s, sequence.path)
    scene = SceneMapper(config, sequence.intrinsics, device=_odometry_device(config.perception.device),
                        predicted_depth=not options.gt_perception)
    mapper, builder = scene.mapper, scene.builder
    binding = snapshot.input_binding(sequence, config, options.poses, perception.weights)
    timings: dict[str, list[float]] = {"predict": []}
    resumed = False
    if options.resume:
        previous = snapshot.load_snapshot(out, scene, binding)
        if previous is None:
            log.warning("%s: no complete snapshot (stopped before or while the first one was saved); starting from "
                        "the first frame", out)
        else:
            timings, resumed = {k: list(v) for k, v in previous.items()}, True
            log.info("resuming after frame %d of %d", mapper.frames_done, len(sequence))
    done = mapper.frames_done
    loop = _FrameLoop(sequence, out, scene, perception, poses, options, timings, binding)
    cpu_start = time.process_time()
    # the network's perception needs no ground-truth images: decoding them cost ~8 ms per frame
    with contextlib.nullcontext() if options.gt_perception else sequence.without_ground_truth_images():
        wall_s = loop.run(done)
    cpu_s = time.process_time() - cpu_start
    if mapper.frames_done == 0:
        raise InputError(Path(str(sequence.path)), "no frames to map")
    if mapper.frames_done > done:  # the finished map survives a failed export (disk full)
        snapshot.save_snapshot(out, scene, timings, binding)
    t0 = time.perf_counter()
    mapped = mapper.finish()
    result = scene.result(mapped, *builder.build(mapper.view()))
    if loop.viewer is not None:
        if result.graph is not None:
            loop.viewer.graph(result.graph.to_json(), result.map_T_world)
        loop.viewer.finish(mapped)
    record = write_outputs(out, result, loop.previews)
    record["scene_graph"] = result.graph_status
    if result.graph is None:
        log.warning("no scene graph: %s", result.graph_status["state"])
    elif not result.graph_status["gravity_aligned"]:
        log.warning("no floor seen: the scene graph holds objects and agents in the first camera's frame, "
                    "not gravity-aligned, without rooms or places")
    _report_revisits(mapped.revisits, config.odometry.loop_rebuild_min_m)
    if result.health.verdict != "ok":
        log.warning("perception %s: the outputs cannot be trusted as they are", result.health.summary())
    if not len(result.mesh.vertices):
        log.warning("the map is empty: no frame had enough valid depth to fuse (%d of %d frames without depth); "
                    "outputs are written but hold no surface", result.counts.no_depth, result.counts.frames)
    timings["export"] = [1000 * (time.perf_counter() - t0)]
    if loop.writer is not None:
        loop.writer.close()
    frames_run = mapper.frames_done - done
    record.update({
        "m2h_slam_run": 1,
        "input": {"path": str(sequence.path), "format": sequence.format,
                  "frames": len(sequence) if sequence.length_known else mapper.frames_done,
                  "size": list(sequence.intrinsics.size), "intrinsics": sequence.intrinsics.to_dict(),
                  "intrinsics_source": sequence.intrinsics_source,
                  "fingerprint": binding["input.fingerprint"], "read": snapshot.read_record(sequence),
                  "frames_skipped_by_reader": int(getattr(sequence, "frames_corrupt", 0))},
        "perception": "ground truth" if options.gt_perception else str(perception.weights),
        "network": perception.network,
        "poses": options.poses,
        "config": config_to_dict(config),
        "odometry": {name: getattr(mapper.odometry.config, name) for name in ("method", "depth_outlier_m")},
        "versions": _versions(),
        "timings": _stage_summary(timings),
        "frames_per_s": round(frames_run / wall_s, 2) if wall_s > 0 and frames_run else None,
        "cores_busy": _cores_busy(cpu_s, wall_s),
        "counts": result.counts.to_dict(),
        "depth_scale": _scale_record(mapped.depth_scales),
        "revisits": mapped.revisits,
        "loop_closure": _loop_record(mapped),
        "health": result.health.to_dict(),
        "tracking_events": result.events,
        "resumed": resumed,
    })
    atomic_write_text(out / "run.json", json.dumps(record, indent=1) + "\n")
    snapshot.finish_snapshot(out)  # the run is complete
    return record


def _cores_busy(cpu_s: float, wall_s: float) -> dict:
    """run.json's record of how busy the cores were while frames were mapped: CPU seconds of all the run's threads
    over wall seconds times the cores it may use (1.0: no core ever idle)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    share = cpu_s / (wall_s * cores) if wall_s > 0 else None
    return {"cores": cores, "cpu_s": round(cpu_s, 2), "wall_s": round(wall_s, 2),
            "busy_share": None if share is None else round(share, 3)}


def _report_revisits(revisits: list[dict], noticeable_m: float) -> None:
    """One line on the places the camera came back to: the loops closed and refused, and a warning when drift above
    ``noticeable_m`` was found and left uncorrected (loop closure off, or poses given)."""
    if not revisits:
        return
    closed = [r for r in revisits if r["corrected"]]
    refused = [r for r in revisits if "refused" in r]
    left = [r for r in revisits if not r["corrected"] and "refused" not in r and r["drift_m"] > noticeable_m]
    if left:
        worst = max(left, key=lambda r: r["drift_m"])
        log.warning("the camera came back to %d place(s) it saw before and %d show drift that was not corrected "
                    "(largest %.2f m, frames %d and %d): parts of the map may be shifted by that much",
                    len(revisits), len(left), worst["drift_m"], *worst["frames"])
        return
    largest = max((r["moved_m"] for r in closed), default=0.0)
    log.info("the camera came back to %d place(s) it saw before: %d loop(s) closed (largest correction %.2f m), %d "
             "refused (no dense alignment, or disagreeing with the walk)", len(revisits), len(closed), largest,
             len(refused))


def _loop_record(mapped) -> dict:
    """run.json's summary of the loop closures (the revisits list holds each one)."""
    return {"revisits": len(mapped.revisits), "closed": sum(r["corrected"] for r in mapped.revisits),
            "largest_move_m": max((r.get("moved_m", 0.0) for r in mapped.revisits), default=0.0),
            "rebuilds": len(mapped.rebuilds_s), "rebuild_s": round(float(sum(mapped.rebuilds_s)), 3)}


def _inputs(sequence: Sequence, options: RunOptions) -> tuple[Path, ...]:
    """Files and folders a run reads, which its output must not touch."""
    given = [options.poses] if options.poses not in ("vo", "gt") else []
    return (sequence.path, *map(Path, given))


def predicted(frames, perceive, ahead: bool):
    """(frame, prediction, predict_ms) in order. ``ahead``: the next frame's prediction runs in a worker thread
    while the caller maps the current one (ONNX Runtime releases the GIL and, without spinning threads, leaves the
    cores to the mapper between runs: 11.3 -> 15.3 frames/s at 320x240; PyTorch's thread pool fights the mapper
    for the cores instead, so it runs in turn)."""

    def timed(frame: Frame) -> tuple[Prediction, float]:
        start = time.perf_counter()
        return perceive(frame), 1000 * (time.perf_counter() - start)

    if not ahead:
        for frame in frames:
            yield (frame, *timed(frame))
        return
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(1, thread_name_prefix="m2h-predict")
    try:
        pending = None
        for frame in frames:
            future = pool.submit(timed, frame)
            if pending is not None:
                yield (pending[0], *pending[1].result())
            pending = (frame, future)
        if pending is not None:
            yield (pending[0], *pending[1].result())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class _FrameLoop:
    """The per-frame loop of a run: perception, mapper step, optional writers, snapshots, progress."""

    def __init__(self, sequence: Sequence, out: Path, scene, perception: Perception, poses: _Poses,
                 options: RunOptions, timings: dict[str, list[float]], binding: dict):
        self.sequence, self.out, self.scene = sequence, out, scene
        self.mapper, self.builder = scene.mapper, scene.builder
        self.perception, self.poses = perception, poses
        self.options, self.timings, self.binding = options, timings, binding
        self.writer = _prediction_writer(out, sequence, options, self.mapper.config.fusion.edge_threshold) \
            if options.save_predictions else None
        self.viewer = _rerun_viewer(options)
        self.previews: list[tuple[np.ndarray, Prediction]] = []

    def run(self, done: int) -> float:
        """Map the frames after the first ``done``; wall time in s. Saves a snapshot when stopped."""
        from tqdm.contrib.logging import logging_redirect_tqdm

        from m2h_slam.core.progress import progress

        total = len(self.sequence) if self.sequence.length_known else None  # None: a video that gives no count
        picks = set(np.linspace(0, total - 1, min(4, total)).round().astype(int).tolist()) if total else {0, 30, 300}
        bar = progress(total=total, initial=done, unit="frame", desc="mapping", disable=not self.options.progress)
        start_wall = time.perf_counter()
        consistent = True  # False while a frame is half-way through the mapper
        with logging_redirect_tqdm(loggers=[log]), Interrupts() as interrupts:  # warnings above the bar
            try:
                frames = predicted(self.sequence.frames_from(done), self.perception, self.perception.overlaps)
                for position, (frame, prediction, predict_ms) in enumerate(frames, start=done):
                    with interrupts.critical():
                        consistent = False
                        result = self.scene.step(frame, prediction, self.poses(frame))
                        consistent = True
                    self._record(frame, prediction, result, predict_ms, position in picks)
                    elapsed = time.perf_counter() - start_wall
                    bar.set_postfix(fps=f"{(position + 1 - done) / max(elapsed, 1e-9):.1f}", tracking=result.tracking)
                    bar.update(1)
                    every = self.options.snapshot_every
                    if every and self.mapper.frames_done % every == 0 and self.mapper.frames_done != total:
                        with interrupts.critical():
                            snapshot.save_snapshot(self.out, self.scene, self.timings, self.binding)
            except KeyboardInterrupt:
                bar.close()
                if self.mapper.frames_done > done:
                    snapshot.save_snapshot(self.out, self.scene, self.timings, self.binding)
                log.warning("interrupted after frame %d; continue with --resume", self.mapper.frames_done)
                raise
            except (InputError, OSError):  # a bad frame, a full disk: keep what was mapped, report the path
                bar.close()
                self._save_if(consistent, done)
                raise
            except Exception as error:
                bar.close()
                raise self._failed(error, consistent, done) from error
        bar.close()
        return time.perf_counter() - start_wall

    def _record(self, frame: Frame, prediction: Prediction, result, predict_ms: float, preview: bool) -> None:
        self.timings["predict"].append(predict_ms)
        for stage, ms in result.timings_ms.items():
            self.timings.setdefault(stage, []).append(ms)
        if self.writer is not None:
            self.writer(frame, prediction, result.world_T_camera)
        if self.viewer is not None:
            self.viewer(frame, prediction, result)
            if result.revisit is not None:
                self.viewer.revisit(result.revisit, self.mapper.poses)
            if self.mapper.frames_done % self.builder.config.graph.update_every_frames == 0:
                graph, _ = self.scene.graph()  # rooms and places less often
                if graph is not None:
                    self.viewer.graph(graph.to_json(), self.builder.last_map_T_world)
        if preview:
            self.previews.append((frame.rgb, prediction))

    def _save_if(self, consistent: bool, done: int) -> bool:
        """Snapshot the mapper if its state is whole and holds new frames; True if saved."""
        if not consistent or self.mapper.frames_done <= done:
            return False
        try:
            snapshot.save_snapshot(self.out, self.scene, self.timings, self.binding)
            return True
        except OSError as error:
            log.warning("could not save a snapshot (%s)", error)
            return False

    def _failed(self, error: Exception, consistent: bool, done: int) -> RunError:
        """Snapshot, write the traceback to OUT/error.log, and describe the failure in one line."""
        from m2h_slam.app.crash_report import describe, write_traceback

        saved = self._save_if(consistent, done)
        where = write_traceback(error, self.out / snapshot.ERROR_LOG)
        kept = "snapshot saved, continue with --resume" if saved else "no new snapshot"
        return RunError(f"unexpected error after frame {self.mapper.frames_done} ({describe(error)}); {kept}; {where}")


class _PredictionWriter:
    """Writes the predictions as a sequence folder; edges are those above ``edge_threshold`` (as fusion's)."""

    def __init__(self, out: Path, sequence: Sequence, edge_threshold: float):
        from m2h_slam.sources.sequence_folder import SequenceWriter

        self.edge_threshold = edge_threshold
        self.writer = SequenceWriter(out / "predictions", sequence.intrinsics, fps=sequence.fps, name="predictions",
                                     source={"generator": "m2h-slam run --save-predictions"})

    def __call__(self, frame: Frame, prediction: Prediction, pose: np.ndarray) -> None:
        edges = (prediction.edges > self.edge_threshold).astype(np.uint8)
        self.writer.write(frame.replace(depth_m=prediction.depth_m, semantics=prediction.semantics,
                                        normals=prediction.normals, instances=None, rooms=None, edges=edges,
                                        world_T_camera=pose))

    def close(self) -> None:
        self.writer.close()


def _prediction_writer(out: Path, sequence: Sequence, options: RunOptions, edge_threshold: float):
    if options.resume:
        log.warning("--save-predictions with --resume keeps only the frames after the snapshot")
    return _PredictionWriter(out, sequence, edge_threshold)


def _rerun_viewer(options: RunOptions):
    if not options.rerun:
        return None
    from m2h_slam.viz.rerun_view import RerunViewer

    return RerunViewer(None if options.rerun is True else Path(options.rerun))
