"""Kills, SIGTERM, full disks, odd videos, empty maps and file modes, with the real ``m2h-slam`` command
(in a process of its own where a test kills it, through its entry point in this process otherwise).

Runs here use ground-truth perception and ground-truth poses, which makes them bit-reproducible
(fusion is deterministic; Open3D's odometry is not), so "the same result" means "the same bytes".
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import cli_command as _command
from conftest import run_cli

from m2h_slam.core.atomic import TMP_PREFIX, atomic_folder, complete_folder, is_complete
from m2h_slam.synthetic import WorldSpec, write_synthetic

OUTPUTS = ("mesh.ply", "mesh_rgb.ply", "trajectory.txt", "scene_graph.json")
RUN = ["--gt-perception", "--poses", "gt", "-q"]


@pytest.fixture(scope="module")
def sequence(apartments) -> Path:
    return apartments(WorldSpec(seed=5, frames=24, rooms=2, people=1), size=(128, 96))


@pytest.fixture(scope="module")
def reference(sequence, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("crash") / "reference"
    result = run_cli("run", str(sequence), "--out", str(out), *RUN)
    assert result.returncode == 0, result.stderr
    return out


def _same_outputs(a: Path, b: Path) -> bool:
    return all((a / name).read_bytes() == (b / name).read_bytes() for name in OUTPUTS)


def _leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if p.name.startswith((TMP_PREFIX, ".snapshot")))


def _kill_when(process: subprocess.Popen, ready, limit_s: float = 60.0) -> bool:
    """SIGKILL ``process`` as soon as ``ready()`` holds (polled without sleeping); False if it ended first."""
    deadline = time.monotonic() + limit_s
    while process.poll() is None and time.monotonic() < deadline:
        if ready():
            process.kill()
            process.wait()
            return True
    process.wait()
    return False


@pytest.mark.slow
def test_sigkill_anywhere_then_resume_equals_an_uninterrupted_run(sequence, reference, tmp_path):
    """SIGKILL at random moments, in the middle of a snapshot and in the middle of the export; after each,
    ``--resume`` goes on; the final files are byte-identical to an uninterrupted run."""
    out = tmp_path / "killed"
    args = ["run", str(sequence), "--out", str(out), "--snapshot-every", "3", *RUN]
    rng = random.Random(1)
    mid_snapshot = lambda: (out / ".snapshot.tmp").exists()  # noqa: E731 - sealed only when renamed
    mid_export = lambda: (out / "mesh.ply").exists() or any(out.glob(TMP_PREFIX + "mesh*"))  # noqa: E731
    plan = ["random", mid_snapshot, "random", mid_snapshot, mid_export, "random"]
    hits = []
    snapshots = (".snapshot", ".snapshot.old", ".snapshot.tmp")
    finished = lambda: (out / "run.json").exists() and not any((out / s).exists() for s in snapshots)  # noqa: E731
    for step, when in enumerate(plan):
        if finished():  # killed while it exited, after the run was complete: nothing more to interrupt
            break
        resume = ["--resume"] if any((out / s).exists() for s in snapshots) else []
        process = subprocess.Popen(_command(*args, *resume), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if when == "random":
            delay = rng.uniform(0.5, 4.0)
            start = time.monotonic()
            killed = _kill_when(process, lambda: time.monotonic() - start > delay)
        else:
            killed = _kill_when(process, when)
        hits.append((step, killed))
        if not killed:  # it finished before the kill point: nothing more to interrupt
            assert process.returncode == 0, process.stderr.read().decode()
            break
    else:
        if not finished():
            result = run_cli(*args, "--resume")
            assert result.returncode == 0, result.stderr
    assert sum(killed for _, killed in hits) >= 3, hits
    assert _same_outputs(reference, out)
    record = json.loads((out / "run.json").read_text())
    assert record["counts"]["frames"] == 24 and record["counts"] == json.loads((reference / "run.json").read_text())["counts"]
    assert _leftovers(out) == []


@pytest.mark.slow
def test_sigterm_saves_a_resumable_snapshot(sequence, reference, tmp_path):
    out = tmp_path / "term"
    process = subprocess.Popen(_command("run", str(sequence), "--out", str(out), "--snapshot-every", "4", *RUN[:-1]),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (out / ".snapshot" / "state.json").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143, err
    assert "m2h-slam: terminated" in err and "Traceback" not in err
    snapshot = complete_folder(out / ".snapshot")
    assert snapshot is not None
    assert json.loads((snapshot / "state.json").read_text())["counts"]["frames"] >= 4
    result = run_cli("run", str(sequence), "--out", str(out), "--resume", *RUN)
    assert result.returncode == 0, result.stderr
    assert _same_outputs(reference, out) and _leftovers(out) == []


@pytest.fixture
def small_disk(tmp_path):
    """A folder on a tmpfs of a chosen size (root only); yields a function size_bytes -> folder.

    Skips (with the reason) where no tmpfs can be mounted: not root, no ``mount``, or mounting not permitted
    (a container without CAP_SYS_ADMIN). Any other failure to mount fails the test."""
    mounts = []
    if os.geteuid() != 0:
        pytest.skip("the full-disk test mounts a small tmpfs, which needs root")
    if shutil.which("mount") is None:
        pytest.skip("the full-disk test mounts a small tmpfs: no 'mount' command here")

    def make(size_bytes: int) -> Path:
        folder = tmp_path / f"disk{len(mounts)}"
        folder.mkdir()
        size_kb = max(64, size_bytes // 1024)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(folder)],
                              capture_output=True)
        if done.returncode != 0:
            message = done.stderr.decode().strip()
            if "permission denied" in message.lower() or "not permitted" in message.lower():
                pytest.skip(f"the full-disk test cannot mount a tmpfs here: {message}")
            pytest.fail(f"cannot mount a tmpfs for the disk-full test: {message}")
        mounts.append(folder)
        return folder

    yield make
    for folder in mounts:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


@pytest.mark.slow
def test_full_disk_keeps_the_last_snapshot_and_names_the_path(sequence, reference, tmp_path, small_disk):
    """A disk with room for one snapshot but not two: the run ends with one line naming the output and
    'No space left on device'; the earlier snapshot stays valid and a resume elsewhere finishes the run."""
    probe = tmp_path / "probe"
    process = subprocess.Popen(_command("run", str(sequence), "--out", str(probe), "--snapshot-every", "8", *RUN),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _kill_when(process, lambda: is_complete(probe / ".snapshot"))
    size = sum(p.stat().st_size for p in (probe / ".snapshot").rglob("*") if p.is_file())
    disk = small_disk(int(size * 1.5))
    out = disk / "run"
    result = run_cli("run", str(sequence), "--out", str(out), "--snapshot-every", "8", *RUN)
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and "No space left on device" in errors[0] and str(out) in errors[0], result.stderr
    assert "Traceback" not in result.stderr
    snapshot = complete_folder(out / ".snapshot")
    assert snapshot is not None and json.loads((snapshot / "state.json").read_text())["counts"]["frames"] == 8
    assert not (out / ".snapshot.tmp").exists()
    moved = tmp_path / "moved"
    shutil.copytree(out, moved)
    result = run_cli("run", str(sequence), "--out", str(moved), "--resume", *RUN)
    assert result.returncode == 0, result.stderr
    assert _same_outputs(reference, moved)


def test_atomic_folder_survives_every_stop(tmp_path):
    """A write that fails leaves the old version; a kill between the two renames leaves NAME.old, found on load;
    a truncated file makes a folder incomplete."""
    target = tmp_path / "state"
    atomic_folder(target, lambda f: (f / "a.bin").write_bytes(b"1" * 100))

    def failing(folder: Path) -> None:
        (folder / "a.bin").write_bytes(b"2" * 50)
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        atomic_folder(target, failing)
    assert complete_folder(target) == target and (target / "a.bin").read_bytes() == b"1" * 100
    assert not (tmp_path / "state.tmp").exists()
    target.rename(tmp_path / "state.old")  # as if killed between the renames
    assert complete_folder(target) == tmp_path / "state.old"
    atomic_folder(target, lambda f: (f / "a.bin").write_bytes(b"3" * 10))
    assert complete_folder(target) == target and not (tmp_path / "state.old").exists()
    (target / "a.bin").write_bytes(b"3" * 5)
    assert complete_folder(target) is None


def _live_webm(path: Path, frames: int = 15) -> Path:
    """A webm written as live recorders do (no duration, no frame count)."""
    import av

    with av.open(str(path), "w", format="webm", options={"live": "1"}) as container:
        stream = container.add_stream("libvpx", rate=10)
        stream.width, stream.height, stream.pix_fmt = 96, 72, "yuv420p"
        rng = np.random.default_rng(0)
        for k in range(frames):
            image = np.roll(rng.integers(0, 255, (72, 96, 3), dtype=np.uint8), k, axis=1)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.mark.slow
def test_video_without_frame_count_is_read_to_the_end(tmp_path):
    from m2h_slam.sources import open_sequence

    video = _live_webm(tmp_path / "live.webm")
    sequence = open_sequence(video)
    assert not sequence.length_known
    assert len(list(sequence)) == 15 and sequence.length_known and len(sequence) == 15
    info = run_cli("info", str(video), "--fov-deg", "60")
    assert info.returncode == 0 and "unknown (the container gives no count)" in info.stdout
    checked = run_cli("info", str(video), "--fov-deg", "60", "--check", "-q")
    assert checked.returncode == 0 and "15 frames read; ok" in checked.stdout
    out = tmp_path / "run"
    result = run_cli("run", str(video), "--out", str(out), "--fov-deg", "60", "-q", "--stride", "2")
    assert result.returncode == 0, result.stderr
    record = json.loads((out / "run.json").read_text())
    assert record["counts"]["frames"] == 8 == record["input"]["frames"]
    assert len(np.loadtxt(out / "trajectory.txt")) == 8


def test_empty_map_gives_valid_empty_outputs(tmp_path):
    from m2h_slam.formats.image_io import write_depth
    from m2h_slam.formats.ply_io import read_labelled_ply

    seq = write_synthetic(tmp_path / "seq", WorldSpec(seed=1, frames=4, rooms=2, people=0), size=(64, 48),
                          progress=False)
    for path in (seq / "depth").glob("*.png"):
        write_depth(path, np.zeros((48, 64), np.float32), 1000.0)
    out = tmp_path / "run"
    result = run_cli("run", str(seq), "--out", str(out), "--gt-perception")
    assert result.returncode == 0, result.stderr
    assert "the map is empty" in result.stderr and "Traceback" not in result.stderr
    mesh = read_labelled_ply(out / "mesh.ply")
    assert len(mesh.vertices) == 0 and len(mesh.triangles) == 0
    assert len(np.loadtxt(out / "trajectory.txt")) == 4
    record = json.loads((out / "run.json").read_text())
    assert record["counts"]["fused"] == 0 and record["mesh"]["vertices"] == 0
    assert not (out / ".snapshot").exists()


def test_files_follow_the_umask_and_no_temporaries_remain(sequence, tmp_path):
    out = tmp_path / "modes"
    old = os.umask(0o027)
    try:
        result = run_cli("run", str(sequence), "--out", str(out), "--max-frames", "4", *RUN)
    finally:
        os.umask(old)
    assert result.returncode == 0, result.stderr
    modes = {p.name: p.stat().st_mode & 0o777 for p in out.iterdir() if p.is_file()}
    assert modes and set(modes.values()) == {0o640}, modes
    assert _leftovers(out) == []


def test_force_clears_only_what_the_tool_wrote(sequence, tmp_path):
    out = tmp_path / "forced"
    assert run_cli("run", str(sequence), "--out", str(out), "--max-frames", "4", "--save-predictions", *RUN).returncode == 0
    (out / "eval.json").write_text("{}")
    (out / "notes.txt").write_text("mine")
    (out / "mine").mkdir()
    result = run_cli("run", str(sequence), "--out", str(out), "--max-frames", "3", "--force", *RUN)
    assert result.returncode == 0, result.stderr
    assert (out / "notes.txt").read_text() == "mine" and (out / "mine").is_dir()
    assert not (out / "eval.json").exists() and not (out / "predictions").exists()
    assert json.loads((out / "run.json").read_text())["counts"]["frames"] == 3
    synth = tmp_path / "synth"
    synth.mkdir()
    (synth / "keep.txt").write_text("x")
    assert run_cli("synth", str(synth), "--frames", "2", "--size", "64x48", "-q").returncode == 2
    assert run_cli("synth", str(synth), "--frames", "2", "--size", "64x48", "-q", "--force").returncode == 0
    assert (synth / "keep.txt").read_text() == "x" and (synth / "sequence.yaml").is_file()


def test_large_images_are_downscaled_to_the_working_size(tmp_path):
    from m2h_slam.formats.image_io import write_rgb
    from m2h_slam.sources import ReadOptions, open_sequence

    folder = tmp_path / "big"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for k in range(2):
        write_rgb(folder / f"{k}.png", rng.integers(0, 256, (1500, 2000, 3), dtype=np.uint8))
    sequence = open_sequence(folder)
    frames = list(sequence)
    assert sequence.intrinsics.size == (1280, 960) and frames[0].rgb.shape == (960, 1280, 3)
    assert frames[0].intrinsics == sequence.intrinsics
    info = run_cli("info", str(folder), "--fov-deg", "60")
    assert "size:         1280x960" in info.stdout and "downscaled to 1280x960" in info.stderr
    explicit = open_sequence(folder, ReadOptions(resize=(400, 300)))
    assert explicit.intrinsics.size == (400, 300)


def test_force_keeps_the_users_files_inside_frame_folders(tmp_path):
    """--force removes the numbered frame images a command wrote into rgb/, depth/, ... (and predictions/), not a
    file of the user's that lies beside them, nor its folder."""
    synth = tmp_path / "synth"
    args = ["synth", str(synth), "--size", "64x48", "--rooms", "2", "--people", "0", "-q"]
    assert run_cli(*args, "--frames", "3").returncode == 0
    (synth / "rgb" / "my_holiday.png").write_bytes(b"mine")
    (synth / "depth" / "notes").mkdir()
    result = run_cli(*args, "--frames", "2", "--force")
    assert result.returncode == 0, result.stderr
    assert (synth / "rgb" / "my_holiday.png").read_bytes() == b"mine" and (synth / "depth" / "notes").is_dir()
    assert sorted(p.name for p in (synth / "rgb").iterdir()) == ["000000.png", "000001.png", "my_holiday.png"]
    assert sorted(p.name for p in (synth / "semantics").iterdir()) == ["000000.png", "000001.png"]
    out = tmp_path / "run"
    run = ["run", str(synth), "--out", str(out), "--save-predictions", *RUN]
    assert run_cli(*run).returncode == 0
    (out / "predictions" / "rgb" / "mine.png").write_bytes(b"mine")
    assert run_cli(*run, "--force").returncode == 0
    assert (out / "predictions" / "rgb" / "mine.png").read_bytes() == b"mine"
    assert sorted(p.name for p in (out / "predictions" / "depth").iterdir()) == ["000000.png", "000001.png"]


def _lock_holder(out: Path) -> subprocess.Popen:
    """A process that holds the output lock of ``out`` until killed (started when the lock file names it)."""
    code = ("import sys, time\nfrom m2h_slam.app.output_lock import output_lock\n"
            "with output_lock(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(600)\n")
    holder = subprocess.Popen([sys.executable, "-c", code, str(out)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_second_command_into_a_folder_in_use_is_refused(sequence, tmp_path):
    """While one m2h-slam holds OUT, a run (even with --force) and a synth into it end at once with one line naming
    the holder's pid, exit status 2, and leave the folder as it was; after the holder is killed (its lock goes with
    it) a run goes ahead, and no lock file remains."""
    from m2h_slam.app.output_lock import LOCK_NAME

    out = tmp_path / "busy"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    holder = _lock_holder(out)
    try:
        for args in (["run", str(sequence), "--out", str(out), "--force", *RUN],
                     ["synth", str(out), "--force", "--frames", "2", "-q"]):
            done = subprocess.run(_command(*args), capture_output=True, text=True, timeout=120, check=False)
            assert done.returncode == 2, done.stderr
            assert done.stderr.splitlines() == [(f"m2h-slam: error: {out}: in use by another m2h-slam (pid "
                                                 f"{holder.pid}); wait for it to end or choose another output folder")]
        assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME, "notes.txt"]
    finally:
        holder.kill()
        holder.wait()
    result = run_cli("run", str(sequence), "--out", str(out), "--force", "--max-frames", "3", *RUN)
    assert result.returncode == 0, result.stderr
    assert (out / "notes.txt").read_text() == "mine" and not (out / LOCK_NAME).exists()


def test_the_lock_is_taken_once_per_process_and_not_left_behind(tmp_path):
    from m2h_slam.app.output_lock import LOCK_NAME, output_lock

    out = tmp_path / "a" / "b"
    with output_lock(out):
        assert (out / LOCK_NAME).read_text().strip() == str(os.getpid())
        with output_lock(out):  # again in the same process (a run inside a data-set evaluation): no deadlock
            pass
        assert (out / LOCK_NAME).is_file()
    assert not (tmp_path / "a").exists()  # made for a command that wrote nothing: removed again
    (tmp_path / "kept").mkdir()
    with output_lock(tmp_path / "kept"):
        (tmp_path / "kept" / "x").write_text("1")
    assert sorted(p.name for p in (tmp_path / "kept").iterdir()) == ["x"]


@pytest.mark.slow
def test_two_runs_into_one_folder(sequence, reference, tmp_path):
    """Two real runs into one folder: the second ends at once naming the first, which finishes undisturbed."""
    out = tmp_path / "race"
    first = subprocess.Popen(_command("run", str(sequence), "--out", str(out), *RUN), stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (out / ".m2h-slam.lock").is_file() and time.monotonic() < deadline:
        time.sleep(0.01)
    second = subprocess.run(_command("run", str(sequence), "--out", str(out), "--force", *RUN), capture_output=True,
                            text=True, timeout=120, check=False)
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert second.returncode == 2 and f"in use by another m2h-slam (pid {first.pid})" in second.stderr, second.stderr
    assert _same_outputs(reference, out) and _leftovers(out) == []


def test_ctrl_c_while_starting_or_loading_weights_is_an_interrupt(sequence, tmp_path, monkeypatch):
    """Ctrl-C at start-up (imports, parsing) or while the weights load ends with 'interrupted' and status 130: no
    traceback, and no false 'not a readable safetensors file' where torch turned the interrupt into a ValueError."""
    from m2h_slam import cli
    from m2h_slam.perception.model import weights

    monkeypatch.setattr(cli, "build_parser", lambda: (_ for _ in ()).throw(KeyboardInterrupt()))
    result = run_cli("run", str(sequence), "--out", str(tmp_path / "a"))
    assert (result.returncode, result.stderr) == (130, "m2h-slam: interrupted\n")
    monkeypatch.undo()

    def interrupted_read(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(weights, "load_file", interrupted_read)
    result = run_cli("run", str(sequence), "--out", str(tmp_path / "b"), "-q")
    assert (result.returncode, result.stderr) == (130, "m2h-slam: interrupted\n")

    def swallowed_read(*_args, **_kwargs):  # what torch does to a Ctrl-C inside safetensors' read
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)  # the handler raises in here
        except KeyboardInterrupt:
            raise ValueError("could not determine the shape of object type 'torch.storage.UntypedStorage'") from None
        raise AssertionError("SIGINT did not arrive")

    monkeypatch.setattr(weights, "load_file", swallowed_read)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal (not a background job)
    try:
        result = run_cli("run", str(sequence), "--out", str(tmp_path / "c"), "-q")
    finally:
        signal.signal(signal.SIGINT, previous)
    assert (result.returncode, result.stderr) == (130, "m2h-slam: interrupted\n")
    assert not any((tmp_path / name).exists() for name in "abc")  # nothing written: no empty folders left


@pytest.mark.slow
def test_ctrl_c_in_the_first_second_of_the_real_command(sequence, tmp_path):
    """SIGINT to a real m2h-slam process while it imports its modules, parses, or loads the network."""
    code = ("import signal, sys\nsignal.signal(signal.SIGINT, signal.default_int_handler)  # even in a background job\n"
            "from m2h_slam.cli import main\nprint('main', flush=True)\nsys.exit(main(sys.argv[1:]))\n")
    for delay in (0.0, 0.1, 0.3, 0.6, 1.0):
        process = subprocess.Popen([sys.executable, "-c", code, "run", str(sequence), "--out", str(tmp_path / "r"),
                                    "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert process.stdout.readline().strip() == "main"
        time.sleep(delay)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=120)
        assert process.returncode == 130 and err.splitlines()[-1] == "m2h-slam: interrupted", (delay, err)
        assert "Traceback" not in err and "error:" not in err, (delay, err)
        shutil.rmtree(tmp_path / "r", ignore_errors=True)
