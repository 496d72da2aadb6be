"""The mapping back end and scene graph. Never imports torch, so it runs on any
perception source (ground truth, another network, a CPU-only box)."""
