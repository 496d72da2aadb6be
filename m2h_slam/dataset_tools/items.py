"""The units of work of a data-set evaluation: one item per scene and camera (or per chunk of a frame set).

A data-set root is either one source that ``open_sequence`` reads (a Hypersim scene, a ScanNet or Replica scene,
the NYUD-MT folder, an m2h sequence) or a folder whose sub-folders are such sources (a Hypersim download with
many scenes, ScanNet's ``scans/``, NICE-SLAM's ``Replica/``). A Hypersim scene gives one item per camera; with
``split`` and Hypersim's ``metadata_images_split_scene_v1.csv`` in the root, only the split's cameras; NYUD-MT
reads ``gt_sets/SPLIT.txt`` (default val). Sources without poses (NYUD-MT) are cut into chunks of
``chunk_frames`` frames so that workers can share them.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from m2h_slam.core.config import InputConfig
from m2h_slam.core.errors import InputError
from m2h_slam.sources.detect import detect_format, open_sequence
from m2h_slam.sources.hypersim import HypersimSequence
from m2h_slam.sources.image_folder import ImageFolderSequence
from m2h_slam.sources.nyudmt import NyudMtSequence
from m2h_slam.sources.replica import ReplicaSequence
from m2h_slam.sources.scannet import ScannetSequence
from m2h_slam.sources.sequence import ReadOptions, Sequence
from m2h_slam.sources.sequence_folder import FolderSequence
from m2h_slam.sources.video import VideoSequence

SPLIT_CSV = "metadata_images_split_scene_v1.csv"  # Hypersim's official split, in the data-set root
NOT_BENCHMARKS = (ImageFolderSequence, VideoSequence)  # sources without ground truth are not data-set scenes
READERS = {reader.format: reader for reader in (FolderSequence, HypersimSequence, ScannetSequence, ReplicaSequence,
                                                NyudMtSequence)}


@dataclass(frozen=True)
class DatasetItem:
    """One unit of work. ``name``: unique and path-safe ("ai_001_001-cam_00", "nyudmt-val-0100");
    ``span``: (first, count) positions of the sequence's frames, None for all of them."""

    name: str
    path: Path
    format: str
    camera: str | None = None
    span: tuple[int, int] | None = None
    broken: bool = False  # a sub-folder beside the scenes that is not recognised as one: opened by ``format``'s reader


def dataset_items(root: str | Path, split: str | None = None, chunk_frames: int = 100,
                  options: ReadOptions = ReadOptions(), config: InputConfig = InputConfig()) -> list[DatasetItem]:
    """The items of a data set, in a stable order; ``options`` and ``config`` as the items will be read (chunks
    count the frames they select). ``InputError`` when the root holds no supported source."""
    root = Path(root)
    try:
        reader = detect_format(root)
        sources = [(root, reader)] if reader not in NOT_BENCHMARKS else []
    except InputError:
        if not root.is_dir():
            raise
        sources = []
    broken: list[Path] = []  # sub-folders beside scenes that are no readable scene: listed as failed, not dropped
    if not sources:
        for child in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            try:
                reader = detect_format(child)
            except (InputError, OSError):
                broken.append(child)
                continue
            if reader not in NOT_BENCHMARKS:
                sources.append((child, reader))
    if not sources:
        raise InputError(root, "holds no data-set scene (Hypersim, ScanNet, Replica, NYUD-MT or m2h sequence "
                               "folders, directly or one level down)")
    layout = Counter(reader for _, reader in sources).most_common(1)[0][0]  # what the broken ones should be
    sources = sorted([*sources, *((child, None) for child in broken)], key=lambda source: source[0].name)
    wanted = _hypersim_split(root, split)
    items = []
    for path, reader in sources:
        if reader is None:  # its reader (the layout's) says what it lacks when the item is opened
            if wanted is None or path.name in {scene for scene, _ in wanted}:
                items.append(DatasetItem(path.name, path, layout.format, broken=True))
        elif reader.format == "hypersim":
            from m2h_slam.sources.hypersim import scene_cameras

            for camera in scene_cameras(path) or [None]:
                if wanted is None or (path.name, camera) in wanted:
                    items.append(DatasetItem(f"{path.name}-{camera}" if camera else path.name, path, reader.format,
                                             camera))
        elif reader.format == "nyudmt":
            if split is not None and path.is_dir():
                path = path / "gt_sets" / f"{split}.txt"  # the reader opens a split by its list file
            name = f"{path.parent.parent.name}-{path.stem}" if path.is_file() else f"{path.name}-val"
            try:
                total = len(open_sequence(path, options, config))
            except (InputError, OSError):  # listed as failed when opened again
                items.append(DatasetItem(f"{name}-00000", path, reader.format))
                continue
            items += [DatasetItem(f"{name}-{first:05d}", path, reader.format, None,
                                  (first, min(chunk_frames, total - first))) for first in range(0, total, chunk_frames)]
        else:
            items.append(DatasetItem(path.name, path, reader.format))
    if wanted is not None and not items:
        raise InputError(root / SPLIT_CSV, f"none of the '{split}' split's scenes is in {root}")
    return items


def _hypersim_split(root: Path, split: str | None) -> set[tuple[str, str]] | None:
    """(scene, camera) pairs of Hypersim's official ``split``; None when no split applies."""
    csv_path = root / SPLIT_CSV
    if split is None or not csv_path.is_file():
        return None
    from m2h_slam.sources.hypersim import split_cameras

    return set(split_cameras(csv_path, split))


def open_item(item: DatasetItem, options: ReadOptions, config: InputConfig) -> Sequence:
    """The sequence of an item (its camera; ``item.span`` is applied by the caller). A broken item is opened by the
    reader of its data set's layout, whose ``InputError`` names the file the scene lacks."""
    options = dataclasses.replace(options, camera=item.camera)
    if item.broken:
        try:
            return open_sequence(item.path, options, config)
        except InputError as error:
            if error.path is not None and Path(error.path) != item.path:
                raise  # it names the file the scene lacks
        return READERS[item.format](item.path, options, config)  # "unknown format": the layout's reader says more
    return open_sequence(item.path, options, config)
