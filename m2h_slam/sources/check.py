"""``m2h-slam info --check``: read every frame as ``run`` would and report what it would reject or skip."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from m2h_slam.core.errors import InputError
from m2h_slam.sources.sequence import Sequence


@dataclass
class CheckReport:
    """frames_read: frames decoded; errors: what stops a run (first only); warnings: what a run skips or notes."""

    frames_read: int = 0
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class _Collect(logging.Handler):
    def __init__(self, into: list[str]):
        super().__init__(logging.WARNING)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(record.getMessage())


def check_sequence(sequence: Sequence, progress: bool = False) -> CheckReport:
    """Decode every selected frame; the readers' own warnings (skipped frames, truncation) are collected
    into the report instead of being printed."""
    from tqdm import tqdm

    report = CheckReport()
    logger = logging.getLogger("m2h_slam")
    saved = logger.handlers[:], logger.propagate
    logger.handlers[:], logger.propagate = [_Collect(report.warnings)], False
    expected = len(sequence) if sequence.length_known else None
    try:
        for _ in tqdm(iter(sequence), total=expected, unit="frame", desc="checking", disable=not progress):
            report.frames_read += 1
    except InputError as error:
        report.errors.append(f"{error} (after {report.frames_read} readable frames; run stops here)")
    finally:
        logger.handlers[:], logger.propagate = saved
    if not report.errors and expected is not None and report.frames_read < expected:
        report.warnings.append(f"{sequence.path}: {report.frames_read} of {expected} frames readable")
    return report
