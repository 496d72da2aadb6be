"""Reliability cases: outputs, resume, evaluation (see tests/reliability_table.py; merged into
tests/test_reliability.py).

Inputs of these cases live under ``{w}/outputs-area`` (``make_inputs``); a case that needs a run folder of its own
(a damaged snapshot, a scene graph that is a list) makes it in ``prepare`` from a copy, so ``{run}`` and the
inputs stay as they are."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from reliability_table import Case, run_stopped_after

AREA = "outputs-area"  # under {w}
_inputs: dict[str, Path] = {}  # what make_inputs wrote, for ``prepare``
#: The first bytes of an ONNX model (ir_version 8, producer "pytorch"), as export-onnx writes them.
ONNX_HEAD = b"\x08\x08\x12\x07pytorch\x1a\x062.14.1"


def _spoil(path: Path) -> None:
    """Zero the last 100 bytes of ``path`` (its size, and so the snapshot's seal, stays as it was)."""
    data = bytearray(path.read_bytes())
    data[-100:] = bytes(100)
    path.write_bytes(bytes(data))


def _stopped_copy(out: Path, name: str) -> Path:
    copy = out / name
    shutil.copytree(_inputs["stopped"], copy)
    return copy


def _damaged_snapshot(out: Path, _run: Path) -> dict[str, str]:
    """A run stopped after 4 frames whose only snapshot has a spoilt frames.npz."""
    copy = _stopped_copy(out, "damaged")
    _spoil(copy / ".snapshot" / "frames.npz")
    return {"damaged": str(copy)}


def _damaged_with_previous(out: Path, _run: Path) -> dict[str, str]:
    """As ``_damaged_snapshot``, with a complete previous snapshot beside it (.snapshot.old)."""
    copy = _stopped_copy(out, "damaged")
    shutil.copytree(copy / ".snapshot", copy / ".snapshot.old")
    _spoil(copy / ".snapshot" / "frames.npz")
    return {"damaged": str(copy)}


def _graph_list(out: Path, run: Path) -> dict[str, str]:
    """A copy of the finished run whose scene_graph.json holds a JSON list."""
    copy = out / "listgraph"
    shutil.copytree(run, copy)
    (copy / "scene_graph.json").write_text("[1, 2, 3]\n")
    return {"listgraph": str(copy)}


def _empty_folder(out: Path, _run: Path) -> dict[str, str]:
    """The empty folder a run stopped before its first frame leaves (nothing to resume)."""
    (out / "never").mkdir()
    return {"never": str(out / "never")}


def _bad_rooms(out: Path, run: Path) -> dict[str, str]:
    """A copy of the finished run whose scene graph's rooms have no ids."""
    copy = out / "badrooms"
    shutil.copytree(run, copy)
    (copy / "scene_graph.json").write_text(json.dumps({"rooms": [{"area_m2": 3.0}], "objects": [], "agents": []}))
    return {"badrooms": str(copy)}


CASES: dict[str, Case] = {
    # export-onnx replaces only an ONNX model, and only with --force
    "export-onnx over a text file": Case(f"export-onnx {{w}}/{AREA}/notes.txt --weights {{demo}}", 2,
                                         "notes.txt: exists and is not an ONNX model", (f"{AREA}/notes.txt",)),
    "export-onnx --force over a text file": Case(f"export-onnx {{w}}/{AREA}/notes.txt --weights {{demo}} --force", 2,
                                                 "exists and is not an ONNX model; export-onnx replaces only ONNX "
                                                 "models", (f"{AREA}/notes.txt",)),
    "export-onnx over a model without --force": Case(f"export-onnx {{w}}/{AREA}/old.onnx --weights {{demo}}", 2,
                                                     "old.onnx: exists; pass --force to replace this ONNX model",
                                                     (f"{AREA}/old.onnx",)),
    # a run is scored against the sequence it mapped
    "eval against another sequence": Case("eval {run} --gt {w}/other", 2,
                                          "other: is not the sequence the run mapped", ("other",)),
    "eval --any-gt without --gt": Case("eval {w}/seq --out {out}/e --any-gt", 2, "--any-gt goes with --gt"),
    # resume
    "resume from a damaged snapshot": Case("run {w}/seq --out {damaged} --gt-perception --resume", 2,
                                           "frames.npz: cannot --resume: the snapshot is damaged (BadZipFile",
                                           prepare=_damaged_snapshot),
    "resume past a damaged snapshot to the previous one": Case(
        "run {w}/seq --out {damaged} --gt-perception --resume", 0,
        "frames.npz: damaged (BadZipFile: File is not a zip file); resuming from the previous snapshot",
        prepare=_damaged_with_previous),
    "resume after a stop before the first frame": Case("run {w}/seq --out {never} --gt-perception --resume", 0,
                                                       "no complete snapshot (stopped before or while the first one "
                                                       "was saved); starting from the first frame",
                                                       prepare=_empty_folder),
    # files that are not what they should be
    "graph of a scene graph that is a list": Case("graph {listgraph}", 2,
                                                  "scene_graph.json: holds a JSON list, not the scene graph",
                                                  (), prepare=_graph_list),
    "eval of a run whose scene graph is a list": Case("eval {listgraph} --gt {w}/seq", 2,
                                                      "listgraph/scene_graph.json: holds a JSON list",
                                                      prepare=_graph_list),
    "graph of rooms without ids": Case("graph {badrooms}", 2, "scene_graph.json: does not hold a scene graph as "
                                                              "m2h-slam writes it (KeyError: 'id')", (),
                                       prepare=_bad_rooms),
    # data-set evaluation
    "eval data set with an unknown split": Case("eval {w}/seq --out {out}/e --split banana --gt-perception", 2,
                                                "--split: unknown split 'banana'; choose train, val, test"),
    "eval data set whose every scene fails": Case(f"eval {{w}}/{AREA}/allbroken --out {{out}}/e --gt-perception", 2,
                                                  "allbroken: all 2 scene(s) failed (first, a:",
                                                  (f"{AREA}/allbroken",)),
}


def make_inputs(root: Path) -> None:
    """Write the inputs these cases read under ``root`` (the table's {w}): files to not overwrite, data sets with
    broken scenes and a run of ``seq`` stopped after 4 frames (copied by ``prepare``)."""
    area = root / AREA
    area.mkdir()
    (area / "notes.txt").write_text("my notes, not a model\n")
    (area / "old.onnx").write_bytes(ONNX_HEAD + bytes(64))
    # a data set of m2h sequences whose every scene is broken (a missing frame image)
    for name in ("a", "b"):
        broken = shutil.copytree(root / "seq", area / "allbroken" / name)
        (broken / "rgb" / "000003.png").unlink()
    _inputs["stopped"] = run_stopped_after(root / "seq", area / "stopped", 4)  # its snapshot holds 4 frames
