"""Sequence readers and writers. ``open_sequence(path)`` detects the format."""

from m2h_slam.sources.detect import open_sequence
from m2h_slam.sources.sequence import ReadOptions, Sequence, SequenceInfo
from m2h_slam.sources.sequence_folder import SequenceWriter

__all__ = ["ReadOptions", "Sequence", "SequenceInfo", "SequenceWriter", "open_sequence"]
