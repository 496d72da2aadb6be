"""``Predictor``: numpy RGB images (any size) -> ``Prediction`` at the image's resolution.

Official preprocessing by default: RGB / 255, bilinear resize to 224 x 224, normalise
with the M2H mean and std. Outputs are resized back bilinearly: depth, normals
(renormalised), class probabilities (argmax = semantics, max = confidence), edge
probability. The network runs in PyTorch (``torch.inference_mode``) or ONNX Runtime
behind the same interface.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from m2h_slam.core.config import RUNTIMES
from m2h_slam.core.errors import InputError, require_file
from m2h_slam.core.records import Prediction
from m2h_slam.perception.class_maps import upsampled_classes
from m2h_slam.perception.model.config import IMAGE_MEAN, IMAGE_STD
from m2h_slam.perception.model.m2h import M2H
from m2h_slam.perception.onnx_export import OUTPUTS

OFFICIAL_INPUT_SIZE = (224, 224)  # (width, height)
log = logging.getLogger("m2h_slam")


def check_device(name: str) -> None:
    """``InputError`` unless ``name`` is a torch device present on this machine (cpu, cuda[:N], mps)."""
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise InputError(None, f"--device: unknown device {name!r} (cpu, cuda, cuda:N or mps)") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise InputError(None, f"--device {name}: no CUDA GPU is available here; use --device cpu")
        if device.index is not None and device.index >= count:
            raise InputError(None, f"--device {name}: only {count} CUDA GPU(s) here (cuda:0..cuda:{count - 1})")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise InputError(None, f"--device {name}: Apple MPS is not available here; use --device cpu")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise InputError(None, f"--device {name}: unsupported device type (cpu, cuda, cuda:N or mps)")


FLUSH_DENORMALS = True  # off: as the network ran until 2026-12-07 (the end-to-end benchmark's old default)


@contextlib.contextmanager
def denormals_flushed():
    """While inside, this thread's float arithmetic treats denormal numbers (below 1.2e-38) as zero (x86 FTZ / DAZ;
    off again afterwards, the default).

    Some of the network's attention probabilities and activations fall in that range, where each operation costs the
    CPU 10-100x a normal one: the demo network runs 10-20 % faster with them flushed, its outputs unchanged to 1e-6.
    The backends run the network inside (ONNX Runtime's own threads flush them by its session option). Nothing else
    may run so: Open3D's mesh extraction crashes on a thread that flushes denormals."""
    if not FLUSH_DENORMALS:
        yield
        return
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


class TorchBackend:
    """Runs an ``M2H`` model on a device."""

    def __init__(self, model: M2H, device: str = "cpu"):
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()

    def __call__(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        with denormals_flushed(), torch.inference_mode():
            out = self.model(images.to(self.device))
        return {k: v.float().cpu() for k, v in out.items()}


class OnnxBackend:
    """Runs an exported ONNX model (fixed input size, batch 1) with ONNX Runtime."""

    def __init__(self, path: str | os.PathLike, threads: int | None = None):
        import onnxruntime as ort

        self.path = path = Path(path)
        require_file(path, "ONNX model")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        # ONNX Runtime's threads spin after each run by default, starving the torch / numpy work that comes next
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if FLUSH_DENORMALS:  # see ``denormals_flushed``
            options.add_session_config_entry("session.set_denormal_as_zero", "1")
        try:  # inside: the session option flushes denormals on the creating thread too, and leaving turns it off
            with denormals_flushed():
                self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as error:  # ORT raises its own exception types
            raise InputError(path, f"cannot load ONNX model ({str(error).splitlines()[0][:80]})") from None
        shape = self.session.get_inputs()[0].shape
        self.input_size = (int(shape[3]), int(shape[2]))

    def __call__(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        with denormals_flushed():
            outs = [self.session.run(list(OUTPUTS), {"image": image[None].numpy()}) for image in images]
        return {name: torch.from_numpy(np.concatenate([o[k] for o in outs])) for k, name in enumerate(OUTPUTS)}


class Predictor:
    """Perception for the mapping back end.

    input_size: (W, H) network input; "model" = the model config's size (224 x 224 for the
    official models); None = each image's own size. An ONNX model fixes its own size.
    """

    def __init__(self, backend, input_size: tuple[int, int] | None | str = "model", threads: int | None = None,
                 batch_size: int = 1):
        if threads:
            torch.set_num_threads(threads)
        self.backend = backend
        if input_size == "model":  # the size the model was trained at (official: 224 x 224)
            model = getattr(backend, "model", None)
            input_size = tuple(model.config.input_size) if model is not None else OFFICIAL_INPUT_SIZE
        fixed = getattr(backend, "input_size", None)
        if fixed is not None and input_size is not None and tuple(input_size) != fixed:
            input_size = fixed  # an ONNX model only takes the size it was exported at
        self.input_size = fixed if fixed is not None else input_size
        self.batch_size = batch_size
        self.mean = torch.tensor(IMAGE_MEAN).view(1, 3, 1, 1)
        self.std = torch.tensor(IMAGE_STD).view(1, 3, 1, 1)

    @classmethod
    def from_weights(cls, path: str | os.PathLike, device: str = "cpu", runtime: str = "auto",
                     variants: bool = False, **kwargs) -> Predictor:
        """From our checkpoint / an official checkpoint or an ``.onnx`` file. ``runtime``: "torch", "onnx" (ONNX
        Runtime on an export cached per weights and input size) or "auto" (ONNX on the CPU at a fixed input
        size, PyTorch otherwise, and PyTorch if the export fails). ``variants``: with ONNX Runtime, run the export's
        fastest variant that passed its accuracy and speed check (``onnx_variants.fastest_variant``)."""
        if Path(path).suffix == ".onnx":
            return cls(OnnxBackend(path, kwargs.get("threads")), **kwargs)
        if runtime not in RUNTIMES:
            raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
        from m2h_slam.perception.model.weights import load_weights

        model = load_weights(path)
        size = kwargs.get("input_size", "model")
        size = tuple(model.config.input_size) if size == "model" else size
        if runtime == "onnx" or (runtime == "auto" and torch.device(device).type == "cpu" and size is not None):
            from m2h_slam.perception.onnx_cache import cached_onnx
            from m2h_slam.perception.onnx_variants import fastest_variant

            try:
                exported = cached_onnx(path, size, model)
                chosen = fastest_variant(exported, model) if variants else exported
                return cls(OnnxBackend(chosen, kwargs.get("threads")), **kwargs)
            except (OSError, RuntimeError) as error:
                if runtime == "onnx":
                    raise
                log.warning("%s: no ONNX export (%s); running it in PyTorch", path, str(error).splitlines()[0][:120])
        return cls(TorchBackend(model, device), **kwargs)

    def preprocess(self, rgb: np.ndarray) -> torch.Tensor:
        """(H, W, 3) uint8 -> (3, h, w) normalised float at the network input size."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {rgb.shape} {rgb.dtype}")
        x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float() / 255.0
        if self.input_size is not None and (x.shape[-1], x.shape[-2]) != tuple(self.input_size):
            x = F.interpolate(x, size=(self.input_size[1], self.input_size[0]), mode="bilinear", align_corners=False)
        return ((x - self.mean) / self.std)[0]

    def _postprocess(self, out: dict[str, torch.Tensor], index: int, size: tuple[int, int]) -> Prediction:
        """The network outputs of image ``index`` at ``size`` (H, W): bilinear resizes (OpenCV: the same half-pixel
        alignment as torch's ``align_corners=False``, several times faster on many channels); classes and their
        confidence from ``_classes``."""
        height, width = size

        def resized(x: torch.Tensor) -> np.ndarray:
            """(C, h, w) -> (H, W, C) float32 (or (H, W) for one channel)."""
            image = np.ascontiguousarray(x.numpy().transpose(1, 2, 0), dtype=np.float32)
            if image.shape[:2] == (height, width):
                return image[..., 0] if image.shape[2] == 1 else image
            if image.shape[2] > 512:  # OpenCV's channel limit
                return np.stack([resized(x[k:k + 1]) for k in range(x.shape[0])], axis=-1)
            return cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)

        depth = np.clip(np.nan_to_num(resized(out["depth"][index]), nan=0.0), 0.0, None)
        semantics, confidence = self._classes(out["sem_seg"][index], size)
        normals = np.nan_to_num(resized(out["normals"][index]), nan=0.0)
        normals /= np.sqrt(np.maximum(np.einsum("hwc,hwc->hw", normals, normals), 1e-24))[..., None]
        edges = resized(torch.sigmoid(out["edges"][index]))
        return Prediction(depth_m=depth.astype(np.float32, copy=False), semantics=semantics.astype(np.uint8),
                          confidence=confidence.astype(np.float32, copy=False), normals=normals,
                          edges=edges.astype(np.float32, copy=False))

    @staticmethod
    def _classes(logits: torch.Tensor, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """(C, h, w) class logits -> (H, W) classes and their probability at ``size`` (H, W): the softmax at the
        network's resolution, resized in ``upsampled_classes``."""
        return upsampled_classes(logits.softmax(dim=0).numpy(), size)

    def predict_many(self, images: Iterable[np.ndarray]) -> Iterator[Prediction]:
        """Predictions for a stream of images, run in batches of ``batch_size``."""
        batch: list[np.ndarray] = []
        for rgb in images:
            batch.append(rgb)
            if len(batch) == self.batch_size:
                yield from self._run(batch)
                batch = []
        if batch:
            yield from self._run(batch)

    def _run(self, batch: list[np.ndarray]) -> list[Prediction]:
        if self.input_size is None and len({im.shape for im in batch}) > 1:
            return [p for im in batch for p in self._run([im])]
        out = self.backend(torch.stack([self.preprocess(im) for im in batch]))
        return [self._postprocess(out, i, im.shape[:2]) for i, im in enumerate(batch)]

    def predict(self, rgb: np.ndarray) -> Prediction:
        return self._run([rgb])[0]
