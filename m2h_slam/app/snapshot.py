"""What ties a run's output folder to its input: snapshots, their binding, and the files a run owns.

A snapshot (``OUT/.snapshot``) is written whole into a new folder and sealed before it
replaces the previous one (``core.atomic.atomic_folder``), so a kill at any moment leaves
one complete snapshot or none. It records the run's *binding*: the input's identity
(path, format, frame count, size, intrinsics, a fingerprint of the first frames) and every
option that changes the result (reading options, config, poses, perception and its weights).
``--resume`` with a different binding is refused with a line saying what differs.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
from fnmatch import fnmatch
from pathlib import Path

from m2h_slam.app.output_folder import (
    check_not_input,
    folder_entries,
    prepare_output_folder,
    remove_owned,
    sequence_owned,
)
from m2h_slam.core.atomic import atomic_folder, is_complete, remove_folder_versions, remove_stale_temporaries
from m2h_slam.core.config import Config, config_to_dict
from m2h_slam.core.errors import InputError
from m2h_slam.sources.sequence import Sequence
from m2h_slam.sources.sequence_folder import SEQUENCE_OUTPUTS

log = logging.getLogger("m2h_slam")

SNAPSHOT = ".snapshot"
ERROR_LOG = "error.log"
#: Everything ``m2h-slam run`` writes into its output folder (``--force`` removes only these).
RUN_OUTPUTS = ("mesh.ply", "mesh_rgb.ply", "trajectory.txt", "run.json", "preview.png", "scene_graph.json",
               "scene_graph_dsg.json", "scene_graph.png", "eval.json", ERROR_LOG,
               *(f"predictions/{name}" for name in sequence_owned(SEQUENCE_OUTPUTS)),  # --save-predictions
               SNAPSHOT, SNAPSHOT + ".tmp", SNAPSHOT + ".old")
FINGERPRINT_FRAMES = 2
_NOT_BINDING = ("perception.device", "perception.threads", "perception.runtime")  # speed, not the map (to float error)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def input_fingerprint(sequence: Sequence) -> str:
    """SHA-256 (16 hex digits) of the first ``FINGERPRINT_FRAMES`` frames' RGB, as the sequence reads them (stride,
    resize and the working-size cap change it)."""
    digest = hashlib.sha256()
    for frame in itertools.islice(sequence, FINGERPRINT_FRAMES):
        digest.update(frame.rgb.tobytes())
    return digest.hexdigest()[:16]


def read_record(sequence: Sequence) -> dict:
    """run.json's record of how the input was read (what ``input_fingerprint`` depends on besides the frames)."""
    options = sequence.options
    return {"stride": options.stride, "max_frames": options.max_frames,
            "resize": None if options.resize is None else list(options.resize), "camera": options.camera}


def input_binding(sequence: Sequence, config: Config, poses: str, weights: Path | None) -> dict:
    """Flat {name: value} of everything that fixes a run's result (JSON-able)."""
    options = sequence.options
    binding = {
        "input.path": str(sequence.path.resolve()),
        "input.format": sequence.format,
        "input.frames": len(sequence),
        "input.size": "x".join(map(str, sequence.intrinsics.size)),
        "input.intrinsics": json.dumps(sequence.intrinsics.to_dict(), sort_keys=True),
        "input.fingerprint": input_fingerprint(sequence),
        "--stride": options.stride,
        "--max-frames": options.max_frames,
        "--resize": None if options.resize is None else "x".join(map(str, options.resize)),
        "--camera": options.camera,
        "--poses": poses if poses in ("vo", "gt") else str(Path(poses).resolve()),
        "perception": "ground truth" if weights is None else str(weights.resolve()),
        "perception.weights_sha256": None if weights is None else _sha256_file(weights)[:16],
    }
    if poses not in ("vo", "gt"):
        binding["--poses sha256"] = _sha256_file(Path(poses))[:16]
    flat = _flatten(config_to_dict(config))
    binding.update({f"config {key}": value for key, value in flat.items() if key not in _NOT_BINDING})
    return binding


def _flatten(tree: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def differences(saved: dict, current: dict) -> list[str]:
    """'name: SAVED (snapshot) vs CURRENT (now)' for every entry that differs."""
    lines = []
    rank = ("--", "perception", "input.path", "input.fingerprint", "input.")  # what the user typed first

    def order(key: str) -> tuple[int, str]:
        return next((k for k, prefix in enumerate(rank) if key.startswith(prefix)), len(rank)), key

    for key in sorted(set(saved) | set(current), key=order):
        a, b = saved.get(key, "<unset>"), current.get(key, "<unset>")
        if a != b:
            lines.append(f"{key}: {a} (snapshot) vs {b} (now)")
    return lines


def save_snapshot(out: Path, scene, timings: dict, binding: dict) -> None:
    """Seal the ``SceneMapper``'s state, timings and binding as ``OUT/.snapshot`` (atomically as a whole)."""

    def write(folder: Path) -> None:
        scene.save(folder)
        (folder / "timings.json").write_text(json.dumps(timings))
        (folder / "binding.json").write_text(json.dumps(binding, indent=0))

    atomic_folder(out / SNAPSHOT, write)


def has_run_traces(out: Path) -> bool:
    """True if ``out`` holds any (possibly incomplete) snapshot of an interrupted run."""
    return any((out / name).exists() for name in (SNAPSHOT, SNAPSHOT + ".tmp", SNAPSHOT + ".old"))


def _damage(folder: Path) -> tuple[Path, str] | None:
    """(file, what is wrong with it) for the first spoilt file of a complete snapshot folder, or None.

    A sealed snapshot has every file at its recorded size, but a disk, a copy or a hand may still have spoilt its
    bytes; every array and every JSON file is read once here, so that a damaged snapshot is found before any of it
    is restored into the mapper."""
    import zipfile
    import zlib

    import numpy as np

    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        try:
            if path.suffix == ".npz":
                with np.load(path, allow_pickle=False) as archive:
                    for key in archive.files:
                        archive[key]
            elif path.suffix == ".json":
                json.loads(path.read_text(encoding="utf-8"))
        except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, zlib.error) as error:
            detail = str(error).splitlines()[0][:80] if str(error) else ""
            return path, type(error).__name__ + (f": {detail}" if detail else "")
    return None


def _sound_snapshot(out: Path) -> Path | None:
    """The newest complete and undamaged version of ``OUT/.snapshot`` (``.snapshot``, else ``.snapshot.old``);
    None if none is complete. ``InputError`` naming the spoilt file if every complete one is damaged."""
    damaged = []
    for folder in (out / SNAPSHOT, out / (SNAPSHOT + ".old")):
        if not is_complete(folder):
            continue
        problem = _damage(folder)
        if problem is None:
            if damaged:
                log.warning("%s: damaged (%s); resuming from the previous snapshot, %s", *damaged[0], folder)
            return folder
        damaged.append(problem)
    if damaged:
        path, problem = damaged[0]
        raise InputError(path, f"cannot --resume: the snapshot is damaged ({problem}); run again with --force to "
                               "start over")
    return None


def load_snapshot(out: Path, scene, binding: dict) -> dict | None:
    """Restore the ``SceneMapper`` ``scene`` from the complete snapshot in ``out``; its timings, or None if none is
    complete. A damaged snapshot (bytes spoilt after it was sealed) gives way to a complete previous one.

    ``InputError`` if the snapshot was made for another input or other options, or every complete one is damaged.
    """
    folder = _sound_snapshot(out)
    if folder is None:
        return None
    saved = json.loads((folder / "binding.json").read_text())
    changed = differences(saved, binding)
    if changed:
        more = f" (and {len(changed) - 3} more)" if len(changed) > 3 else ""
        raise InputError(out, "cannot --resume: the snapshot was made with other input or options: "
                              + "; ".join(changed[:3]) + more + " (use --force to start over)")
    scene.load(folder)
    return json.loads((folder / "timings.json").read_text())


def prepare_output(out: Path, resume: bool, force: bool, inputs: tuple[Path, ...] = ()) -> None:
    """Check ``out`` for a run (see ``data.output_folder``). With ``resume`` it holds a snapshot, or nothing but
    what a run stopped before its first frame left (then the run starts over); a finished run is refused."""
    if not resume:
        hint = "--resume the interrupted run, or " if has_run_traces(out) else ""
        prepare_output_folder(out, force, RUN_OUTPUTS, inputs, hint)
        return
    check_not_input(out, inputs)
    if not has_run_traces(out):
        foreign = [path.name for path in (folder_entries(out) if out.is_dir() else [])
                   if not any(fnmatch(path.name, name.split("/")[0]) for name in RUN_OUTPUTS)]
        if (out / "run.json").exists() or foreign:
            raise InputError(out, "nothing to resume (no snapshot: the run finished or never started; run without "
                                  "--resume)")
        # stopped before its first frame was mapped, nothing saved: the run starts over (load_snapshot finds no
        # snapshot, the run warns)
        remove_owned(out, RUN_OUTPUTS)
        out.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out)


def finish_snapshot(out: Path) -> None:
    """Remove the snapshot of a run whose outputs are all written."""
    remove_folder_versions(out / SNAPSHOT)
