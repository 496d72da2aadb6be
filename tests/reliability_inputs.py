"""Reliability cases: inputs (see tests/reliability_table.py; merged into tests/test_reliability.py).

Broken copies of ``{w}/seq`` (96x72, 8 frames, every kind of ground truth), one problem each, read by ``run`` and
by ``info --check`` alike (one validator: the readers and ``sources.validate.FrameCheck``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import yaml
from reliability_table import Case

CASES: dict[str, Case] = {}


def _both(name: str, target: str, flags: str, status: int, message: str, inputs: tuple[str, ...]) -> None:
    """The same input read by ``run`` and by ``info --check``: both must end alike."""
    CASES[f"{name} (run)"] = Case(f"run {{w}}/{target} --out {{out}}/r {flags}".strip(), status, message, inputs)
    info_flags = flags.replace("--gt-perception", "").strip()
    CASES[f"{name} (info --check)"] = Case(f"info {{w}}/{target} --check {info_flags}".strip(), status, message, inputs)


# semantic ids outside NYU40 are read as 0 (unknown) with one warning; info --check reports the same warning on
# stdout (tests/test_sequence_folder.py checks that)
CASES["semantic label 255"] = Case("run {w}/label255 --out {out}/r --gt-perception", 0,
                                   "semantics/000003.png: semantic ids above 40 (outside NYU40) in 100 px of frame 3",
                                   ("label255",))
CASES["16-bit semantic label 60000"] = Case("run {w}/label60000 --out {out}/r --gt-perception", 0,
                                            "semantics/000003.png: semantic ids above 40", ("label60000",))
# ground-truth poses that are no rigid camera pose
_both("ground-truth translation 1e308", "pose1e308", "--gt-perception", 2,
      "groundtruth.txt: line 5: camera position has a coordinate of 1e+308 m", ("pose1e308",))
_both("ground-truth rotation scaled by 2", "replica", "--gt-perception", 2,
      "traj.txt: ground-truth pose of frame 1: rotation is not orthonormal", ("replica",))
_both("infinite timestamp", "stampinf", "--gt-perception", 2,
      "frames.txt: entry 7: timestamp inf s is not a finite time", ("stampinf",))
# frames too small or too narrow at the working size
_both("frames of 10000x10 px", "wide", "--fov-deg 60", 2,
      "0.png: frames of 10000x10 px (1280x1 px at the working size", ("wide",))
CASES["resize to 4000x8"] = Case("run {w}/seq --out {out}/r --gt-perception --resize 4000x8", 2,
                                 "seq: frames of 96x72 px (4000x8 px at the working size, --resize)")
# files that are not what they should be
CASES["--poses of random bytes"] = Case("run {w}/seq --out {out}/r --gt-perception --poses {w}/random.txt", 2,
                                        "random.txt: not a text file", ("seq", "random.txt"))
_both("fps -15", "fpsneg", "--gt-perception", 2, "sequence.yaml: fps must be a positive number, got -15",
      ("fpsneg",))
_both("sequence without sequence.yaml", "nomanifest", "--gt-perception", 2,
      "nomanifest/sequence.yaml: not found: the folder has rgb/ and frames.txt", ("nomanifest",))
_both("frames.txt of random bytes", "framesbin", "--gt-perception", 2, "frames.txt: not a text file",
      ("framesbin",))
# intrinsics given on the command line
_both("--fov-deg beside --intrinsics", "seq", "--gt-perception --fov-deg 60 --intrinsics {w}/k384.yaml", 2,
      "--fov-deg and --intrinsics exclude each other", ("seq", "k384.yaml"))
_both("intrinsics for 384x288 on 96x72 frames", "seq", "--gt-perception --intrinsics {w}/k384.yaml", 0,
      "k384.yaml: intrinsics are for 384x288 but the frames are 96x72: RESCALED", ("seq", "k384.yaml"))
_both("--fov-deg 90 over the sequence's intrinsics", "seq", "--gt-perception --fov-deg 90", 0,
      "seq: --fov-deg 90 REPLACES the source's own intrinsics (sequence.yaml: fx=68.6 px", ("seq",))
# what a run needs of the ground truth, named by the sequence's path
CASES["--poses gt without ground-truth poses"] = Case("run {w}/nogt --out {out}/r --gt-perception --poses gt", 2,
                                                      "nogt: --poses gt needs ground-truth poses", ("nogt",))
CASES["--gt-perception without depth"] = Case("run {w}/nodepth --out {out}/r --gt-perception", 2,
                                              "nodepth: --gt-perception needs ground-truth depth", ("nodepth",))


def make_inputs(root: Path) -> None:
    """Write the inputs these cases read under ``root`` (the table's {w})."""
    import cv2

    from m2h_slam.formats.image_io import write_depth, write_rgb

    seq = root / "seq"
    variants = {}
    for name in ("label255", "label60000", "pose1e308", "stampinf", "fpsneg", "nomanifest", "framesbin", "nogt",
                 "nodepth"):
        variants[name] = Path(shutil.copytree(seq, root / name))
    labels = cv2.imread(str(seq / "semantics" / "000003.png"), cv2.IMREAD_UNCHANGED)
    assert labels.dtype == np.uint8 and labels.max() <= 40
    void = labels.copy()
    void[10:20, 10:20] = 255  # the common "void" id of 8-bit label images
    cv2.imwrite(str(variants["label255"] / "semantics" / "000003.png"), void)
    wide = labels.astype(np.uint16)
    wide[10:20, 10:20] = 60000  # 60000 % 256 = 96: wrapped into uint8 it would still be outside NYU40
    cv2.imwrite(str(variants["label60000"] / "semantics" / "000003.png"), wide)

    lines = (seq / "groundtruth.txt").read_text().splitlines()
    assert lines[0].startswith("#") and len(lines) == 9
    parts = lines[4].split()  # frame 3
    parts[1] = "1e308"
    lines[4] = " ".join(parts)
    (variants["pose1e308"] / "groundtruth.txt").write_text("\n".join(lines) + "\n")

    stamps = (seq / "frames.txt").read_text().splitlines()
    stamps[-1] = stamps[-1].split()[0] + " inf"
    (variants["stampinf"] / "frames.txt").write_text("\n".join(stamps) + "\n")
    (variants["framesbin"] / "frames.txt").write_bytes(bytes(range(128, 256)) * 4)

    manifest = yaml.safe_load((seq / "sequence.yaml").read_text())
    (variants["fpsneg"] / "sequence.yaml").write_text(yaml.safe_dump({**manifest, "fps": -15}))
    (variants["nomanifest"] / "sequence.yaml").unlink()
    (variants["nogt"] / "groundtruth.txt").unlink()
    shutil.rmtree(variants["nodepth"] / "depth")

    K = manifest["intrinsics"]  # the same camera at 4x the size: only the size differs
    (root / "k384.yaml").write_text(yaml.safe_dump({"fx": 4 * K["fx"], "fy": 4 * K["fy"], "cx": 4 * K["cx"] + 1.5,
                                                    "cy": 4 * K["cy"] + 1.5, "width": 384, "height": 288}))
    (root / "random.txt").write_bytes(np.random.default_rng(1).integers(128, 256, 4096, dtype=np.uint8).tobytes())

    wide_images = root / "wide"
    wide_images.mkdir()
    for k in range(3):
        write_rgb(wide_images / f"{k}.png", np.full((10, 10000, 3), 40 * k, np.uint8))

    # A Replica scene (NICE-SLAM layout, 120x68: the renders' aspect) whose frame 1 pose is scaled by 2.
    scene = root / "replica"
    (scene / "results").mkdir(parents=True)
    rows = []
    for k in range(3):
        write_rgb(scene / "results" / f"frame{k:06d}.jpg", np.full((68, 120, 3), 60 + 40 * k, np.uint8))
        write_depth(scene / "results" / f"depth{k:06d}.png", np.full((68, 120), 2.0, np.float32), 6553.5)
        pose = np.eye(4)
        pose[:3, 3] = [0.05 * k, 0.0, 0.0]
        if k == 1:
            pose[:3, :3] *= 2.0
        rows.append(" ".join(f"{v:.6f}" for v in pose.ravel()))
    (scene / "traj.txt").write_text("\n".join(rows) + "\n")
