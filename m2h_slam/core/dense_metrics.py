"""The dense metrics of multi-task perception, as pure functions on arrays with running totals.

Each scorer takes frames one at a time (``add``) and reports over everything added (``result``),
pooling pixels over frames as the NYUD-MT evaluations of multi-task networks do:

    depth = DepthScores(median_scaling=False)        # AbsRel, RMSE, log RMSE, delta < 1.25^k
    semantics = SemanticScores(num_classes=41)       # mIoU from one confusion matrix, pixel accuracy
    normals = NormalScores()                         # mean / median angle, % under 11.25 / 22.5 / 30 deg
    edges = EdgeScores(tolerance_px=3)               # ODS F-score over thresholds
    for prediction, truth in frames:
        depth.add(prediction.depth_m, truth.depth_m)
        ...
    depth.result()  # {"abs_rel": ..., "rmse_m": ..., ...}

``FrameScores`` holds all four for ``Prediction`` / ``Frame`` pairs; ``score_frames(predict, frames)`` is the
loop over a sequence, and ``headline`` picks the numbers reports quote:

    scores = score_frames(lambda frame: predictor.predict(frame.rgb), open_sequence(path))
    headline(scores.result())  # {"abs_rel": ..., "miou": ..., "normal_mean_deg": ..., "edge_ods_f": ...}

Invalid ground truth (depth 0 or not finite, label 0, zero normals) is left out. Shapes: (H, W)
depth in metres, (H, W) integer labels, (H, W, 3) normals, (H, W) edge scores in [0, 1] and
(H, W) bool true edges. Every scorer keeps fixed-size running totals (``state()``), so the totals
of many scenes, scored in other processes or saved to disk, add up exactly (``merge``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
from scipy import ndimage

ANGLE_THRESHOLDS_DEG = (11.25, 22.5, 30.0)
ANGLE_BIN_DEG = 0.01  # normal angles are counted in bins this wide (the median is exact to this)


class _Running:
    """Running totals named in ``_STATE``: ``state()`` returns them, ``merge(state)`` adds another scorer's."""

    _STATE: tuple[str, ...] = ()

    def state(self) -> dict[str, np.ndarray]:
        return {name: np.array(getattr(self, name)) for name in self._STATE}

    def merge(self, state: dict[str, np.ndarray]) -> None:
        for name in self._STATE:
            setattr(self, name, getattr(self, name) + np.asarray(state[name]))


class DepthScores(_Running):
    """AbsRel, RMSE (m), log RMSE and the share of pixels with max(p/t, t/p) < 1.25^k, k = 1, 2, 3, over all
    valid pixels; ``median_scaling``: each prediction is first scaled by median(truth) / median(prediction)
    (for scale-free models)."""

    _STATE = ("count", "sums")

    def __init__(self, median_scaling: bool = False):
        self.median_scaling = median_scaling
        self.count = 0
        self.sums = np.zeros(6)  # abs_rel, squared error, squared log error, delta1, delta2, delta3

    def add(self, predicted_m: np.ndarray, true_m: np.ndarray) -> None:
        predicted, truth = np.asarray(predicted_m), np.asarray(true_m)
        valid = np.isfinite(truth) & (truth > 0) & np.isfinite(predicted)
        p, t = predicted[valid].astype(np.float64), truth[valid].astype(np.float64)
        if self.median_scaling and len(p) and np.median(p) > 0:
            p = p * (np.median(t) / np.median(p))
        p = np.maximum(p, 1e-6)  # a prediction of 0 m is as wrong as the smallest positive one
        error = p - t
        log_ratio = np.abs(np.log(p / t))  # max(p/t, t/p) < 1.25^k  <=>  |log(p/t)| < k log 1.25
        self.sums += [np.sum(np.abs(error) / t), error @ error, log_ratio @ log_ratio,
                      *(np.count_nonzero(log_ratio < k * np.log(1.25)) for k in (1, 2, 3))]
        self.count += len(p)

    def result(self) -> dict:
        n = max(self.count, 1)
        return {"abs_rel": self.sums[0] / n, "rmse_m": float(np.sqrt(self.sums[1] / n)),
                "log_rmse": float(np.sqrt(self.sums[2] / n)), "delta1": self.sums[3] / n,
                "delta2": self.sums[4] / n, "delta3": self.sums[5] / n, "pixels": int(self.count)}


class SemanticScores(_Running):
    """One confusion matrix over every frame: mIoU over the classes present (in the truth or the prediction;
    class 0, unknown, is left out of the truth) and pixel accuracy, plus the IoU of each class and the mIoU
    over the classes in the truth only (``miou_truth_classes``: without classes that only the prediction has)."""

    _STATE = ("confusion",)

    def __init__(self, num_classes: int = 41):
        self.num_classes = num_classes
        self.confusion = np.zeros((num_classes, num_classes), np.int64)  # rows: truth, columns: prediction

    def add(self, predicted: np.ndarray, truth: np.ndarray) -> None:
        t, p = np.asarray(truth).ravel().astype(np.int64), np.asarray(predicted).ravel().astype(np.int64)
        keep = (t > 0) & (t < self.num_classes)
        p = np.clip(p[keep], 0, self.num_classes - 1)
        self.confusion += np.bincount(t[keep] * self.num_classes + p,
                                      minlength=self.num_classes**2).reshape(self.num_classes, self.num_classes)

    def result(self) -> dict:
        c = self.confusion
        hits = np.diag(c).astype(np.float64)
        union = c.sum(axis=0) + c.sum(axis=1) - hits
        present = union > 0
        present[0] = False
        iou = np.where(present, hits / np.maximum(union, 1), np.nan)
        in_truth = present & (c.sum(axis=1) > 0)
        return {"miou": float(np.nanmean(iou[present])) if present.any() else 0.0,
                "miou_truth_classes": float(np.mean(iou[in_truth])) if in_truth.any() else 0.0,
                "pixel_accuracy": float(hits.sum() / max(c.sum(), 1)),
                "iou_per_class": {int(k): float(iou[k]) for k in np.flatnonzero(present)}}


class NormalScores(_Running):
    """Angle (deg) between predicted and true normals over pixels with a true normal: mean, median (to
    ``ANGLE_BIN_DEG``) and the share under 11.25, 22.5 and 30 deg. Predictions need not be unit length."""

    _STATE = ("histogram", "angle_sum")

    def __init__(self):
        self.histogram = np.zeros(int(round(180 / ANGLE_BIN_DEG)) + 1, np.int64)
        self.angle_sum = np.zeros(1)

    def add(self, predicted: np.ndarray, truth: np.ndarray) -> None:
        p, t = np.asarray(predicted).reshape(-1, 3), np.asarray(truth).reshape(-1, 3)
        t_squared = np.einsum("ij,ij->i", t, t)
        valid = np.isfinite(t_squared) & (t_squared > 1e-12)
        p, t = p[valid].astype(np.float64), t[valid].astype(np.float64)
        norms = np.sqrt(np.einsum("ij,ij->i", t, t) * np.maximum(np.einsum("ij,ij->i", p, p), 1e-24))
        cosine = np.nan_to_num(np.einsum("ij,ij->i", p, t) / norms, nan=-1.0)
        angles = np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))
        self.angle_sum += angles.sum()
        bins = (angles * (1 / ANGLE_BIN_DEG) + 1e-9).astype(np.int64)  # floor: angles are not negative
        self.histogram += np.bincount(bins, minlength=len(self.histogram))[: len(self.histogram)]

    def result(self) -> dict:
        n = int(self.histogram.sum())
        if not n:
            return {"mean_deg": float("nan"), "median_deg": float("nan"), "pixels": 0,
                    **{f"under_{t:g}_deg": 0.0 for t in ANGLE_THRESHOLDS_DEG}}
        cumulative = np.cumsum(self.histogram)
        median_bin = int(np.searchsorted(cumulative, n / 2))
        return {"mean_deg": float(self.angle_sum[0] / n), "median_deg": (median_bin + 0.5) * ANGLE_BIN_DEG,
                "pixels": n, **{f"under_{t:g}_deg": float(cumulative[int(round(t / ANGLE_BIN_DEG)) - 1] / n)
                                for t in ANGLE_THRESHOLDS_DEG}}


class EdgeScores(_Running):
    """Edge F-score at the optimal dataset scale (ODS): for each threshold, predicted edge pixels count as right
    when a true edge lies within ``tolerance_px``, true edge pixels as found when a predicted one does; counts
    are pooled over frames and the best F over the thresholds is reported. (Correspondence by distance, not
    the one-to-one matching of the BSDS benchmark code: slightly more lenient with thick predictions.)"""

    _STATE = ("counts",)

    def __init__(self, tolerance_px: float = 3.0, thresholds: int = 99):
        self.tolerance_px = tolerance_px
        self.thresholds = np.linspace(0.01, 0.99, thresholds)
        self.counts = np.zeros((thresholds, 4), np.int64)  # right, predicted, found, true

    def add(self, predicted: np.ndarray, truth: np.ndarray) -> None:
        scores, true = np.asarray(predicted, np.float32), np.asarray(truth, bool)
        near_true = _disc_max(true.view(np.uint8), self.tolerance_px) > 0
        rows, cols = np.nonzero(true)
        best_near = _disc_max(scores, self.tolerance_px, at=(rows, cols))
        self.counts += np.stack([self._reaching(scores[near_true]), self._reaching(scores.ravel()),
                                 self._reaching(best_near), np.full(len(self.thresholds), len(rows))], axis=1)

    def _reaching(self, values: np.ndarray) -> np.ndarray:
        """(T,) how many values reach each threshold (one binary search per value into the thresholds)."""
        reached = np.searchsorted(self.thresholds, values, side="right")  # thresholds <= each value
        return np.cumsum(np.bincount(reached, minlength=len(self.thresholds) + 1)[::-1])[::-1][1:]

    def result(self) -> dict:
        right, predicted, found, true = self.counts.T.astype(np.float64)
        precision = np.where(predicted > 0, right / np.maximum(predicted, 1), 0.0)
        recall = np.where(true > 0, found / np.maximum(true, 1), 0.0)
        f = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
        best = int(np.argmax(f))
        return {"ods_f": float(f[best]), "threshold": float(self.thresholds[best]),
                "precision": float(precision[best]), "recall": float(recall[best])}


def _disc_max(image: np.ndarray, radius_px: float, at: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """The maximum of (H, W) ``image`` over a disc of ``radius_px`` around each pixel (outside the image: the
    lowest value), for the whole image or only at the pixels ``at`` = (rows, cols). The disc is cut into rows:
    one running maximum along x per half-width, shifted in y (exact for the pixel disc, fast at large radii)."""
    r = int(np.floor(radius_px))
    height, width = image.shape
    lowest = np.iinfo(image.dtype).min if image.dtype.kind in "iu" else -np.inf
    padded = np.full((height + 2 * r, width), lowest, image.dtype)
    padded[r:r + height] = image
    along_x: dict[int, np.ndarray] = {}
    out = None
    for dy in range(-r, r + 1):
        half = int(np.floor(np.sqrt(max(radius_px**2 - dy**2, 0.0))))
        if half not in along_x:
            along_x[half] = ndimage.maximum_filter1d(padded, 2 * half + 1, axis=1, mode="constant", cval=lowest)
        strip = along_x[half][r + dy:r + dy + height] if at is None else along_x[half][at[0] + r + dy, at[1]]
        out = strip.copy() if out is None else np.maximum(out, strip, out=out)
    return out


TASKS = ("depth", "semantics", "normals", "edges")


class FrameScores:
    """The four task scores of predictions against whatever ground truth each frame carries.

    ``add(prediction, frame)``: a ``Prediction`` and a ``Frame`` of the same size. Edge tolerance is a fraction
    of the image diagonal (0.0075, the BSDS benchmark's default ``maxDist``). ``state`` / ``merge`` as the scorers.
    """

    def __init__(self, median_scaling: bool = False, edge_tolerance: float = 0.0075, num_classes: int = 41):
        self.edge_tolerance = edge_tolerance
        self.scorers: dict[str, _Running] = {
            "depth": DepthScores(median_scaling), "semantics": SemanticScores(num_classes), "normals": NormalScores(),
            "edges": EdgeScores()}
        self.frames = {task: 0 for task in TASKS}

    def add(self, prediction, frame) -> None:
        truth = {"depth": frame.depth_m, "semantics": frame.semantics, "normals": frame.normals,
                 "edges": frame.edges}
        predicted = {"depth": prediction.depth_m, "semantics": prediction.semantics, "normals": prediction.normals,
                     "edges": prediction.edges}
        if truth["edges"] is not None:
            self.scorers["edges"].tolerance_px = self.edge_tolerance * float(np.hypot(*truth["edges"].shape))
            truth["edges"] = truth["edges"] > 0
        for task in TASKS:
            if truth[task] is not None:
                self.scorers[task].add(predicted[task], truth[task])
                self.frames[task] += 1

    def state(self) -> dict[str, np.ndarray]:
        out = {f"{task}.{name}": value for task, scorer in self.scorers.items() for name, value in scorer.state().items()}
        out.update({f"{task}.frames": np.array(n) for task, n in self.frames.items()})
        return out

    def merge(self, state: dict[str, np.ndarray]) -> None:
        for task, scorer in self.scorers.items():
            scorer.merge({name: state[f"{task}.{name}"] for name in scorer._STATE})
            self.frames[task] += int(state[f"{task}.frames"])

    def result(self) -> dict:
        """Per task the scorer's result and ``frames`` scored; None for a task no frame had ground truth for."""
        return {task: {**self.scorers[task].result(), "frames": self.frames[task]} if self.frames[task] else None
                for task in TASKS}


def score_frames(predict: Callable, frames: Iterable, scores: FrameScores | None = None) -> FrameScores:
    """``scores`` (a new ``FrameScores()`` if None) with ``predict(frame)`` (a ``Prediction``) added against each
    ``Frame`` of ``frames``."""
    scores = FrameScores() if scores is None else scores
    for frame in frames:
        scores.add(predict(frame), frame)
    return scores


#: (task, key in its result, name in ``headline``)
HEADLINE = (("depth", "abs_rel", "abs_rel"), ("depth", "rmse_m", "rmse_m"), ("semantics", "miou", "miou"),
            ("semantics", "miou_truth_classes", "miou_truth_classes"), ("normals", "mean_deg", "normal_mean_deg"),
            ("edges", "ods_f", "edge_ods_f"))


def headline(result: dict) -> dict[str, float]:
    """The numbers reports quote, as plain floats, from ``FrameScores.result()``: abs_rel, rmse_m, miou,
    miou_truth_classes, normal_mean_deg, edge_ods_f (those of tasks without ground truth left out)."""
    return {name: float(result[task][key]) for task, key, name in HEADLINE if result.get(task)}
