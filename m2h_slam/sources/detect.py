"""``open_sequence``: one entry point that recognises every supported source."""

from __future__ import annotations

import os
from pathlib import Path

from m2h_slam.core.config import InputConfig
from m2h_slam.core.errors import InputError
from m2h_slam.sources.hypersim import HypersimSequence, is_hypersim
from m2h_slam.sources.image_folder import ImageFolderSequence, list_images
from m2h_slam.sources.nyudmt import NyudMtSequence, is_nyudmt
from m2h_slam.sources.replica import ReplicaSequence, is_replica
from m2h_slam.sources.scannet import ScannetSequence, is_scannet
from m2h_slam.sources.sequence import ReadOptions, Sequence
from m2h_slam.sources.sequence_folder import FOLDERS, MANIFEST, FolderSequence
from m2h_slam.sources.tum import TumSequence
from m2h_slam.sources.video import VIDEO_SUFFIXES, VideoSequence


def detect_format(path: Path) -> type[Sequence]:
    """The reader class for ``path``; ``InputError`` if missing, empty or unknown."""
    if not path.exists():
        raise InputError(path, "no such file or folder")
    if path.is_dir():
        if (path / MANIFEST).is_file():
            return FolderSequence
        if is_hypersim(path):
            return HypersimSequence
        if is_scannet(path):
            return ScannetSequence
        if is_replica(path):
            return ReplicaSequence
        if is_nyudmt(path):
            return NyudMtSequence
        if (path / "rgb.txt").is_file():
            return TumSequence
        _refuse_without_list(path)
        if not any(path.iterdir()):
            raise InputError(path, "folder is empty")
        if list_images(path):
            return ImageFolderSequence
        raise InputError(
            path, f"unknown format: no {MANIFEST} (m2h sequence), _detail/metadata_scene.csv (Hypersim), "
                  "color/ + pose/ (ScanNet), results/ + traj.txt (Replica), gt_sets/ + images/ (NYUD-MT), "
                  "rgb.txt (TUM RGB-D) or images in the folder"
        )
    if is_nyudmt(path):  # gt_sets/SPLIT.txt of a NYUD-MT release
        return NyudMtSequence
    if path.stat().st_size == 0:
        raise InputError(path, "file is empty")
    if path.suffix.lower() in VIDEO_SUFFIXES:
        return VideoSequence
    raise InputError(path, f"unknown format: '{path.suffix}' is not a video suffix ({', '.join(VIDEO_SUFFIXES)})")


def _refuse_without_list(path: Path) -> None:
    """``InputError`` for a folder with ``rgb/`` beside frames.txt or ground-truth folders: an m2h sequence that
    lost its manifest (or a TUM RGB-D folder its ``rgb.txt``), not an image folder of whatever lies on top."""
    if not (path / "rgb").is_dir():
        return
    if (path / "depth.txt").is_file():
        raise InputError(path / "rgb.txt", "not found: the folder has rgb/ and depth.txt of a TUM RGB-D sequence "
                                           "but no rgb.txt listing its images")
    signs = [name for name in ("frames.txt", *FOLDERS.values()) if (path / name).exists()]
    if signs:
        raise InputError(path / MANIFEST, f"not found: the folder has rgb/ and {', '.join(signs[:3])} of an m2h "
                                          f"sequence but no {MANIFEST} (its intrinsics and depth units); pass rgb/ "
                                          "to read the images alone")


def open_sequence(
    path: str | os.PathLike, options: ReadOptions | None = None, config: InputConfig | None = None
) -> Sequence:
    """Open any supported source: m2h sequence folder, Hypersim scene (one camera), ScanNet scene, Replica scene,
    NYUD-MT split (the release root: val; or its gt_sets/SPLIT.txt), TUM RGB-D folder, image folder or video file."""
    path, options = Path(path), options or ReadOptions()
    reader = detect_format(path)
    if options.fov_deg is not None and options.intrinsics_path is not None:
        raise InputError(None, "--fov-deg and --intrinsics exclude each other: the file gives the focal length; "
                               "--fov-deg is for sources without intrinsics")
    if options.camera is not None and reader is not HypersimSequence:
        raise InputError(path, f"--camera picks a camera of a Hypersim scene; this is a {reader.format} source")
    return reader(path, options, config or InputConfig())
