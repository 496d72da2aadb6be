"""Tooling over whole data sets: the per-scene items of a data-set root and the download checks."""
