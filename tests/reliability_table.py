"""The table behind tests/test_reliability.py: a case is one command line and how it must end. Cases of one area
live in a module of their own (``reliability_*.py``: ``CASES`` and ``make_inputs``), merged by the test."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


def tree_digest(path: Path) -> dict[str, str]:
    """{relative path: sha256} of every file under ``path`` (or of ``path`` itself)."""
    if path.is_file():
        return {path.name: hashlib.sha256(path.read_bytes()).hexdigest()}
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file()}


@dataclass
class Case:
    """A command line ({w}: the inputs folder, {out}: a fresh folder, {run}/{stopped}: finished/interrupted runs,
    {demo}: the shipped weights; more from ``prepare``)."""

    args: str
    status: int
    message: str  # expected in the error line (status != 0) or in a warning (status 0)
    inputs: tuple[str, ...] = ("seq",)  # under {w}: must be byte-identical afterwards
    tags: set = field(default_factory=set)
    # (fresh folder {out}, finished run {run}) -> more {fields} for ``args``, made before the command runs
    prepare: Callable[[Path, Path], dict[str, str]] | None = None


def run_stopped_after(sequence: Path, out: Path, frames: int) -> Path:
    """``out``: a run of ``sequence`` (ground-truth perception) stopped by Ctrl-C after ``frames`` frames, so that
    its snapshot holds them."""
    from m2h_slam import cli
    from m2h_slam.perception.perception import Perception

    original = Perception.__call__

    def interrupting(self, frame):
        if frame.index == frames:
            raise KeyboardInterrupt
        return original(self, frame)

    Perception.__call__ = interrupting
    try:
        assert cli.main(["run", str(sequence), "--out", str(out), "--gt-perception", "-q"]) == 130
    finally:
        Perception.__call__ = original
    return out
