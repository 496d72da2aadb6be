"""NYUD-MT: the multi-task NYUv2 release (795 train / 654 val images) of ASTMT, MTI-Net, ATRC and InvPT.

    NYUD_MT/gt_sets/{train,val}.txt                   one NAME per line
    NYUD_MT/images/NAME.jpg (InvPT: .png)             RGB
    NYUD_MT/depth/NAME.npy (ASTMT: .mat 'depth')      float metres, 0 = invalid
    NYUD_MT/segmentation/NAME.png (ASTMT: .mat 'segmentation')   0 = void, 1..40 NYU40 ids
    NYUD_MT/normals/NAME.npy (ATRC, MTI-Net: float)   or NAME.png / .jpg (InvPT, ASTMT: 8-bit, n = 2 v / 255 - 1)
    NYUD_MT/edge/NAME.npy (ATRC, MTI-Net: float 0/1)  or NAME.png (InvPT, ASTMT: 0/255)

The images are independent stills, not a video: no poses; frame k is numbered k / ``input.image_fps`` s.
The sequence holds one split, ``val`` by default; open ``NYUD_MT/gt_sets/train.txt`` (or pass
``split="train"``, or call ``open_nyudmt``) for the other. Frames follow the split file's order.

This reader is the one place where the release's conventions are converted:

- Semantics: stored as our own ids (0 void -> 0 unknown, 1..40 NYU40; the training loaders subtract 1
  to get 40 class indices with 255 ignored). Values above 40 -> 0.
- Normals: unit vectors in the camera frame with x right, y down and z pointing *towards* the camera
  (the NYU colouring: red right, green down, blue towards the viewer; a wall facing the camera is
  (0, 0, 1)). OpenCV's z points away from the camera, so n_opencv = (x, y, -z); the result faces the
  camera as ours must. Zero vectors (the loaders' "invalid") and 8-bit pixels that are black or decode
  to less than half a unit vector -> 0; the rest is renormalised to unit length.
- Depth: NaN, inf and negative -> 0. Edges: 1 where the stored value is above half its range.
- Intrinsics: the NYUv2 toolbox calibration (``camera_params.m``: fx 518.857901, fy 519.469611,
  cx 325.582449, cy 253.736166 at 640x480) is in MATLAB's 1-based pixel coordinates, so cx and cy are
  one less in ours. 560x425 images (the ATRC / InvPT release) are NYU's standard crop, 44 rows off the
  top and 40 columns off the left; other sizes are rescaled from whichever of the two has their aspect
  ratio.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from m2h_slam.core.config import InputConfig
from m2h_slam.core.errors import InputError, read_text
from m2h_slam.core.intrinsics import Intrinsics
from m2h_slam.core.records import Frame
from m2h_slam.formats import image_io
from m2h_slam.sources.sequence import ReadOptions, Sequence

SPLITS = ("train", "val")
DEFAULT_SPLIT = "val"
_FX, _FY, _CX_MATLAB, _CY_MATLAB = 518.857901, 519.469611, 325.582449, 253.736166
FULL_INTRINSICS = Intrinsics(_FX, _FY, _CX_MATLAB - 1, _CY_MATLAB - 1, 640, 480)
CROP_OFFSET_PX = (40, 44)  # (columns, rows) cut off the left and the top by the standard crop
CROP_INTRINSICS = Intrinsics(_FX, _FY, FULL_INTRINSICS.cx - CROP_OFFSET_PX[0], FULL_INTRINSICS.cy - CROP_OFFSET_PX[1],
                             560, 425)
NYU_TO_OPENCV = np.array([1.0, 1.0, -1.0], np.float32)  # z towards the camera -> z away from it
#: Accepted files per kind of data, in order of preference.
SUFFIXES = {
    "images": (".jpg", ".png"),
    "depth": (".npy", ".mat"),
    "segmentation": (".png", ".mat"),
    "normals": (".npy", ".png", ".jpg"),
    "edge": (".npy", ".png"),
}
GROUND_TRUTH_FOLDERS = {"depth": "depth_m", "segmentation": "semantics", "normals": "normals", "edge": "edges"}


def split_root(path: Path) -> tuple[Path, str | None]:
    """(release root, split) of a path that is the root or a ``gt_sets/SPLIT.txt`` file in it."""
    if path.suffix == ".txt" and path.parent.name == "gt_sets":
        return path.parent.parent, path.stem
    return path, None


def is_nyudmt(path: Path) -> bool:
    """A NYUD-MT root (``gt_sets/`` beside ``images/``) or a split file ``gt_sets/SPLIT.txt`` of one."""
    root, split = split_root(path)
    if split is not None and not path.is_file():
        return False
    return (root / "gt_sets").is_dir() and (root / "images").is_dir()


def read_split(root: Path, split: str) -> list[str]:
    """The image names of ``gt_sets/SPLIT.txt``, in file order."""
    path = root / "gt_sets" / f"{split}.txt"
    if not path.is_file():
        raise InputError(path, f"split file missing (NYUD-MT has gt_sets/{{{','.join(SPLITS)}}}.txt)")
    names = [line.strip() for line in read_text(path, "split").splitlines() if line.strip()]
    if not names:
        raise InputError(path, "lists no images")
    return names


def find_file(folder: Path, name: str, suffixes: tuple[str, ...]) -> Path | None:
    """The first of ``folder/NAME<suffix>`` that exists."""
    return next((folder / (name + s) for s in suffixes if (folder / (name + s)).is_file()), None)


def release_intrinsics(width: int, height: int) -> tuple[Intrinsics, str] | None:
    """NYUv2 calibration for ``width`` x ``height`` images (full frame or the standard crop); None if neither fits."""
    for K, what in ((FULL_INTRINSICS, "640x480"), (CROP_INTRINSICS, "standard crop 560x425")):
        if (width, height) == K.size:
            return K, f"NYUv2 Kinect calibration ({what})"
        if abs(width / height - K.width / K.height) < 0.005:
            return K.rescaled(width, height), f"NYUv2 Kinect calibration ({what}), rescaled to {width}x{height}"
    return None


def _read_mat(path: Path, key: str) -> np.ndarray:
    import scipy.io

    try:
        content = scipy.io.loadmat(path)
    except Exception as error:  # scipy raises many kinds for foreign or v7.3 files
        raise InputError(path, f"cannot read as a MATLAB file ({type(error).__name__}: {error})") from None
    if key not in content:
        raise InputError(path, f"has no '{key}' array")
    return np.asarray(content[key])


def _read_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise InputError(path, f"cannot read as a .npy array ({error})") from None


def _plane(array: np.ndarray, path: Path, what: str) -> np.ndarray:
    array = np.squeeze(array)
    if array.ndim != 2:
        raise InputError(path, f"{what} must be one (H, W) plane, got shape {array.shape}")
    return array


def read_depth(path: Path) -> np.ndarray:
    """(H, W) float32 metres; NaN, inf and negative -> 0."""
    raw = _read_npy(path) if path.suffix == ".npy" else _read_mat(path, "depth")
    depth = _plane(raw, path, "depth").astype(np.float32)
    return np.where(np.isfinite(depth) & (depth > 0), depth, 0.0).astype(np.float32)


def read_semantics(path: Path) -> np.ndarray:
    """(H, W) uint8 NYU40 ids (0 = unknown); values above 40 -> 0."""
    raw = image_io.read_labels(path) if path.suffix == ".png" else _read_mat(path, "segmentation")
    labels = _plane(raw, path, "segmentation").astype(np.int64)
    return np.where((labels >= 0) & (labels <= 40), labels, 0).astype(np.uint8)


def read_normals(path: Path) -> np.ndarray:
    """(H, W, 3) float32 unit normals, OpenCV camera axes, facing the camera; 0 where invalid."""
    if path.suffix == ".npy":
        stored = np.nan_to_num(_read_npy(path).astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        blank = np.zeros(stored.shape[:-1], bool)
    else:
        codes = image_io.read_rgb(path)
        stored = codes.astype(np.float32) * np.float32(2.0 / 255.0) - 1.0
        blank = np.all(codes == 0, axis=-1)
    if stored.ndim != 3 or stored.shape[2] != 3:
        raise InputError(path, f"normals must be (H, W, 3), got shape {stored.shape}")
    length = np.linalg.norm(stored, axis=-1, keepdims=True)
    valid = (length[..., 0] >= 0.5) & ~blank
    normals = np.where(valid[..., None], stored / np.maximum(length, 1e-6), 0.0) * NYU_TO_OPENCV
    return np.ascontiguousarray(normals, dtype=np.float32) + 0.0  # + 0.0 turns -0.0 into 0.0


def read_edges(path: Path) -> np.ndarray:
    """(H, W) uint8, 1 on boundaries (stored value above half its range)."""
    if path.suffix == ".npy":
        return (_plane(_read_npy(path), path, "edges").astype(np.float32) > 0.5).astype(np.uint8)
    codes = _plane(image_io.read_labels(path), path, "edges")
    return (codes > (127 if codes.max(initial=0) > 1 else 0)).astype(np.uint8)


def _fit(array: np.ndarray, K: Intrinsics, path: Path) -> np.ndarray:
    """``array`` at the image size: as is, resized (nearest) if only the scale differs, else ``InputError``."""
    height, width = array.shape[:2]
    if (width, height) == K.size:
        return array
    if abs(width / height - K.width / K.height) > 0.02:
        raise InputError(path, f"is {width}x{height}, another shape than the {K.width}x{K.height} image")
    return cv2.resize(array, K.size, interpolation=cv2.INTER_NEAREST)


class NyudMtSequence(Sequence):
    """One split of NYUD-MT. ``path``: the release root (``split`` picks the split, default ``val``) or its
    ``gt_sets/SPLIT.txt``."""

    format = "nyudmt"

    def __init__(self, path: str | os.PathLike, options: ReadOptions, config: InputConfig, split: str | None = None):
        root, named = split_root(Path(path))
        super().__init__(root, options, config)
        self.split = split or named or DEFAULT_SPLIT
        self.names = read_split(self.path, self.split)
        self.files: dict[str, list[Path]] = {}
        for folder, suffixes in SUFFIXES.items():
            if folder != "images" and not (self.path / folder).is_dir():
                continue
            found = [find_file(self.path / folder, name, suffixes) for name in self.names]
            missing = next((name for name, file in zip(self.names, found) if file is None), None)
            if missing is not None:
                raise InputError(self.path / folder / (missing + suffixes[0]),
                                 f"missing (listed in gt_sets/{self.split}.txt; also looked for "
                                 f"{', '.join(suffixes[1:])})")
            self.files[folder] = found
        self.fps = config.image_fps
        height, width = image_io.read_rgb(self.files["images"][0]).shape[:2]
        own = release_intrinsics(width, height)
        if own is None and options.intrinsics_path is None and options.fov_deg is None:
            raise InputError(self.files["images"][0], f"is {width}x{height}, neither 640x480 nor the 560x425 crop "
                                                      "(nor a scaled copy); pass --intrinsics")
        self._resolve_intrinsics(width, height, own)

    @property
    def raw_length(self) -> int:
        return len(self.names)

    @property
    def ground_truth(self) -> tuple[str, ...]:
        return tuple(field for folder, field in GROUND_TRUTH_FOLDERS.items() if folder in self.files)

    def raw_frames(self, indices: range) -> Iterator[Frame]:
        K = self.native_intrinsics
        readers = {"depth": read_depth, "segmentation": read_semantics, "normals": read_normals, "edge": read_edges}
        readers = readers if self.ground_truth_images else {}
        for index in indices:
            image = self.files["images"][index]
            rgb = image_io.read_rgb(image)
            if rgb.shape[:2] != (K.height, K.width):
                raise InputError(image, f"image is {rgb.shape[1]}x{rgb.shape[0]} but the split's first is "
                                        f"{K.width}x{K.height}")
            extra = {}
            for folder, read in readers.items():
                if folder in self.files:
                    path = self.files[folder][index]
                    extra[GROUND_TRUTH_FOLDERS[folder]] = _fit(read(path), K, path)
            yield Frame(index, index / self.fps, rgb, K, **extra)


def open_nyudmt(root: str | os.PathLike, split: str = DEFAULT_SPLIT, options: ReadOptions | None = None,
                config: InputConfig | None = None) -> NyudMtSequence:
    """One split (``train`` or ``val``) of the NYUD-MT release at ``root``."""
    return NyudMtSequence(root, options or ReadOptions(), config or InputConfig(), split=split)
