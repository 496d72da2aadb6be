"""TUM trajectory files: one pose per line, ``t tx ty tz qx qy qz qw`` (world_T_camera),
so that ``evo_ape tum gt.txt est.txt`` reads what we write."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from m2h_slam.core.atomic import atomic_write_text
from m2h_slam.core.errors import InputError, read_text
from m2h_slam.core.geometry import pose_problem, quaternion_from_transform, transform_from_quaternion


def read_tum_trajectory(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Timestamps (N,) float64 seconds and poses (N, 4, 4) float64 world_T_camera.

    Timestamps must increase strictly; quaternions must be non-zero; positions within ``MAX_TRANSLATION_M``.
    """
    path = Path(path)
    stamps, poses = [], []
    for number, line in enumerate(read_text(path, "trajectory").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.replace(",", " ").split()
        try:
            values = np.array([float(p) for p in parts])
        except ValueError:
            raise InputError(path, f"line {number}: not a number in '{line}'") from None
        if values.size != 8 or not np.all(np.isfinite(values)):
            raise InputError(path, f"line {number}: expected 8 finite numbers 't tx ty tz qx qy qz qw'")
        if np.linalg.norm(values[4:]) < 1e-9:
            raise InputError(path, f"line {number}: zero quaternion")
        if stamps and values[0] <= stamps[-1]:
            raise InputError(path, f"line {number}: timestamp {values[0]} does not increase")
        pose = transform_from_quaternion(values[1:4], values[4:])
        problem = pose_problem(pose)
        if problem:
            raise InputError(path, f"line {number}: {problem}")
        stamps.append(values[0])
        poses.append(pose)
    if not stamps:
        raise InputError(path, "trajectory holds no poses")
    return np.array(stamps, dtype=np.float64), np.array(poses, dtype=np.float64).reshape(-1, 4, 4)


def format_tum_trajectory(timestamps_s: np.ndarray, world_T_cameras: np.ndarray) -> str:
    """TUM text of a trajectory."""
    lines = ["# timestamp tx ty tz qx qy qz qw (world_T_camera, OpenCV camera axes)"]
    for t, pose in zip(timestamps_s, world_T_cameras):
        translation, q = quaternion_from_transform(pose)
        lines.append(f"{t:.6f} " + " ".join(f"{v:.9f}" for v in (*translation, *q)))
    return "\n".join(lines) + "\n"


def write_tum_trajectory(path: str | os.PathLike, timestamps_s: np.ndarray, world_T_cameras: np.ndarray) -> Path:
    """Write a trajectory in TUM format, atomically."""
    return atomic_write_text(path, format_tum_trajectory(timestamps_s, world_T_cameras))
