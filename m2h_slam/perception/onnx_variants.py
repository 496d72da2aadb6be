"""Faster variants of a cached ONNX export, each used only where it is faster at the same accuracy.

Three variants of the export of a model at an input size:

- ``int8``: static quantisation with ONNX Runtime (QDQ, per-channel INT8 weights, UINT8 activations) of the matrix
  products and convolutions only, calibrated on frames of a synthetic apartment rendered at the model's input size
  (every op quantised cost the demo weights 5.6 % AbsRel and 0.057 mIoU on the held-out frames; these ops alone:
  none);
- ``windows``: the same weights with the cross-task attention in ``SHORT_WINDOW`` windows (4 x 8 cells of the
  attention map instead of the 7 x 7 the networks are trained with): half the attention scores, and no padded tokens
  where the map divides into them (24 x 32 at the demo weights' 224 x 168 input);
- ``windows_native``: ``windows`` with its outputs at the heads' resolution (``M2H.resize_outputs`` off: 96 x 128 at
  224 x 168), which the predictor resizes to the image once instead of the network resizing them to its input first
  (41 class maps among them) and the predictor again.

Each variant and the export itself predict held-out synthetic frames (seed 900, never used for training) and run
alternately for the latency. A variant passes when its depth AbsRel is within ``ABS_REL_RATIO`` of the export's, its
mIoU within ``MIOU_DROP`` and its median latency below ``FASTER`` x the export's; the fastest that passes is used.
The measurement is kept beside the model (``*-variants.json``), so each (weights, input size) is built and judged
once; the model card reports it for the demo weights.

    path = fastest_variant(exported, model)   # the passing variant's file, else ``exported``
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import time
import warnings
from pathlib import Path

import numpy as np

from m2h_slam.core.atomic import atomic_write, atomic_write_text
from m2h_slam.core.dense_metrics import DepthScores, SemanticScores

log = logging.getLogger("m2h_slam")

ABS_REL_RATIO = 1.02  # a variant's depth AbsRel at most 2 % (relative) above the export's
MIOU_DROP = 0.01  # its mIoU at most 0.01 below
FASTER = 0.95  # and at most this share of the export's median latency
CALIBRATION_SEED, CALIBRATION_FRAMES = 130, 16  # a synthetic apartment outside training (100-115) and tests
HELD_OUT_SEED, HELD_OUT_FRAMES = 900, 24
RECORD_VERSION = 5  # 3: the windows variant beside INT8; 4: windows_native; 5: latencies with denormals flushed
QUANTISED_OPS = ("MatMul", "Gemm", "Conv")
SHORT_WINDOW = (4, 8)  # (rows, cols) of the attention windows of the ``windows`` variant
VARIANTS = ("int8", "windows", "windows_native")


def fastest_variant(exported: str | Path, model) -> Path:
    """The model file to run for ``exported`` (the ONNX export of ``model``, an ``M2H``): its fastest variant that
    passed the check (built and judged now if they never were), else ``exported``."""
    exported = Path(exported)
    files = variant_files(exported)
    with _build_lock(exported.with_name(exported.stem + "-variants.lock")):
        record_path = exported.with_name(exported.stem + "-variants.json")
        record = _read(record_path)
        if record is None:
            log.info("%s: building and checking its faster variants (once per weights and input size)",
                     exported.name)
            quantize(exported, files["int8"])
            export_short_windows(model, exported, files["windows"])
            export_short_windows(model, exported, files["windows_native"], native_outputs=True)
            record = judge(exported, files)
            atomic_write_text(record_path, json.dumps(record, indent=1) + "\n")
    chosen = record["chosen"]
    return files[chosen] if chosen in files and files[chosen].is_file() else exported


def variant_files(exported: Path) -> dict[str, Path]:
    """Where each variant of ``exported`` is kept (beside it)."""
    return {name: exported.with_name(f"{exported.stem}-{name}.onnx") for name in VARIANTS}


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


def export_short_windows(model, exported: Path, path: Path, native_outputs: bool = False) -> Path:
    """Write the export of ``model`` (at ``exported``'s input size) with its cross-task attention in
    ``SHORT_WINDOW`` windows, and with ``native_outputs`` its outputs at the heads' resolution; ``model`` is not
    changed."""
    from m2h_slam.perception.model.attention import CrossTaskAttentionLayer
    from m2h_slam.perception.onnx_export import export_onnx
    from m2h_slam.perception.predictor import OnnxBackend

    width, height = OnnxBackend(exported).input_size
    short = copy.deepcopy(model)
    for layer in short.modules():
        if isinstance(layer, CrossTaskAttentionLayer) and layer.window is not None:
            layer.window = SHORT_WINDOW
    short.resize_outputs = not native_outputs
    return export_onnx(short, path, height, width)


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


def alternating_latency_ms(sessions: dict, image: dict, rounds: int, warm_up: int) -> dict[str, float]:
    """Median ms per run of each ONNX Runtime session on ``image`` (its input feed), the sessions run in turn
    ``rounds`` times so that the machine's drift hits all alike; the first ``warm_up`` rounds are not counted. The
    calling thread flushes denormals as the backends do (``denormals_flushed``)."""
    from m2h_slam.perception.predictor import denormals_flushed

    times: dict[str, list[float]] = {name: [] for name in sessions}
    with denormals_flushed():
        for _ in range(rounds):
            for name, session in sessions.items():
                start = time.perf_counter()
                session.run(None, image)
                times[name].append(time.perf_counter() - start)
    return {name: round(1000 * float(np.median(t[warm_up:])), 2) for name, t in times.items()}


def judge(exported: Path, files: dict[str, Path]) -> dict:
    """Accuracy of the export and each variant on held-out synthetic frames and their median latency, run
    alternately; which one to use (the record kept beside the export)."""
    from m2h_slam.perception.predictor import OnnxBackend, Predictor

    predictors = {"export": Predictor(OnnxBackend(exported))}
    predictors.update((name, Predictor(OnnxBackend(path))) for name, path in files.items())
    frames = _frames(HELD_OUT_SEED, HELD_OUT_FRAMES, predictors["export"].input_size)
    record: dict = {name: _accuracy(p, frames) for name, p in predictors.items()}
    image = {"image": predictors["export"].preprocess(frames[0].rgb)[None].numpy()}
    latency = alternating_latency_ms({name: p.backend.session for name, p in predictors.items()}, image, rounds=12,
                                     warm_up=2)
    for name in predictors:
        record[name]["ms"] = latency[name]
    base = record["export"]
    checks = {name: {"abs_rel": record[name]["abs_rel"] <= base["abs_rel"] * ABS_REL_RATIO,
                     "miou": record[name]["miou"] >= base["miou"] - MIOU_DROP,
                     "faster": record[name]["ms"] <= base["ms"] * FASTER} for name in files}
    passed = [name for name in files if all(checks[name].values())]
    chosen = min(passed, key=lambda name: record[name]["ms"]) if passed else "export"
    record.update(version=RECORD_VERSION, bounds={"abs_rel_ratio": ABS_REL_RATIO, "miou_drop": MIOU_DROP,
                                                  "latency_ratio": FASTER},
                  checks=checks, chosen=chosen, short_window=list(SHORT_WINDOW),
                  held_out={"seed": HELD_OUT_SEED, "frames": HELD_OUT_FRAMES,
                            "size": list(predictors["export"].input_size)})
    log.info("%s: %s (%s)", exported.name,
             "runs the export as is" if chosen == "export" else f"runs its {chosen} variant",
             "; ".join(f"{name}: AbsRel {r['abs_rel']:.4f}, mIoU {r['miou']:.3f}, {r['ms']:.1f} ms"
                       for name, r in record.items() if name in predictors))
    return record
