"""Reliability cases: numbers (see tests/reliability_table.py; merged into tests/test_reliability.py).

YAML numbers as YAML 1.2 writes them (``5e0``, ``1e300``) are numbers in every file a user gives; every size,
count and rate has a practical limit (``Range.limit``), past which memory or time would run out."""

from __future__ import annotations

from pathlib import Path

from reliability_table import Case

CASES: dict[str, Case] = {
    # YAML 1.2 numbers: PyYAML alone reads 5e0 and 1e300 as strings ("expected a number, got '5e0'")
    "config number 5e0": Case("info {w}/seq --config {w}/exp5e0.yaml", 0, "", ("seq", "exp5e0.yaml")),
    "config number 5e0 out of range": Case("run {w}/seq --out {out}/r --config {w}/voxel5e0.yaml", 2,
                                           "config key 'fusion.voxel_size_m' must be in [0.001, 1], got 5",
                                           ("seq", "voxel5e0.yaml")),
    "intrinsics fx 1e300": Case("info {w}/images --intrinsics {w}/fx1e300.yaml", 2,
                                "fx1e300.yaml: malformed intrinsics: focal lengths must be at most 10000 times the "
                                "image side (64 px), got fx=1e+300", ("images", "fx1e300.yaml")),
    # sizes: images up to 8192 px a side, the network's input from one patch (14 px) to 1024 px
    "synth size 100000x100000": Case("synth {out}/s --size 100000x100000", 2,
                                     "--size: each side must be at most 8192 px, got '100000x100000'", ()),
    "run resize 100000x100000": Case("run {w}/seq --out {out}/r --resize 100000x100000", 2,
                                     "--resize: each side must be at most 8192 px"),
    "predict input size 100000x100000": Case("predict {w}/images --out {out}/p --input-size 100000x100000", 2,
                                             "--input-size: each side must be at most 1024 px", ("images",)),
    "predict input size 3x3": Case("predict {w}/images --out {out}/p --input-size 3x3", 2,
                                   "--input-size: each side must be at least 14 px, got '3x3'", ("images",)),
    "export-onnx input size 2000x2000": Case("export-onnx {out}/m.onnx --input-size 2000x2000", 2,
                                             "--input-size: each side must be at most 1024 px", ()),
    "train size 10000x10": Case("train {w}/seq --out {out}/t --size 10000x10", 2,
                                "--size: each side must be at most 1024 px"),
    # counts and rates
    "run threads 100000": Case("run {w}/seq --out {out}/r --threads 100000", 2,
                               "--threads: must be at most 1024, got 100000"),
    "predict threads 100000": Case("predict {w}/images --out {out}/p --threads 100000", 2,
                                   "--threads: must be at most 1024", ("images",)),
    "synth blur 1e9": Case("synth {out}/s --blur 1e9 --frames 2", 2, "--blur: must be at most 50, got 1e+09", ()),
    "synth frames 10 million": Case("synth {out}/s --frames 10000000", 2,
                                    "--frames: must be at most 100000, got 10000000", ()),
    "synth fps 1e9": Case("synth {out}/s --fps 1e9", 2, "--fps: must be at most 1000", ()),
    "synth seed 2^64": Case("synth {out}/s --seed 18446744073709551616", 2, "--seed: must be at most 4294967295",
                            ()),
    "synth people 1000": Case("synth {out}/s --people 1000", 2, "--people: must be in [0, 20], got 1000", ()),
    "fov 1e-320": Case("info {w}/images --fov-deg 1e-320", 2, "--fov-deg: must be at least 0.01", ("images",)),
    "eval workers 100000": Case("eval {w}/seq --out {out}/e --workers 100000", 2,
                                "--workers: must be at most 128"),
    "train epochs 1e9": Case("train {w}/seq --out {out}/t --epochs 1000000000", 2,
                             "--epochs: must be at most 10000, got 1000000000"),
    # config values
    "dynamic dilation 100000000 px": Case("run {w}/seq --out {out}/r --config {w}/dilation.yaml", 2,
                                          "config key 'fusion.dynamic_dilation_px' must be at most 64, got 100000000",
                                          ("seq", "dilation.yaml")),
    "truncation below the voxel": Case("run {w}/seq --out {out}/r --config {w}/truncation.yaml", 2,
                                       "config key 'fusion.truncation_m' must be at least voxel_size_m (0.05), got "
                                       "0.02", ("seq", "truncation.yaml")),
    "max blocks past 2^30 voxels": Case("run {w}/seq --out {out}/r --config {w}/blocks.yaml", 2,
                                        "config key 'fusion.max_blocks' must be at most 2097152 with "
                                        "block_resolution 8", ("seq", "blocks.yaml")),
    "fusion depth_max_m 1e12": Case("run {w}/seq --out {out}/r --config {w}/depthmax.yaml", 2,
                                    "config key 'fusion.depth_max_m' must be at most 100", ("seq", "depthmax.yaml")),
    "odometry iterations 1000000": Case("run {w}/seq --out {out}/r --config {w}/iterations.yaml", 2,
                                        "config key 'odometry.iterations' must be at most 1000",
                                        ("seq", "iterations.yaml")),
    "room seed reach 1e12 m": Case("run {w}/seq --out {out}/r --config {w}/reach.yaml", 2,
                                   "config key 'graph.room_seed_reach_m' must be at most 100", ("seq", "reach.yaml")),
    "train config repeats 1e12": Case("train {w}/seq --out {out}/t --config {w}/repeats.yaml", 2,
                                      "config key 'repeats' must be at most 10000", ("seq", "repeats.yaml")),
}

INPUTS = {
    "exp5e0.yaml": "fusion:\n  depth_max_m: 5e0\n  voxel_size_m: 5E-2\ninput:\n  image_fps: 3e1\n",
    "voxel5e0.yaml": "fusion:\n  voxel_size_m: 5e0\n",
    "fx1e300.yaml": "fx: 1e300\nfy: 1e300\ncx: 31.5\ncy: 23.5\nwidth: 64\nheight: 48\n",
    "dilation.yaml": "fusion:\n  dynamic_dilation_px: 100000000\n",
    "truncation.yaml": "fusion:\n  truncation_m: 0.02\n",
    "blocks.yaml": "fusion:\n  max_blocks: 100000000\n",
    "depthmax.yaml": "fusion:\n  depth_max_m: 1e12\n",
    "iterations.yaml": "odometry:\n  iterations: [1000000, 10]\n",
    "reach.yaml": "graph:\n  room_seed_reach_m: 1e12\n",
    "repeats.yaml": "repeats: 1000000000000\n",
}


def make_inputs(root: Path) -> None:
    """Write the inputs these cases read under ``root`` (the table's {w})."""
    for name, text in INPUTS.items():
        (root / name).write_text(text)
