"""Reliability cases: outputs (see tests/reliability_table.py; merged into tests/test_reliability.py)."""

from __future__ import annotations

from pathlib import Path

from reliability_table import Case

CASES: dict[str, Case] = {}


def make_inputs(root: Path) -> None:
    """Write the inputs these cases read under ``root`` (the table's {w})."""
