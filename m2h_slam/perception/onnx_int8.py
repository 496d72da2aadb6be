"""An INT8 variant of a cached ONNX export, used only where it is faster at the same accuracy.

Static quantisation with ONNX Runtime (QDQ, per-channel INT8 weights, UINT8 activations) of the matrix products
and convolutions only, calibrated on frames of a synthetic apartment rendered at the model's input size (every op
quantised cost the demo weights 5.6 % AbsRel and 0.057 mIoU on the held-out frames; these ops alone: none); then both models predict held-out synthetic frames
(seed 900, never used for training) and run alternately for the latency. The INT8 model is chosen when its depth
AbsRel is within ``ABS_REL_RATIO`` of FP32's, its mIoU within ``MIOU_DROP`` and its median latency below
``FASTER`` x FP32's. The measurement is kept beside the model (``*-int8.json``), so each (weights, input size) is
built and judged once; the model card reports it for the demo weights.

    path = int8_choice(fp32_path)        # the INT8 file when it passed, else fp32_path
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import warnings
from pathlib import Path

import numpy as np

from m2h_slam.core.atomic import atomic_write, atomic_write_text
from m2h_slam.core.dense_metrics import DepthScores, SemanticScores

log = logging.getLogger("m2h_slam")

ABS_REL_RATIO = 1.02  # INT8 depth AbsRel at most 2 % (relative) above FP32's
MIOU_DROP = 0.01  # INT8 mIoU at most 0.01 below FP32's
FASTER = 0.95  # and at most this share of FP32's median latency
CALIBRATION_SEED, CALIBRATION_FRAMES = 130, 16  # a synthetic apartment outside training (100-115) and tests
HELD_OUT_SEED, HELD_OUT_FRAMES = 900, 24
RECORD_VERSION = 2
QUANTISED_OPS = ("MatMul", "Gemm", "Conv")


def int8_choice(fp32: str | Path) -> Path:
    """The model to run for the FP32 export ``fp32``: its INT8 variant when that passed the check (built and
    judged now if it never was), else ``fp32``."""
    fp32 = Path(fp32)
    int8, record_path = fp32.with_name(fp32.stem + "-int8.onnx"), fp32.with_name(fp32.stem + "-int8.json")
    with _build_lock(fp32.with_name(fp32.stem + "-int8.lock")):
        record = _read(record_path)
        if record is None:
            log.info("%s: building and checking its INT8 variant (once per weights and input size)", fp32.name)
            record = judge(fp32, quantize(fp32, int8))
            atomic_write_text(record_path, json.dumps(record, indent=1) + "\n")
    return int8 if record["chosen"] == "int8" and int8.is_file() else fp32


def _read(path: Path) -> dict | None:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("version") == RECORD_VERSION else None


@contextlib.contextmanager
def _build_lock(path: Path):
    """One builder at a time across processes (test workers, two runs): the others wait, then read its record."""
    try:
        import fcntl
    except ImportError:  # Windows: concurrent builds only waste time (files are written atomically)
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _frames(seed: int, count: int, size: tuple[int, int]):
    """``count`` frames (rgb, depth, semantics) of a synthetic apartment walk rendered at ``size`` (W, H)."""
    from m2h_slam.core.intrinsics import Intrinsics
    from m2h_slam.synthetic import Renderer, WorldSpec, generate_world

    world = generate_world(WorldSpec(seed=seed, frames=10 * count, rooms=3, people=1))
    renderer = Renderer(world, Intrinsics.from_fov(size[0], size[1], 70.0))
    return [renderer.render(10 * k) for k in range(count)]


def quantize(fp32: Path, int8: Path) -> Path:
    """Write the INT8 variant of ``fp32`` to ``int8`` (calibrated on synthetic frames)."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from m2h_slam.perception.predictor import OnnxBackend, Predictor

    predictor = Predictor(OnnxBackend(fp32))
    images = [predictor.preprocess(f.rgb)[None].numpy() for f in _frames(CALIBRATION_SEED, CALIBRATION_FRAMES,
                                                                          predictor.input_size)]

    class Frames(CalibrationDataReader):
        def __init__(self):
            self.left = iter(images)

        def get_next(self):
            image = next(self.left, None)
            return None if image is None else {"image": image}

    def write(tmp: Path) -> None:
        prepared = tmp.with_name(tmp.stem + "-prepared.onnx")
        try:  # constant tensors have a zero range: ONNX Runtime divides by it (and handles the result)
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
                quantize_static(str(prepared), str(tmp), Frames(), quant_format=QuantFormat.QDQ, per_channel=True,
                                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                                op_types_to_quantize=list(QUANTISED_OPS))
        finally:
            prepared.unlink(missing_ok=True)

    return atomic_write(int8, write)


def _accuracy(predictor, frames) -> dict[str, float]:
    """Depth AbsRel (pixels with true depth) and mIoU (over the classes in the truth) on ``frames``."""
    depth, semantics = DepthScores(), SemanticScores()
    for frame in frames:
        p = predictor.predict(frame.rgb)
        depth.add(p.depth_m, frame.depth_m)
        semantics.add(p.semantics, frame.semantics)
    return {"abs_rel": round(float(depth.result()["abs_rel"]), 5),
            "miou": round(semantics.result()["miou_truth_classes"], 5)}


def judge(fp32: Path, int8: Path) -> dict:
    """Accuracy of both models on held-out synthetic frames and their median latency, run alternately; which one
    to use (the record kept beside the model)."""
    from m2h_slam.perception.predictor import OnnxBackend, Predictor

    predictors = {"fp32": Predictor(OnnxBackend(fp32)), "int8": Predictor(OnnxBackend(int8))}
    frames = _frames(HELD_OUT_SEED, HELD_OUT_FRAMES, predictors["fp32"].input_size)
    record: dict = {name: _accuracy(p, frames) for name, p in predictors.items()}
    image = {"image": predictors["fp32"].preprocess(frames[0].rgb)[None].numpy()}
    times: dict[str, list[float]] = {name: [] for name in predictors}
    for _ in range(12):
        for name, p in predictors.items():
            start = time.perf_counter()
            p.backend.session.run(None, image)
            times[name].append(time.perf_counter() - start)
    for name in predictors:
        record[name]["ms"] = round(1000 * float(np.median(times[name][2:])), 2)
    fp, q = record["fp32"], record["int8"]
    checks = {"abs_rel": q["abs_rel"] <= fp["abs_rel"] * ABS_REL_RATIO, "miou": q["miou"] >= fp["miou"] - MIOU_DROP,
              "faster": q["ms"] <= fp["ms"] * FASTER}
    record.update(version=RECORD_VERSION, bounds={"abs_rel_ratio": ABS_REL_RATIO, "miou_drop": MIOU_DROP,
                                                  "latency_ratio": FASTER},
                  checks=checks, chosen="int8" if all(checks.values()) else "fp32",
                  held_out={"seed": HELD_OUT_SEED, "frames": HELD_OUT_FRAMES, "size": list(predictors["fp32"].input_size)})
    log.info("%s: INT8 %s (AbsRel %.4f vs %.4f, mIoU %.3f vs %.3f, %.1f vs %.1f ms)", fp32.name,
             "chosen" if record["chosen"] == "int8" else "not used", q["abs_rel"], fp["abs_rel"], q["miou"],
             fp["miou"], q["ms"], fp["ms"])
    return record
