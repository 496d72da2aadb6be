"""``m2h-slam info --check``: read every frame as ``run`` would and report what it would reject or skip."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from m2h_slam.core.errors import InputError
from m2h_slam.sources.sequence import Sequence

# Share of unreadable frames (corrupt, or missing from a truncated file) above which --check fails. A few
# skipped frames cost a run little; past a tenth whole stretches are gone and tracking breaks across the gaps.
UNREADABLE_LIMIT = 0.10


@dataclass
class CheckReport:
    """frames_read: frames decoded; frames_tried: frames the read covered (after stride; the container's count
    for a video, so frames missing from a truncated file count as unreadable); frames_unreadable: those of them
    that could not be read; unreadable_share: their share (0..1), which fails the check above unreadable_limit;
    errors: what stops a run (first only); warnings: what a run skips or notes."""

    frames_read: int = 0
    frames_tried: int = 0
    frames_unreadable: int = 0
    unreadable_share: float = 0.0
    unreadable_limit: float = UNREADABLE_LIMIT
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def too_damaged(self) -> bool:
        """More frames unreadable than ``unreadable_limit`` allows."""
        return self.unreadable_share > self.unreadable_limit

    def damage(self) -> str:
        """One line on the unreadable frames, e.g. ``376 of 444 frames unreadable (84.7%; --check fails above 10%)``."""
        return (f"{self.frames_unreadable} of {self.frames_tried} frames unreadable ({self.unreadable_share:.1%}; "
                f"--check fails above {self.unreadable_limit:.0%})")


class _Collect(logging.Handler):
    def __init__(self, into: list[str]):
        super().__init__(logging.WARNING)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(record.getMessage())


def check_sequence(sequence: Sequence, progress: bool = False) -> CheckReport:
    """Decode every selected frame; the readers' own warnings (skipped frames, truncation) are collected
    into the report instead of being printed, and the unreadable frames are counted."""
    from m2h_slam.core.progress import progress as progress_bar

    report = CheckReport()
    logger = logging.getLogger("m2h_slam")
    handlers, propagate, level = logger.handlers[:], logger.propagate, logger.level
    logger.handlers[:], logger.propagate = [_Collect(report.warnings)], False
    logger.setLevel(logging.WARNING)  # the warnings are the report's content, also under --quiet
    expected = len(sequence) if sequence.length_known else None
    last_index = -1
    try:
        for frame in progress_bar(iter(sequence), total=expected, unit="frame", desc="checking", disable=not progress):
            report.frames_read += 1
            last_index = frame.index
    except InputError as error:
        report.errors.append(f"{error} (after {report.frames_read} readable frames; run stops here)")
    finally:
        logger.handlers[:], logger.propagate = handlers, propagate
        logger.setLevel(level)
    if not report.errors:
        _count_unreadable(report, sequence, last_index)
        if report.frames_unreadable:
            report.warnings.append(f"{sequence.path}: {report.damage()}")
    return report


def _count_unreadable(report: CheckReport, sequence: Sequence, last_index: int) -> None:
    """Fill in the frames tried and unreadable. Every reader yields a frame's source index, so the selected
    indices the read covered minus the frames read are the ones lost: all of them when it read to the end (a video
    learns its count then), those up to the last frame read when ``--max-frames`` stopped it."""
    selected, limit = sequence.selected, sequence.options.max_frames
    if sequence.length_known and (limit is None or report.frames_read < limit):
        tried = len(selected)
    else:
        tried = len(range(selected.start, min(selected.stop, last_index + 1), selected.step))
    report.frames_tried = max(tried, report.frames_read)
    report.frames_unreadable = report.frames_tried - report.frames_read
    report.unreadable_share = round(report.frames_unreadable / report.frames_tried, 4) if report.frames_tried else 0.0
