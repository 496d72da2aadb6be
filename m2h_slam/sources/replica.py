"""Replica sequences as the NICE-SLAM release lays them out (rendered by the iMAP authors).

    Replica/room0/results/frame000000.jpg     1200x680 colour
    Replica/room0/results/depth000000.png     uint16, metres = value / 6553.5, 0 = invalid
    Replica/room0/traj.txt                    line k: 16 numbers, the row-major 4x4 camera-to-world of frame k
    Replica/room0_mesh.ply                    the scene mesh (world frame, metres), beside the scene folder

Intrinsics: fx = fy = 600, cx = 599.5, cy = 339.5 at 1200x680 (NICE-SLAM ``configs/Replica/replica.yaml``),
rescaled for images of another size with the same aspect ratio.

Axes: ``traj.txt`` holds camera-to-world poses with OpenCV camera axes (x right, y down, z forward), the
convention the depth was rendered in, so they are used as they are. NICE-SLAM negates the y and z
columns when it loads them (``src/utils/datasets.py``), as it does for ScanNet and TUM poses, to feed
its OpenGL-style renderer; its mesh culling tool (``src/tools/cull_mesh.py``) undoes that flip to project
mesh vertices with the plain camera matrix. Poses with -inf / NaN give ``world_T_camera = None``.

Timestamps: the renders have none; frame k is numbered k / 30 s (a nominal 30 Hz).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from m2h_slam.core.config import InputConfig
from m2h_slam.core.errors import InputError, read_text
from m2h_slam.core.intrinsics import Intrinsics
from m2h_slam.core.records import Frame
from m2h_slam.formats import image_io
from m2h_slam.sources.sequence import ReadOptions, Sequence
from m2h_slam.sources.sequence_folder import check_size

DEPTH_UNITS_PER_M = 6553.5
FRAME_RATE_HZ = 30.0  # nominal: the renders carry no timestamps
RENDER_INTRINSICS = Intrinsics(600.0, 600.0, 599.5, 339.5, 1200, 680)
FRAME_NAME = re.compile(r"frame(\d+)\.jpg")


def is_replica(path: Path) -> bool:
    """A NICE-SLAM Replica scene folder: ``traj.txt`` beside ``results/``."""
    return (path / "traj.txt").is_file() and (path / "results").is_dir()


def numbered_frames(results: Path) -> dict[int, Path]:
    """{k: results/frameK.jpg}; empty if there is no folder."""
    if not results.is_dir():
        return {}
    return {int(m.group(1)): p for p in results.iterdir() if (m := FRAME_NAME.fullmatch(p.name))}


def depth_path(frame_path: Path) -> Path:
    """``results/depthK.png`` of ``results/frameK.jpg`` (same digits)."""
    return frame_path.with_name("depth" + frame_path.name[len("frame"):-len(".jpg")] + ".png")


def read_trajectory(path: Path) -> list[np.ndarray | None]:
    """Camera-to-world poses, one per non-empty line of 16 numbers; None for lines holding -inf / NaN."""
    if not path.is_file():
        raise InputError(path, "missing (a Replica scene has traj.txt beside results/)")
    poses: list[np.ndarray | None] = []
    for number, line in enumerate(read_text(path, "trajectory").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            values = np.array(line.split(), dtype=np.float64)
        except ValueError:
            raise InputError(path, f"line {number}: not numbers") from None
        if values.size != 16:
            raise InputError(path, f"line {number}: {values.size} numbers; expected 16 (a row-major 4x4 pose)")
        pose = values.reshape(4, 4)
        if not np.isfinite(pose).all():
            poses.append(None)
            continue
        if not np.allclose(pose[3], [0.0, 0.0, 0.0, 1.0], atol=1e-6):
            raise InputError(path, f"line {number}: last row is {pose[3].tolist()}, not 0 0 0 1")
        poses.append(pose)
    return poses


def scene_mesh(scene: Path) -> Path | None:
    """``Replica/SCENE_mesh.ply`` beside the scene folder, if present."""
    mesh = scene.parent / f"{scene.name}_mesh.ply"
    return mesh if mesh.is_file() else None


def render_intrinsics(width: int, height: int) -> Intrinsics | None:
    """The render camera for ``width`` x ``height`` images; None if the aspect ratio is not 1200:680."""
    if abs(width / height - RENDER_INTRINSICS.width / RENDER_INTRINSICS.height) > 0.01:
        return None
    return RENDER_INTRINSICS if (width, height) == RENDER_INTRINSICS.size else RENDER_INTRINSICS.rescaled(width, height)


class ReplicaSequence(Sequence):
    """One Replica scene of the NICE-SLAM release. ``path``: the scene folder (``Replica/room0``)."""

    format = "replica"

    def __init__(self, path: str | os.PathLike, options: ReadOptions, config: InputConfig):
        super().__init__(path, options, config)
        results = self.path / "results"
        frames = numbered_frames(results)
        if not frames:
            raise InputError(results, "holds no frameNNNNNN.jpg images")
        self.numbers = sorted(frames)
        self.frames = [frames[k] for k in self.numbers]
        self.depths = [depth_path(p) for p in self.frames]
        for frame, depth in zip(self.frames, self.depths):
            if not depth.is_file():
                raise InputError(depth, f"missing ({frame.name} exists)")
        traj = self.path / "traj.txt"
        self.poses = read_trajectory(traj)
        if len(self.poses) <= self.numbers[-1]:
            raise InputError(traj, f"holds {len(self.poses)} poses but results/ has {self.frames[-1].name} "
                                   f"(frame {self.numbers[-1]} needs line {self.numbers[-1] + 1})")
        self.fps = FRAME_RATE_HZ
        height, width = image_io.read_rgb(self.frames[0]).shape[:2]
        K = render_intrinsics(width, height)
        if K is None and options.intrinsics_path is None and options.fov_deg is None:
            raise InputError(self.frames[0], f"is {width}x{height}, not the 1200x680 of the NICE-SLAM renders "
                                             "(or a scaled copy); pass --intrinsics")
        source = "Replica render camera (NICE-SLAM: f=600 px at 1200x680)"
        self._resolve_intrinsics(width, height, None if K is None else (K, source))

    @property
    def raw_length(self) -> int:
        return len(self.numbers)

    @property
    def ground_truth(self) -> tuple[str, ...]:
        return ("depth_m", "world_T_camera")

    @property
    def reference_mesh(self) -> Path | None:
        return scene_mesh(self.path)

    def frame_file(self, field: str, index: int) -> Path | None:
        if field == "world_T_camera":
            return self.path / "traj.txt"
        files = {"rgb": self.frames, "depth_m": self.depths}.get(field)
        return None if files is None else files[index]

    def raw_frames(self, indices: range) -> Iterator[Frame]:
        K = self.native_intrinsics
        for index in indices:
            number = self.numbers[index]
            rgb = image_io.read_rgb(self.frames[index])
            check_size(self.frames[index], "image", rgb, K.width, K.height)
            depth = None
            if self.ground_truth_images:
                depth = image_io.read_depth(self.depths[index], DEPTH_UNITS_PER_M)
                check_size(self.depths[index], "depth", depth, K.width, K.height)
            pose = self.poses[number]
            yield Frame(index, number / FRAME_RATE_HZ, rgb, K, depth_m=depth,
                        world_T_camera=None if pose is None else pose.copy())
