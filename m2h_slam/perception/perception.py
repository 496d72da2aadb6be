"""The one ``Perception`` of a run: the network's predictions, or the frame's own ground truth.

The shipped demo weights lie beside this module (``weights/``); ``demo_weights()`` finds them.
"""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path

from m2h_slam.core.config import Config
from m2h_slam.core.errors import InputError
from m2h_slam.core.records import Frame, Prediction

DEMO_WEIGHTS = "m2h_tiny_synthetic.safetensors"
# What the model card measured on a real photo; the run's perception health says how a given video fares.
DEMO_WEIGHTS_NOTE = ("the shipped demo weights (m2h_tiny) are trained on synthetic apartments only: on a real indoor "
                     "photo their depth is worse than a constant (median-scaled AbsRel 0.48 against 0.21 for a constant "
                     "depth, docs/model-card.md)")

log = logging.getLogger("m2h_slam")


def demo_weights() -> Path:
    """The shipped m2h_tiny weights (trained on synthetic apartments; card: the same name, ``.card.json``)."""
    return Path(str(resources.files("m2h_slam.perception") / "weights" / DEMO_WEIGHTS))


def note_demo_weights(weights: Path | None, synthetic_source: bool) -> None:
    """Say what the demo weights are when they are used: a warning unless the source is a synthetic apartment."""
    if weights is None or Path(weights).resolve() != demo_weights().resolve():
        return
    if synthetic_source:
        log.info("%s", DEMO_WEIGHTS_NOTE)
    else:
        log.warning("%s; this source is not synthetic, so expect depth and classes far from the truth: pass "
                    "--weights with a model trained on real images (e.g. the authors' m2h_indoor.pt)", DEMO_WEIGHTS_NOTE)


class Perception:
    """Predictions for frames: the network (``config.perception``), or the frames' ground truth (``gt``);
    ``source``: the sequence the frames come from, named in messages."""

    def __init__(self, config: Config, gt: bool, source: Path | None = None):
        self.gt, self.source = gt, source
        self.weights = None
        if not gt:
            from m2h_slam.perception.predictor import Predictor

            c = config.perception
            self.weights = Path(c.weights) if c.weights else demo_weights()
            kwargs = {"input_size": tuple(c.input_size)} if c.input_size else {}
            self.predictor = Predictor.from_weights(self.weights, device=c.device, runtime=c.runtime,
                                                    variants=c.variants, threads=c.threads, **kwargs)

    @property
    def network(self) -> dict | None:
        """What runs the network (run.json): ONNX Runtime and its model file (the export or the variant chosen), or
        PyTorch and its device; None for ground-truth perception."""
        if self.gt:
            return None
        from m2h_slam.perception.predictor import OnnxBackend

        backend = self.predictor.backend
        if isinstance(backend, OnnxBackend):
            return {"runtime": "onnx", "model": backend.path.name}
        return {"runtime": "torch", "device": str(backend.device)}

    @property
    def overlaps(self) -> bool:
        """Whether the network may run beside the mapper (ONNX Runtime releases the GIL and leaves the cores)."""
        if self.gt:
            return False
        from m2h_slam.perception.predictor import OnnxBackend

        return isinstance(self.predictor.backend, OnnxBackend)

    def __call__(self, frame: Frame) -> Prediction:
        if self.gt:
            from m2h_slam.perception.ground_truth import prediction_from_ground_truth

            if frame.depth_m is None:
                raise InputError(self.source, f"--gt-perception needs ground-truth depth (frame {frame.index} has none)")
            return prediction_from_ground_truth(frame)
        return self.predictor.predict(frame.rgb)
