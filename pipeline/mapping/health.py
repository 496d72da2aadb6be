"""Perception health: whether a run's depth, semantics and tracking can be trusted, from what the run already has.

Per frame (``FrameSignals``, from the mapper's ``StepResult``): whether the pose was measured, the odometry's inlier
residual, how far the frame's depth disagrees with the map where both see the scene (after its scale is fitted:
``pipeline.mapping.depth_scale``), the network's semantic confidence (mean probability of the chosen class) and
the share of the image that is structure the map stands on (floor, wall). Over the run, medians of each against
two thresholds (``HealthConfig``) make the verdict: ``ok``, ``doubtful`` (a number past its first threshold) or
``unreliable`` (past its second, or most frames untracked). Networks trained on one domain stay confident and
self-consistent only inside it: out of it their depth disagrees from frame to frame, their classes spread over
many low-probability labels and the floor and walls the map needs vanish.

    monitor = HealthMonitor(config.health)
    monitor.observe(step)               # every frame
    report = monitor.report()           # HealthReport: verdict, reasons, numbers (run.json's "health")
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from m2h_slam.core.config import HealthConfig
from m2h_slam.core.labels import class_id

OK, DOUBTFUL, UNRELIABLE = "ok", "doubtful", "unreliable"
VERDICTS = (OK, DOUBTFUL, UNRELIABLE)  # in order of worsening
STRUCTURE = (class_id("floor"), class_id("wall"))


@dataclass(frozen=True)
class FrameSignals:
    """One frame's health signals. measured: pose measured (odometry, held still, or given); residual: odometry
    inlier RMSE (None: not tracked by odometry); depth_error: median relative disagreement with the map after the
    scale fit (None: not compared); confidence: mean class probability, 0..1; structure: share of pixels labelled
    floor or wall."""

    measured: bool
    residual: float | None
    depth_error: float | None
    confidence: float
    structure: float


@dataclass(frozen=True)
class HealthReport:
    """verdict: ok / doubtful / unreliable; reasons: one line per number past a threshold; numbers: the run's medians
    and shares (None where nothing was measured)."""

    verdict: str
    reasons: list[str]
    numbers: dict[str, float | int | None]

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        """One line: the verdict and why."""
        return self.verdict + (": " + "; ".join(self.reasons) if self.reasons else "")


def frame_signals(step) -> FrameSignals:
    """The signals of one mapped frame (``step``: the mapper's ``StepResult``, holding the prediction as mapped)."""
    p = step.prediction
    structure = float(np.isin(p.semantics, STRUCTURE).mean())
    return FrameSignals(step.tracking.measured, step.odometry_residual, step.depth_error,
                        round(float(p.confidence.mean()), 4), round(structure, 4))


class HealthMonitor:
    """Collects ``FrameSignals`` (a few numbers a frame) and judges the run (``report``)."""

    def __init__(self, config: HealthConfig):
        self.config = config
        self.frames: list[FrameSignals] = []

    def observe(self, step) -> None:
        self.frames.append(frame_signals(step))

    def numbers(self) -> dict[str, float | int | None]:
        """The run's medians and shares that the verdict reads."""

        def median(values) -> float | None:
            values = [v for v in values if v is not None]
            return round(float(np.median(values)), 4) if values else None

        frames = self.frames
        return {"frames": len(frames),
                "measured_share": round(sum(f.measured for f in frames) / len(frames), 4) if frames else None,
                "odometry_residual": median(f.residual for f in frames),
                "depth_disagreement": median(f.depth_error for f in frames),
                "depth_compared_frames": sum(f.depth_error is not None for f in frames),
                "semantic_confidence": median(f.confidence for f in frames),
                "structure_share": median(f.structure for f in frames)}

    def report(self) -> HealthReport:
        """The verdict over every frame so far (``ok`` with no frames)."""
        c, n = self.config, self.numbers()
        checks = [  # (number, doubtful past, unreliable past, higher is worse, what it says)
            ("measured_share", c.doubtful_measured_share, c.unreliable_measured_share, False,
             "share of frames whose pose was measured"),
            ("depth_disagreement", c.doubtful_depth_disagreement, c.unreliable_depth_disagreement, True,
             "median disagreement of each frame's depth with the map"),
            ("semantic_confidence", c.doubtful_semantic_confidence, c.unreliable_semantic_confidence, False,
             "median semantic confidence"),
            ("structure_share", c.doubtful_structure_share, c.unreliable_structure_share, False,
             "median share of the image labelled floor or wall"),
        ]
        worst, reasons = 0, []
        for key, doubtful, unreliable, higher_is_worse, what in checks:
            value = n[key]
            if value is None:
                continue
            sign = 1 if higher_is_worse else -1  # past a limit: beyond it on the worse side
            level = 2 if sign * (value - unreliable) > 0 else 1 if sign * (value - doubtful) > 0 else 0
            if level:
                reasons.append(f"{what} {value:.2f} {'>' if higher_is_worse else '<'} "
                               f"{unreliable if level == 2 else doubtful:g}")
                worst = max(worst, level)
        if len(reasons) >= c.doubtful_reasons_unreliable:
            worst = 2
        return HealthReport(VERDICTS[worst], reasons, n)

    # -- snapshots ---------------------------------------------------------------------------
    def state(self) -> list[list]:
        return [[f.measured, f.residual, f.depth_error, f.confidence, f.structure] for f in self.frames]

    def load_state(self, state: list[list]) -> None:
        self.frames = [FrameSignals(bool(m), r, d, c, s) for m, r, d, c, s in state]
