"""`m2h-slam run` end to end on the demo apartment (seed 0, 150 frames, 320x240, demo weights), the network paths
side by side, run alternately so that the machine's drift hits all of them alike:

- ``old_default``: the default of 2026-12-06: ONNX Runtime FP32 with standard operators, the network's forwards of
  then (``model.reference``), denormals not flushed, and that day's post-processing (all class probabilities
  resized to the image);
- ``default``: today's (fused attention kernels, the fastest variant that passed its check, denormals flushed);
- ``one_thread``: the default with one network thread;
- ``torch``: ``--runtime torch`` today;
- ``old_torch``: ``--runtime torch`` as on 2026-12-06 (the forwards, denormals and post-processing of then).

Before them the network alone (the old default's export, today's export and the variant the default runs, in turn)
and a whole prediction of a frame, old default against default.

    .venv/bin/python benchmarks/end_to_end.py [--rounds 2] [--frames 150]

Prints frames/s of every run, the medians, the ratios (the claim: default over old default and over the torch path
of the same day), ATE and mesh F1 of each path (unchanged within run-to-run spread is the requirement), how busy the
cores were (run.json ``cores_busy``), the network's latency ratio and that of a whole prediction.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from common import report

import m2h_slam.perception.predictor as predictor_module
from m2h_slam.app.run_loop import RunOptions, run
from m2h_slam.core.config import Config
from m2h_slam.eval.run_eval import evaluate_run
from m2h_slam.perception.model.reference import reference_forwards
from m2h_slam.perception.model.weights import load_weights
from m2h_slam.perception.onnx_cache import cached_onnx
from m2h_slam.perception.onnx_export import export_onnx
from m2h_slam.perception.onnx_variants import fastest_variant
from m2h_slam.perception.perception import demo_weights
from m2h_slam.perception.predictor import OnnxBackend, Predictor
from m2h_slam.sources import open_sequence
from m2h_slam.synthetic import WorldSpec, write_synthetic

PATHS = {"old_default": {"variants": False}, "default": {}, "one_thread": {"threads": 1}, "torch": {"runtime": "torch"},
         "old_torch": {"runtime": "torch"}}
OLD = ("old_default", "old_torch")  # the paths as they ran on 2026-12-06


def old_classes(logits, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The class step of 2026-12-06 (the old default's post-processing): every class probability resized to the
    image with OpenCV, then the argmax and its probability (in place of ``Predictor._classes``)."""
    probabilities = np.ascontiguousarray(logits.softmax(dim=0).numpy().transpose(1, 2, 0))
    probabilities = cv2.resize(probabilities, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    semantics = probabilities.argmax(axis=-1)
    return semantics, np.take_along_axis(probabilities, semantics[..., None], axis=-1)[..., 0]


TODAYS_CLASSES = Predictor.__dict__["_classes"]  # the staticmethod itself, to put back


@contextlib.contextmanager
def as_of(name: str):
    """While inside, the network and its post-processing run as path ``name`` had them: for the ``OLD`` paths the
    reference forwards, no flushing of denormals and the old class step; today's otherwise."""
    if name not in OLD:
        yield
        return
    Predictor._classes = staticmethod(old_classes)
    predictor_module.FLUSH_DENORMALS = False
    try:
        with reference_forwards():
            yield
    finally:
        Predictor._classes = TODAYS_CLASSES
        predictor_module.FLUSH_DENORMALS = True


def network_latency(models: dict[str, Path], rounds: int = 40, warm_up: int = 3) -> dict[str, float]:
    """Median ms per frame of each ONNX model alone (the default threads), the models run in turn, each with the
    denormal handling of its path (``as_of``)."""
    backends = {}
    for name, path in models.items():
        with as_of(name):
            backends[name] = OnnxBackend(path)
    sessions = {name: backend.session for name, backend in backends.items()}
    width, height = next(iter(backends.values())).input_size
    image = {"image": np.random.default_rng(0).standard_normal((1, 3, height, width)).astype(np.float32)}
    times: dict[str, list[float]] = {name: [] for name in sessions}
    for _ in range(rounds):
        for name, session in sessions.items():
            with as_of(name), predictor_module.denormals_flushed():
                start = time.perf_counter()
                session.run(None, image)
                times[name].append(1000 * (time.perf_counter() - start))
    return {name: round(float(np.median(t[warm_up:])), 2) for name, t in times.items()}


def prediction_latency(old: Path, new: Path, rgb: np.ndarray, rounds: int = 30) -> dict[str, float]:
    """Median ms of a whole prediction of ``rgb`` (resize, network, post-processing to the image size): the old
    default's (``old``, as of 2026-12-06) and today's (``new``), in turn."""
    with as_of("old_default"):
        predictors = {"old_default": Predictor(OnnxBackend(old))}
    predictors["default"] = Predictor(OnnxBackend(new))
    times: dict[str, list[float]] = {name: [] for name in predictors}
    for _ in range(rounds):
        for name, predictor in predictors.items():
            with as_of(name):
                start = time.perf_counter()
                predictor.predict(rgb)
                times[name].append(1000 * (time.perf_counter() - start))
    result = {name: round(float(np.median(t[3:])), 2) for name, t in times.items()}
    return {**result, "ratio_default_over_old_default": round(result["default"] / result["old_default"], 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--frames", type=int, default=150)
    args = parser.parse_args()
    config = Config()
    model = load_weights(demo_weights())
    size = tuple(model.config.input_size)
    fp32 = cached_onnx(demo_weights(), size, model)
    chosen = fastest_variant(fp32, model)  # built and judged before any timing
    judged = fp32.with_name(fp32.stem + "-variants.json")
    runs: dict[str, list[dict]] = {name: [] for name in PATHS}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        with reference_forwards():
            standard = export_onnx(model, tmp / "standard_ops.onnx", size[1], size[0], fused_attention=False)
        latency = network_latency({"old_default": standard, "export": fp32, "default": chosen})
        paths = {**PATHS, "old_default": {**PATHS["old_default"], "weights": str(standard)}}
        sequence = write_synthetic(tmp / "apartment", WorldSpec(seed=0, frames=args.frames), size=(320, 240),
                                   progress=False)
        whole = prediction_latency(standard, chosen, next(iter(open_sequence(sequence))).rgb)
        for round_ in range(args.rounds):
            for name, change in paths.items():
                out = tmp / f"{name}{round_}"
                configured = dataclasses.replace(config, perception=dataclasses.replace(config.perception, **change))
                with as_of(name):
                    record = run(open_sequence(sequence), out, configured,
                                 RunOptions(progress=False, snapshot_every=0))
                scores = evaluate_run(out, sequence, correct_scale=True)
                runs[name].append({"frames_per_s": record["frames_per_s"], "cores_busy":
                                   record["cores_busy"]["busy_share"], "predict_ms": record["timings"]["predict"]
                                   ["median_ms"], "ate_percent_of_path": scores["ate_percent_of_path"],
                                   "mesh_f1@0.05m": scores["mesh_f1@0.05m"]})
    median = {name: float(np.median([r["frames_per_s"] for r in rs])) for name, rs in runs.items()}
    latency["ratio_default_over_old_default"] = round(latency["default"] / latency["old_default"], 3)
    report("end_to_end", {
        "runs": runs, "median_frames_per_s": median,
        "ratio_default_over_old_default": round(median["default"] / median["old_default"], 3),
        "ratio_default_over_old_torch": round(median["default"] / median["old_torch"], 3),
        "ratio_default_over_torch": round(median["default"] / median["torch"], 3),
        "ratio_one_thread_over_default": round(median["one_thread"] / median["default"], 3),
        "network_latency_ms": latency,
        "prediction_latency_ms": whole,
        "targets": {"default_over_old_default": 1.8, "default_over_old_torch": 2.5, "network_latency_ratio": 0.5},
        "variants_check": json.loads(judged.read_text()) if judged.is_file() else None})


if __name__ == "__main__":
    main()
