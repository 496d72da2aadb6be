"""File formats of the outside world: images and depth PNGs, intrinsics YAML, PLY meshes, TUM trajectories."""
