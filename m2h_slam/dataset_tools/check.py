"""What a data set download holds and lacks, per scene: the logic of ``datasets/check_*.py``.

Each ``check_KIND(scene)`` looks at one scene (the NYUD-MT release counts as one) and reports the files
found, those missing (folders, per-frame files, frame count mismatches) and problems (first files that
cannot be read, matrices that are not poses). ``main(kind, argv)`` finds the scenes under a path (the
path itself, or folders one or two levels down), prints one block per scene and returns 0 when every
scene is complete, 1 otherwise. Readers are used where they exist, so a scene that passes also opens.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from m2h_slam.core.errors import InputError
from m2h_slam.formats import image_io

SHOWN = 3  # missing files named per kind before "and N more"


@dataclass
class SceneReport:
    """found: what is there (short phrases); missing: absent paths; problems: unreadable or wrong files;
    notes: facts that do not make the scene incomplete."""

    scene: Path
    found: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.missing and not self.problems

    def require(self, path: Path, label: str) -> bool:
        """Record ``path`` as found or missing (``label``: how to name it); True if it exists."""
        if path.exists():
            self.found.append(label)
            return True
        self.missing.append(label)
        return False

    def missing_files(self, names: Iterable[str]) -> None:
        """Record absent files of one kind, naming the first few."""
        names = list(names)
        if names:
            more = f" (and {len(names) - SHOWN} more)" if len(names) > SHOWN else ""
            self.missing.append(f"{', '.join(names[:SHOWN])}{more}")

    def attempt(self, read: Callable[[], object]) -> object | None:
        """Run one read; an ``InputError`` becomes a problem."""
        try:
            return read()
        except InputError as error:
            self.problems.append(str(error))
            return None


def _counts(report: SceneReport, kinds: dict[str, dict[int, Path]], reference: str, pattern: dict[str, str]) -> None:
    """Compare the frame numbers of each kind with those of ``reference``; name absent files."""
    report.found.append(", ".join(f"{len(files)} {kind}" for kind, files in kinds.items()))
    wanted, others = set(kinds[reference]), set()
    for kind, files in kinds.items():
        if kind != reference:
            report.missing_files(pattern[kind].format(n) for n in sorted(wanted - set(files)))
            others |= set(files)
    report.missing_files(pattern[reference].format(n) for n in sorted(others - wanted))


def check_scannet(scene: Path) -> SceneReport:
    from m2h_slam.sources.scannet import (
        LABEL_TABLE,
        find_label_table,
        frames_root,
        numbered_files,
        read_pose,
        scene_mesh,
    )

    report, root = SceneReport(scene), frames_root(scene)
    prefix = "" if root == scene else "frames/"
    for folder in ("color", "depth", "pose", "intrinsic"):
        report.require(root / folder, f"{prefix}{folder}/")
    for name in ("intrinsic_depth.txt", "intrinsic_color.txt"):
        if (root / "intrinsic").is_dir():
            report.require(root / "intrinsic" / name, f"{prefix}intrinsic/{name}")
    kinds = {"color": numbered_files(root / "color", ".jpg"), "depth": numbered_files(root / "depth", ".png"),
             "pose": numbered_files(root / "pose", ".txt")}
    kinds = {kind: files for kind, files in kinds.items() if (root / kind).is_dir()}
    if "color" in kinds:
        if not kinds["color"]:
            report.missing.append(f"{prefix}color/N.jpg (the folder is empty)")
        _counts(report, kinds, "color", {"color": prefix + "color/{}.jpg", "depth": prefix + "depth/{}.png",
                                         "pose": prefix + "pose/{}.txt"})
    if kinds.get("color"):
        report.attempt(lambda: image_io.read_rgb(kinds["color"][min(kinds["color"])]))
    if kinds.get("depth"):
        report.attempt(lambda: image_io.read_depth(kinds["depth"][min(kinds["depth"])], 1000.0))
    if kinds.get("pose"):
        lost = 0
        for path in kinds["pose"].values():
            try:
                lost += read_pose(path) is None
            except InputError as error:
                report.problems.append(str(error))
                break
        if lost:
            report.notes.append(f"{lost} of {len(kinds['pose'])} poses are -inf/NaN (lost tracking): "
                                "those frames are read without a pose")
    mesh = scene_mesh(scene)
    report.notes.append(f"mesh {mesh.name}" if mesh else
                        f"no mesh {scene.name}_vh_clean_2.ply (no reconstruction scoring)")
    if (root / "label-filt").is_dir():
        table = find_label_table(scene)
        report.notes.append("label-filt/ present, " + (f"{LABEL_TABLE} found" if table else
                                                       f"but no {LABEL_TABLE} in the scene folder or above"))
    return report


def check_replica(scene: Path) -> SceneReport:
    from m2h_slam.sources.replica import depth_path, numbered_frames, read_trajectory, scene_mesh

    report = SceneReport(scene)
    has_results = report.require(scene / "results", "results/")
    has_traj = report.require(scene / "traj.txt", "traj.txt")
    frames = numbered_frames(scene / "results")
    if has_results and not frames:
        report.missing.append("results/frameNNNNNN.jpg (none)")
    depths = {k: depth_path(p) for k, p in frames.items()}
    report.found.append(f"{len(frames)} frames, {sum(p.is_file() for p in depths.values())} depth images")
    report.missing_files(f"results/{p.name}" for k, p in sorted(depths.items()) if not p.is_file())
    if has_results:
        extra = sorted(p.name for p in (scene / "results").glob("depth*.png")
                       if p.name not in {d.name for d in depths.values()})
        report.missing_files(f"results/{name.replace('depth', 'frame', 1)[:-4]}.jpg" for name in extra)
    if has_traj:
        poses = report.attempt(lambda: read_trajectory(scene / "traj.txt"))
        if poses is not None and frames and len(poses) < max(frames) + 1:
            report.missing.append(f"traj.txt: {len(poses)} poses for frames up to {max(frames)} "
                                  f"(needs {max(frames) + 1} lines)")
    if frames:
        first = min(frames)
        report.attempt(lambda: image_io.read_rgb(frames[first]))
        if depths[first].is_file():
            report.attempt(lambda: image_io.read_depth(depths[first], 6553.5))
    mesh = scene_mesh(scene)
    report.notes.append(f"mesh ../{mesh.name}" if mesh else
                        f"no mesh ../{scene.name}_mesh.ply (no reconstruction scoring)")
    return report


def check_nyudmt(root: Path) -> SceneReport:
    from m2h_slam.sources.nyudmt import SPLITS, SUFFIXES, find_file, open_nyudmt

    report = SceneReport(root)
    for folder in SUFFIXES:
        report.require(root / folder, f"{folder}/")
    splits = {}
    for split in SPLITS:
        if report.require(root / "gt_sets" / f"{split}.txt", f"gt_sets/{split}.txt"):
            splits[split] = [n.strip() for n in (root / "gt_sets" / f"{split}.txt").read_text().splitlines()
                             if n.strip()]
    for split, names in splits.items():
        report.found.append(f"{len(names)} {split} images listed")
        for folder, suffixes in SUFFIXES.items():
            if (root / folder).is_dir():
                report.missing_files(f"{folder}/{n}{suffixes[0]}" for n in names
                                     if find_file(root / folder, n, suffixes) is None)
    if report.complete and "val" in splits:
        frame = report.attempt(lambda: next(iter(open_nyudmt(root, "val"))))
        if frame is not None and frame.normals is not None and frame.depth_m is not None:
            angle = normals_depth_angle_deg(frame.normals, frame.depth_m, frame.intrinsics)
            verdict = "" if angle < 30 else " (large: the normals conversion in m2h_slam/sources/nyudmt.py may be wrong)"
            report.notes.append(f"first val image: normals vs normals from its depth, median angle {angle:.1f} deg"
                                + verdict)
    return report


def check_hypersim(scene: Path) -> SceneReport:
    from m2h_slam.sources.hypersim import find_camera_parameters, read_hdf5, scene_cameras

    report = SceneReport(scene)
    report.require(scene / "_detail" / "metadata_scene.csv", "_detail/metadata_scene.csv")
    parameters = find_camera_parameters(scene)
    report.notes.append(f"camera parameters {parameters}" if parameters else
                        "no metadata_camera_parameters.csv in the scene folder or its parent (default 60 deg camera)")
    cameras = scene_cameras(scene) if (scene / "_detail").is_dir() else []
    if not cameras:
        report.missing.append("_detail/cam_XX/ (no camera trajectory)")
    images = scene / "images"
    for camera in cameras:
        detail = scene / "_detail" / camera
        keyframes = None
        for name in ("camera_keyframe_positions.hdf5", "camera_keyframe_orientations.hdf5"):
            if report.require(detail / name, f"_detail/{camera}/{name}") and "positions" in name:
                positions = report.attempt(lambda: read_hdf5(detail / name))
                keyframes = None if positions is None else len(positions)
        final, preview = images / f"scene_{camera}_final_hdf5", images / f"scene_{camera}_final_preview"
        geometry = images / f"scene_{camera}_geometry_hdf5"
        colour = final if final.is_dir() else preview
        if colour.is_dir():
            report.found.append(f"images/{colour.name}/")
        else:
            report.missing.append(f"images/{final.name}/ (or {preview.name}/)")
        report.require(geometry, f"images/{geometry.name}/")
        pattern = r"frame\.(\d+)\.color\.hdf5" if colour == final else r"frame\.(\d+)\.tonemap\.jpg"
        numbers = sorted(int(m.group(1)) for p in (colour.iterdir() if colour.is_dir() else ())
                         if (m := re.fullmatch(pattern, p.name)))
        report.found.append(f"{camera}: {len(numbers)} frames" + (f", {keyframes} keyframes" if keyframes else ""))
        for kind in ("depth_meters", "semantic"):
            absent = (n for n in numbers if not (geometry / f"frame.{n:04d}.{kind}.hdf5").is_file())
            report.missing_files(f"images/{geometry.name}/frame.{n:04d}.{kind}.hdf5" for n in absent)
        if keyframes is not None and numbers and numbers[-1] >= keyframes:
            report.problems.append(f"{camera}: frame {numbers[-1]} but only {keyframes} camera keyframes")
        if numbers:
            first = numbers[0]
            if colour == final:
                report.attempt(lambda: read_hdf5(final / f"frame.{first:04d}.color.hdf5"))
            else:
                report.attempt(lambda: image_io.read_rgb(preview / f"frame.{first:04d}.tonemap.jpg"))
            if (geometry / f"frame.{first:04d}.depth_meters.hdf5").is_file():
                report.attempt(lambda: read_hdf5(geometry / f"frame.{first:04d}.depth_meters.hdf5"))
    return report


def normals_depth_angle_deg(normals: np.ndarray, depth_m: np.ndarray, K) -> float:
    """Median angle (deg) between stored normals and normals from depth (cross product of neighbour steps)."""
    from m2h_slam.core.geometry import normals_from_depth

    derived = normals_from_depth(depth_m, K)
    valid = (np.linalg.norm(normals, axis=-1) > 0.5) & (np.linalg.norm(derived, axis=-1) > 0.5)
    if not valid.any():
        return float("nan")
    cosine = np.clip(np.sum(normals[valid] * derived[valid], axis=-1), -1.0, 1.0)
    return float(np.degrees(np.median(np.arccos(cosine))))


def _looks_like(kind: str, path: Path) -> bool:
    if kind == "scannet":
        return bool(re.fullmatch(r"scene\d{4}_\d{2}", path.name)) or (path / "color").is_dir() or \
            (path / "frames" / "color").is_dir()
    if kind == "replica":
        return (path / "results").is_dir() or (path / "traj.txt").is_file()
    if kind == "nyudmt":
        return (path / "gt_sets").is_dir()
    return (path / "_detail").is_dir() or bool(re.fullmatch(r"ai_\d{3}_\d{3}", path.name))


CHECKS = {"scannet": check_scannet, "replica": check_replica, "nyudmt": check_nyudmt, "hypersim": check_hypersim}


def find_scenes(kind: str, path: Path) -> list[Path]:
    """``path`` if it is a scene of ``kind``, else the scenes one or two folder levels below it."""
    if _looks_like(kind, path):
        return [path]

    def folders(p: Path) -> list[Path]:
        return sorted(q for q in p.iterdir() if q.is_dir() and not q.name.startswith("."))

    scenes = []
    for child in folders(path):
        scenes += [child] if _looks_like(kind, child) else [g for g in folders(child) if _looks_like(kind, g)]
    return scenes


def print_report(report: SceneReport) -> None:
    print(f"{report.scene}: {'complete' if report.complete else 'INCOMPLETE'}")
    print(f"  found: {'; '.join(report.found) or 'nothing'}")
    for label, lines in (("missing", report.missing), ("problem", report.problems), ("note", report.notes)):
        for line in lines:
            print(f"  {label}: {line}")


def main(kind: str, argv: list[str] | None = None) -> int:
    """Check every scene of ``kind`` under the PATH argument; 0 if all are complete, 1 otherwise."""
    parser = argparse.ArgumentParser(prog=f"check_{kind}.py",
                                     description=f"Report what a {kind} download holds and lacks, per scene.")
    parser.add_argument("path", type=Path, help="one scene, or a folder of scenes")
    path = parser.parse_args(argv).path
    if not path.is_dir():
        print(f"{path}: no such folder")
        return 1
    scenes = find_scenes(kind, path)
    if not scenes:
        print(f"{path}: no {kind} scene found here or one or two folders down")
        return 1
    reports = [CHECKS[kind](scene) for scene in scenes]
    for report in reports:
        print_report(report)
    complete = sum(r.complete for r in reports)
    print(f"{len(reports)} scene(s): {complete} complete, {len(reports) - complete} incomplete")
    return 0 if complete == len(reports) else 1
