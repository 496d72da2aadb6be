"""Bad input, overwrites and wrong paths, as a user produces them: every case ends with the expected exit
status and one ``m2h-slam: error:`` line (no traceback), and the inputs are byte-identical afterwards.

Each case runs the real ``m2h-slam`` entry point (``cli.main``) in this process, so an exception that
escapes it fails the test as a traceback would on a terminal.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import reliability_inputs
import reliability_numbers
import reliability_outputs
import yaml
from reliability_table import Case, run_stopped_after, tree_digest

from m2h_slam import cli
from m2h_slam.formats.image_io import write_depth, write_rgb
from m2h_slam.perception.perception import demo_weights
from m2h_slam.synthetic import WorldSpec


@pytest.fixture(scope="module")
def world(apartments, tmp_path_factory):
    """Inputs every case may use (never written by a case): a synthetic sequence, an image folder, files."""
    root = tmp_path_factory.mktemp("inputs")
    seq = apartments.copy(WorldSpec(seed=3, frames=8, rooms=2, people=0), root / "seq", size=(96, 72))
    apartments.copy(WorldSpec(seed=4, frames=8, rooms=2, people=0), root / "other", size=(96, 72))
    images = root / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for k in range(3):
        write_rgb(images / f"{k}.png", rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))
    (root / "file.txt").write_text("not a folder\n")
    (root / "empty.txt").write_text("")
    (root / "nan.yaml").write_text("fusion:\n  voxel_size_m: .nan\n")
    for name, text in {"voxel0": "fusion:\n  voxel_size_m: 0\n", "voxelneg": "fusion:\n  voxel_size_m: -0.05\n",
                       "block0": "fusion:\n  block_resolution: 0\n", "maxblocks0": "fusion:\n  max_blocks: 0\n",
                       "input00": "perception:\n  input_size: [0, 0]\n",
                       "depthorder": "fusion:\n  depth_min_m: 3\n  depth_max_m: 2\n",
                       "device": "perception:\n  device: gpu7\n", "cuda": "perception:\n  device: cuda\n"}.items():
        (root / f"{name}.yaml").write_text(text)
    (root / "k_outside.yaml").write_text("fx: 50\nfy: 50\ncx: 500\ncy: 20\nwidth: 64\nheight: 48\n")
    (root / "model.onnx").write_bytes(b"not really onnx")
    # Sequences that are broken in one way each (copies of seq).
    variants = {}
    for name in ("units0", "depth8", "onepixel", "mixed"):
        variants[name] = root / name
        shutil.copytree(seq, variants[name])
    manifest = yaml.safe_load((variants["units0"] / "sequence.yaml").read_text())
    manifest["depth_units_per_m"] = 0
    (variants["units0"] / "sequence.yaml").write_text(yaml.safe_dump(manifest))
    import cv2

    cv2.imwrite(str(variants["depth8"] / "depth" / "000003.png"), np.full((72, 96), 200, np.uint8))
    for path in sorted((variants["onepixel"] / "depth").glob("*.png")):
        one = np.zeros((72, 96), np.float32)
        one[30, 40] = 2.0
        write_depth(path, one, 1000.0)
    write_rgb(variants["mixed"] / "rgb" / "000005.png", np.zeros((40, 40, 3), np.uint8))
    black = root / "black"
    black.mkdir()
    for k in range(4):
        write_rgb(black / f"{k}.png", np.zeros((72, 96, 3), np.uint8))
    tiny = root / "tiny"
    tiny.mkdir()
    for k in range(4):
        write_rgb(tiny / f"{k}.png", rng.integers(0, 256, (12, 16, 3), dtype=np.uint8))
    for area in AREAS:
        area.make_inputs(root)
    return root


@pytest.fixture(scope="module")
def finished_run(world, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "finished"
    assert cli.main(["run", str(world / "seq"), "--out", str(out), "--gt-perception", "-q"]) == 0
    return out


@pytest.fixture(scope="module")
def interrupted_run(world, tmp_path_factory):
    """A run of seq stopped by Ctrl-C after 4 frames (a snapshot holds them)."""
    out = run_stopped_after(world / "seq", tmp_path_factory.mktemp("runs") / "interrupted", 4)
    assert json.loads((out / ".snapshot" / "state.json").read_text())["counts"]["frames"] == 4
    return out


CASES = {
    # a run is bound to its input
    "resume another sequence": Case("run {w}/other --out {stopped} --gt-perception --resume", 2,
                                    "cannot --resume: the snapshot was made with other input", ("other",)),
    "resume another stride": Case("run {w}/seq --out {stopped} --gt-perception --resume --stride 2", 2, "--stride"),
    "resume another resize": Case("run {w}/seq --out {stopped} --gt-perception --resume --resize 48x36", 2,
                                  "--resize"),
    "resume another config": Case("run {w}/seq --out {stopped} --gt-perception --resume --config {w}/depthorder.yaml",
                                  2, "depth_min_m"),
    "resume with network instead of ground truth": Case("run {w}/seq --out {stopped} --resume", 2, "perception"),
    "resume and force together": Case("run {w}/seq --out {stopped} --resume --force", 2, "exclude each other"),
    "resume a finished run": Case("run {w}/seq --out {run} --gt-perception --resume", 2, "nothing to resume"),
    "plain run over an interrupted one": Case("run {w}/seq --out {stopped} --gt-perception", 2, "--resume the interrupted"),
    # inputs are never written
    "sample over an existing sequence": Case("sample motorcycle {w}/seq", 2, "not empty"),
    "run into its own input": Case("run {w}/seq --out {w}/seq --force --gt-perception", 2, "overwrite the input"),
    "run into a folder inside its input": Case("run {w}/seq --out {w}/seq/out --gt-perception", 2, "inside the input"),
    "run into the folder holding its input": Case("run {w}/seq --out {w} --force --gt-perception", 2,
                                                  "holds the input"),
    "predict into its input folder": Case("predict {w}/images --out {w}/images", 2, "overwrite the input", ("images",)),
    "predict into a non-empty folder": Case("predict {w}/images --out {w}/seq", 2, "not empty", ("images", "seq")),
    "synth over an existing sequence": Case("synth {w}/seq --frames 2", 2, "not empty"),
    # output paths
    "run output is a file": Case("run {w}/seq --out {w}/file.txt --gt-perception", 2, "not a folder", ("file.txt",)),
    "run output under a file": Case("run {w}/seq --out {w}/file.txt/run --gt-perception", 2, "file.txt",
                                    ("file.txt",)),
    "run output unwritable": Case("run {w}/seq --out /proc/m2h-slam-test/run --gt-perception", 2, "/proc/m2h-slam-test"),
    "predict output is a file": Case("predict {w}/images --out {w}/file.txt", 2, "not a folder", ("file.txt",)),
    "sample output is a file": Case("sample motorcycle {w}/file.txt", 2, "not a folder", ("file.txt",)),
    "synth output under a file": Case("synth {w}/file.txt/s --frames 2 -q", 2, "file.txt", ("file.txt",)),
    "export-onnx output is a folder": Case("export-onnx {w}/seq --weights {demo}", 2, "output is a folder"),
    "export-onnx output under a file": Case("export-onnx {w}/file.txt/m.onnx --weights {demo}", 2, "file.txt", ("file.txt",)),
    "eval.json is a folder": Case("eval {out}/evalrun --gt {w}/seq", 2, "eval.json: is a folder", tags={"evaljson"}),
    # devices and models
    "device cuda without a GPU": Case("run {w}/seq --out {out}/r --device cuda", 2, "no CUDA GPU"),
    "device bogus": Case("run {w}/seq --out {out}/r --device bogus", 2, "--device"),
    "device in config": Case("run {w}/seq --out {out}/r --config {w}/device.yaml", 2, "perception.device"),
    "predict device bogus": Case("predict {w}/images --out {out}/p --device bogus", 2, "--device: must be cpu, cuda", ("images",)),
    "eval device bogus": Case("eval {w}/seq --out {out}/e --device bogus", 2, "--device: must be cpu, cuda"),
    "eval device from the config": Case("eval {w}/seq --out {out}/e --config {w}/cuda.yaml", 2, "no CUDA GPU"),
    "train unknown model": Case("train {w}/seq --model nope --out {out}/w.safetensors", 2, "unknown model 'nope'"),
    # numbers
    "synth fps 0": Case("synth {out}/s --fps 0", 2, "must be positive"),
    "synth fps nan": Case("synth {out}/s --fps nan", 2, "finite"),
    "synth seed -1": Case("synth {out}/s --seed -1", 2, "at least 0"),
    "fov not a number": Case("info {w}/seq --fov-deg abc", 2, "invalid number value: 'abc'"),
    "fov out of range": Case("info {w}/seq --fov-deg 180", 2, "in (0, 180)"),
    "eval threshold nan": Case("eval {run} --gt {w}/seq --threshold nan", 2, "finite"),
    "stride 0": Case("run {w}/seq --out {out}/r --stride 0", 2, "at least 1"),
    "voxel size 0": Case("run {w}/seq --out {out}/r --config {w}/voxel0.yaml", 2, "fusion.voxel_size_m"),
    "voxel size negative": Case("run {w}/seq --out {out}/r --config {w}/voxelneg.yaml", 2, "fusion.voxel_size_m"),
    "voxel size nan": Case("run {w}/seq --out {out}/r --config {w}/nan.yaml", 2, "finite"),
    "block resolution 0": Case("run {w}/seq --out {out}/r --config {w}/block0.yaml", 2, "fusion.block_resolution"),
    "max blocks 0": Case("run {w}/seq --out {out}/r --config {w}/maxblocks0.yaml", 2, "fusion.max_blocks"),
    "input size 0x0": Case("run {w}/seq --out {out}/r --config {w}/input00.yaml", 2, "perception.input_size"),
    "depth range reversed": Case("run {w}/seq --out {out}/r --config {w}/depthorder.yaml", 2, "depth_min_m"),
    # files that are not what they should be
    "empty trajectory for eval": Case("eval {run} --gt {w}/seq", 2, "trajectory holds no poses", tags={"emptytraj"}),
    "empty trajectory for --poses": Case("run {w}/seq --out {out}/r --poses {w}/empty.txt --gt-perception", 2,
                                         "trajectory holds no poses", ("seq", "empty.txt")),
    "weights is a folder": Case("run {w}/seq --out {out}/r --weights {w}/images", 2, "is a folder; expected a weights",
                                ("seq", "images")),
    "intrinsics is a folder": Case("info {w}/images --intrinsics {w}/seq", 2, "is a folder; expected a intrinsics",
                                   ("images", "seq")),
    "export-onnx from onnx": Case("export-onnx {out}/m.onnx --weights {w}/model.onnx", 2, "already an ONNX model",
                                  ("model.onnx",)),
    "eval against a run folder": Case("eval {run} --gt {run}", 2, "is the output of m2h-slam run", ()),
    "depth_units_per_m 0": Case("run {w}/units0 --out {out}/r --gt-perception", 2, "depth_units_per_m", ("units0",)),
    "8-bit depth": Case("run {w}/depth8 --out {out}/r --gt-perception", 2, "8 bits", ("depth8",)),
    "principal point outside": Case("info {w}/images --intrinsics {w}/k_outside.yaml", 2, "outside the 64x48",
                                    ("images", "k_outside.yaml")),
    "info check mixed sizes": Case("info {w}/mixed --check", 2, "000005.png: image is 40x40", ("mixed",)),
    "info check 8-bit depth": Case("info {w}/depth8 --check", 2, "8 bits", ("depth8",)),
    # runs that cannot map anything finish with empty outputs and a warning
    "one valid depth pixel": Case("run {w}/onepixel --out {out}/r --gt-perception", 0, "the map is empty",
                                  ("onepixel",)),
    "resize 32x24": Case("run {w}/seq --out {out}/r --resize 32x24", 0, "", ()),
    "frames of 16x12 px": Case("run {w}/tiny --out {out}/r --fov-deg 60", 0, "the map is empty", ("tiny",)),
    "all-black frames": Case("run {w}/black --out {out}/r --fov-deg 60", 0, "", ("black",)),
}

AREAS = (reliability_numbers, reliability_inputs, reliability_outputs)  # their CASES join the table, their
# make_inputs(root) write the inputs they read
for _area in AREAS:
    assert not set(_area.CASES) & set(CASES), f"{_area.__name__}: a case name already in the table"
    CASES.update(_area.CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_case(name, world, finished_run, interrupted_run, tmp_path, capsys):
    case = CASES[name]
    if "evaljson" in case.tags:  # a finished run whose eval.json is a folder
        shutil.copytree(finished_run, tmp_path / "evalrun")
        (tmp_path / "evalrun" / "eval.json").mkdir()
    if "emptytraj" in case.tags:
        run = tmp_path / "emptyrun"
        shutil.copytree(finished_run, run)
        (run / "trajectory.txt").write_text("# nothing\n")
        case = Case(case.args.replace("{run}", str(run)), case.status, case.message, case.inputs)
    extra = case.prepare(tmp_path, finished_run) if case.prepare is not None else {}
    watched = [world / name for name in case.inputs] + [finished_run, interrupted_run]
    before = [tree_digest(path) for path in watched]
    argv = case.args.format(w=world, out=tmp_path, run=finished_run, stopped=interrupted_run,
                            demo=demo_weights(), **extra).split()
    try:
        status = cli.main(argv)
    except SystemExit as exit_:  # argparse's own errors
        status = exit_.code
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "Traceback" not in text and "\x1b[" not in text and "[ WARN" not in text, text
    assert status == case.status, text
    errors = [line for line in captured.err.splitlines() if "error:" in line]
    if case.status:
        assert len(errors) == 1, captured.err
        assert case.message in errors[0], errors[0]
    else:
        assert errors == [], captured.err
        assert case.message in captured.err
    assert [tree_digest(path) for path in watched] == before, "an input was changed"



def test_unexpected_error_saves_a_snapshot_and_logs_the_traceback(world, tmp_path, capsys, monkeypatch):
    from m2h_slam.perception.perception import Perception

    original = Perception.__call__

    def failing(self, frame):
        if frame.index == 5:
            raise ZeroDivisionError("a bug")
        return original(self, frame)

    monkeypatch.setattr(Perception, "__call__", failing)
    out = tmp_path / "run"
    assert cli.main(["run", str(world / "seq"), "--out", str(out), "--gt-perception", "-q"]) == 1
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "ZeroDivisionError: a bug" in err and "Traceback" not in err
    assert "snapshot saved, continue with --resume" in err and str(out / "error.log") in err
    assert "Traceback" in (out / "error.log").read_text() and "a bug" in (out / "error.log").read_text()
    assert json.loads((out / ".snapshot" / "state.json").read_text())["counts"]["frames"] == 5
    monkeypatch.setattr(Perception, "__call__", original)
    assert cli.main(["run", str(world / "seq"), "--out", str(out), "--gt-perception", "-q", "--resume"]) == 0
    assert json.loads((out / "run.json").read_text())["counts"]["frames"] == 8


def test_error_inside_a_mapper_step_keeps_the_previous_snapshot(world, tmp_path, capsys, monkeypatch):
    """A frame that failed half-way through the mapper is never snapshotted (the map may hold part of it)."""
    from pipeline import Mapper

    original = Mapper.step

    def failing(self, frame, prediction, pose=None):
        if frame.index == 5:
            raise RuntimeError("half-way")
        return original(self, frame, prediction, pose)

    monkeypatch.setattr(Mapper, "step", failing)
    out = tmp_path / "run"
    argv = ["run", str(world / "seq"), "--out", str(out), "--gt-perception", "-q", "--snapshot-every", "2"]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert "no new snapshot" in err and "half-way" in err
    assert json.loads((out / ".snapshot" / "state.json").read_text())["counts"]["frames"] == 4


def test_signals_are_held_back_inside_a_critical_block():
    import os
    import signal

    from m2h_slam.core.interrupts import Interrupts, Terminated

    steps = []
    previous = signal.getsignal(signal.SIGINT)  # Python's handler, or SIG_IGN in a background job
    with pytest.raises(Terminated), Interrupts() as interrupts:
        with interrupts.critical():
            os.kill(os.getpid(), signal.SIGTERM)
            steps.append("finished the block")  # not interrupted half-way
        steps.append("after the block")
    assert steps == ["finished the block"]
    with pytest.raises(KeyboardInterrupt), Interrupts():
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):  # the handler runs between bytecodes
            pass
    assert signal.getsignal(signal.SIGINT) is previous  # put back as it was


def test_info_check_reports_a_truncated_video(bikes_faststart, tmp_path, capsys):
    cut = tmp_path / "cut.mp4"
    data = bikes_faststart.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    assert cli.main(["info", str(cut), "--check", "--fov-deg", "60", "-q"]) == 2  # half the frames are missing
    out, err = capsys.readouterr()
    assert "frames read; too damaged" in out and "(file truncated?)" in out  # the reader's warning, also under -q
    assert "of 250 frames unreadable" in err and "--check fails above 10%" in err and len(err.splitlines()) == 1


def test_predictions_ahead_keep_order_overlap_and_pass_errors_on():
    import threading

    from m2h_slam.app.run_loop import predicted
    from m2h_slam.core.errors import InputError

    started = []
    second_started = threading.Event()

    def perceive(frame):
        started.append(frame)
        if frame == 1:
            second_started.set()
        if frame == 3:
            raise InputError(None, "frame 3 is broken")
        return frame * 10

    frames = predicted(iter(range(5)), perceive, ahead=True)
    first = next(frames)
    assert first[:2] == (0, 0) and first[2] >= 0
    assert second_started.wait(5)  # frame 1 is predicted while the caller still holds frame 0
    assert [f[:2] for f in (next(frames), next(frames))] == [(1, 10), (2, 20)]
    with pytest.raises(InputError, match="frame 3 is broken"):
        next(frames)
    in_turn = predicted(iter(range(3)), perceive, ahead=False)
    started.clear()
    assert next(in_turn)[:2] == (0, 0) and started == [0]  # in turn: nothing runs ahead
