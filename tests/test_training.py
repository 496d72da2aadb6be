"""Training: augmentations keep depth, normals and intrinsics consistent; a few steps lower the loss; a resumed
run equals an uninterrupted one; DDP on 2 CPU processes keeps equal replicas; configs are checked."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from m2h_slam.cli import main
from m2h_slam.core.geometry import backproject, normals_from_depth
from m2h_slam.sources import ReadOptions, open_sequence
from m2h_slam.train.augment import AugmentConfig, augment, flip_horizontal, zoom_crop

SIZE = "112x84"


@pytest.fixture(scope="module")
def sequences(tmp_path_factory):
    root = tmp_path_factory.mktemp("training")
    for seed, frames in ((5, 4), (6, 2)):
        assert main(["-q", "synth", str(root / f"s{seed}"), "--seed", str(seed), "--frames", str(frames),
                     "--size", SIZE, "--people", "0"]) == 0
    return root


def _normal_agreement_deg(frame) -> float:
    """Median angle between the frame's normals and the normals of its own depth (surfaces, not edges)."""
    derived = normals_from_depth(frame.depth_m, frame.intrinsics)
    valid = (np.linalg.norm(derived, axis=-1) > 0) & (np.linalg.norm(frame.normals, axis=-1) > 0)
    cosine = np.clip(np.sum(derived[valid] * frame.normals[valid], axis=-1), -1, 1)
    return float(np.degrees(np.median(np.arccos(cosine))))


def test_augmentations_keep_points_normals_and_intrinsics_consistent(sequences):
    frame = next(iter(open_sequence(sequences / "s5", ReadOptions())))
    assert _normal_agreement_deg(frame) < 2.0
    zoomed = zoom_crop(frame, 1.5, 20, 10)
    K0, K1 = frame.intrinsics, zoomed.intrinsics
    assert (K1.width, K1.height) == (K0.width, K0.height) and K1.fx == pytest.approx(1.5 * K0.fx)
    # a zoomed pixel's 3D point, scaled back by the zoom, lies on the original surface: project it into the original
    points = 1.5 * backproject(zoomed.depth_m, K1)
    u0 = np.round(points[..., 0] / points[..., 2] * K0.fx + K0.cx).astype(int)
    v0 = np.round(points[..., 1] / points[..., 2] * K0.fy + K0.cy).astype(int)
    inside = (zoomed.depth_m > 0) & (u0 >= 0) & (u0 < K0.width) & (v0 >= 0) & (v0 < K0.height)
    original = frame.depth_m[v0[inside], u0[inside]]
    assert inside.mean() > 0.9 and np.mean(np.abs(original - 1.5 * zoomed.depth_m[inside]) < 0.02 * original) > 0.95
    same_normal = np.sum(zoomed.normals[inside] * frame.normals[v0[inside], u0[inside]], axis=-1) > np.cos(0.05)
    assert same_normal.mean() > 0.95  # a zoom turns nothing: each point keeps its normal
    flipped = flip_horizontal(frame)
    mirrored = backproject(flipped.depth_m, flipped.intrinsics)[:, ::-1] * [-1, 1, 1]
    assert np.allclose(mirrored, backproject(frame.depth_m, frame.intrinsics), atol=1e-5)  # x mirrored
    assert _normal_agreement_deg(flipped) < 2.0
    unflipped_normals = frame.replace(depth_m=flipped.depth_m, intrinsics=flipped.intrinsics,
                                      normals=np.ascontiguousarray(frame.normals[:, ::-1]))
    assert _normal_agreement_deg(unflipped_normals) > 5.0  # the check sees a flip that forgets the normals' x
    config = AugmentConfig()
    one, two = (augment(frame, np.random.default_rng(7), config) for _ in range(2))
    assert np.array_equal(one.rgb, two.rgb) and np.array_equal(one.depth_m, two.depth_m)  # same seed, same draw
    colours_only = augment(frame, np.random.default_rng(3), AugmentConfig(zoom_max=1.0, flip=False))
    assert not np.array_equal(colours_only.rgb, frame.rgb)
    assert np.array_equal(colours_only.depth_m, frame.depth_m) and colours_only.intrinsics == frame.intrinsics


def _rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


TRAIN = ["--size", SIZE, "--batch-size", "2", "--workers", "0", "--lr", "3e-3"]


def _config(tmp_path, **values):
    path = tmp_path / "train.yaml"
    path.write_text("warmup_steps: 2\nlog_every_steps: 1\n" + "".join(f"{k}: {v}\n" for k, v in values.items()))
    return str(path)


@pytest.mark.slow
def test_resumed_training_equals_an_uninterrupted_run_and_lowers_the_loss(sequences, tmp_path):
    config = _config(tmp_path)
    full = tmp_path / "full"
    assert main(["-q", "train", str(sequences / "s5"), "--out", str(full), "--epochs", "3", "--config", config,
                 "--val", str(sequences / "s6"), *TRAIN]) == 0
    steps = _rows(full / "train.csv")
    assert [int(r["step"]) for r in steps] == [1, 2, 3, 4, 5, 6]
    assert float(steps[-1]["loss"]) < float(steps[0]["loss"])
    summary = json.loads((full / "train.json").read_text())
    assert summary["finished"] and set(summary["history"][-1]["val"]) >= {"abs_rel", "miou", "normal_mean_deg",
                                                                          "edge_ods_f"}
    assert len(_rows(full / "val.csv")) == 3 and (full / "best.safetensors").is_file()
    assert any(p.name.startswith("events.out.tfevents") for p in (full / "tensorboard").iterdir())

    parts = tmp_path / "parts"
    assert main(["-q", "train", str(sequences / "s5"), "--out", str(parts), "--epochs", "3", "--config", config,
                 "--val", str(sequences / "s6"), "--stop-after-steps", "3", *TRAIN]) == 0
    assert not json.loads((parts / "train.json").read_text())["finished"]
    assert main(["-q", "train", str(sequences / "s5"), "--out", str(parts), "--epochs", "3", "--config", config,
                 "--val", str(sequences / "s6"), *TRAIN]) == 2  # a run is there: not overwritten
    assert main(["-q", "train", str(sequences / "s5"), "--out", str(parts), "--epochs", "3", "--config", config,
                 "--val", str(sequences / "s6"), "--resume", *TRAIN]) == 0
    resumed = _rows(parts / "train.csv")
    assert [int(r["step"]) for r in resumed] == [1, 2, 3, 4, 5, 6]
    for a, b in zip(steps, resumed):
        assert float(b["loss"]) == pytest.approx(float(a["loss"]), rel=1e-4), a["step"]
    from m2h_slam.perception.model.weights import load_checkpoint

    weights_full = load_checkpoint(full / "last.safetensors").state_dict()
    weights_parts = load_checkpoint(parts / "last.safetensors").state_dict()
    assert all(torch.allclose(weights_full[k], weights_parts[k], atol=1e-5) for k in weights_full)


@pytest.mark.slow
def test_a_stopped_training_keeps_its_last_step(sequences, tmp_path):
    """SIGTERM to the whole process group (as a job scheduler sends it; the DataLoader worker gets it too) saves
    the last finished step and exits as 'terminated'; --resume goes on from that step."""
    out = tmp_path / "stopped"
    command = [sys.executable, "-m", "m2h_slam.cli", "-q", "train", str(sequences / "s5"), "--out", str(out),
               "--epochs", "100", "--config", _config(tmp_path), "--size", SIZE, "--batch-size", "2", "--workers", "1",
               "--lr", "3e-3"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not ((out / "train.csv").is_file() and len(_rows(out / "train.csv")) >= 3):
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143 and "terminated" in stderr and "unexpected" not in stderr, stderr
    logged = [int(r["step"]) for r in _rows(out / "train.csv")]
    assert len(logged) >= 3 and torch.load(out / "last.state.pt", weights_only=True)["step"] == logged[-1]
    assert main(["-q", "train", str(sequences / "s5"), "--out", str(out), "--epochs", "100", "--config",
                 _config(tmp_path), "--resume", "--stop-after-steps", str(logged[-1] + 2), *TRAIN]) == 0
    assert [int(r["step"]) for r in _rows(out / "train.csv")] == list(range(1, logged[-1] + 3))


def test_resume_forgets_the_rows_logged_after_the_checkpoint(tmp_path):
    from m2h_slam.train.trainer import _Logs

    logs = _Logs(tmp_path)
    for step in range(1, 6):
        logs.row("train", {"step": step, "epoch": 1, "loss": 1.0 / step})
    logs.row("val", {"step": 4, "epoch": 1, "abs_rel": 0.5})
    logs.forget_after(3)  # killed at step 5, the checkpoint holds step 3
    logs.close()
    assert [int(r["step"]) for r in _rows(tmp_path / "train.csv")] == [1, 2, 3]
    assert _rows(tmp_path / "val.csv") == [] and (tmp_path / "val.csv").read_text().startswith("step,epoch,abs_rel")


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_keeps_equal_replicas(sequences, tmp_path):
    out = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "m2h_slam.cli", "-q", "train", str(sequences / "s5"), "--out", str(out), "--epochs", "1",
               "--config", _config(tmp_path), *TRAIN]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((out / "train.json").read_text())
    assert summary["world_size"] == 2 and summary["steps"] == 1  # 4 frames: 2 per process, one batch of 2 each
    first, second = summary["replica_checksums"]
    assert first == second  # DDP averaged the gradients: both replicas took the same step


def test_training_configs_are_checked(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochs: 2\naugment:\n  zoom_maximum: 2\n")
    assert main(["-q", "train", "x", "--out", str(tmp_path / "o"), "--config", str(bad)]) == 2
    assert "bad.yaml: unknown config key 'augment.zoom_maximum' (did you mean 'zoom_max'?)" in capsys.readouterr().err
    bad.write_text("precision: fp8\n")
    assert main(["-q", "train", "x", "--out", str(tmp_path / "o"), "--config", str(bad)]) == 2
    assert ("bad.yaml: config key 'precision': expected one of ['auto', 'fp32', 'bf16', 'fp16'], got 'fp8'"
            in capsys.readouterr().err)
    bad.write_text("semantic_weighting: inverse\n")
    assert main(["-q", "train", "x", "--out", str(tmp_path / "o"), "--config", str(bad)]) == 2
    assert ("bad.yaml: config key 'semantic_weighting': expected one of ['sqrt_inverse', 'none'], got 'inverse'"
            in capsys.readouterr().err)


def test_one_dataset_interface_for_synthetic_nyudmt_and_hypersim(sequences, tmp_path):
    from test_dataset_readers import write_nyudmt
    from test_hypersim import write_scene

    from m2h_slam.core.labels import semantic_edges
    from m2h_slam.train import TrainingDataset

    nyud, _ = write_nyudmt(tmp_path / "NYUD_MT")
    hypersim = write_scene(tmp_path / "hypersim", cameras=("cam_00",), frames=2)
    data = TrainingDataset([sequences / "s6", nyud / "gt_sets" / "train.txt", hypersim], (56, 42))
    assert len(data) == 2 + 2 + 2
    for index in range(len(data)):
        image, target = data[index]
        assert image.shape == (3, 42, 56) and target["depth"].shape == (1, 42, 56)
        assert target["normals"].shape == (3, 42, 56) and target["intrinsics"].shape == (4,)
    frame = data.frame(4)  # Hypersim: no edge files, edges from the label boundaries
    assert np.array_equal(frame.edges, semantic_edges(frame.semantics)) and frame.edges.any()


def test_a_training_folder_is_never_its_data(sequences, capsys):
    assert main(["-q", "train", str(sequences / "s5"), "--out", str(sequences / "s5" / "run")]) == 2
    assert "output lies inside the input" in capsys.readouterr().err


def test_frames_in_memory_train_like_frames_on_disk(sequences, tmp_path):
    """TrainingDataset.from_samples gives the items of the same frames read from disk; ``repeats`` passes draw
    fresh augmentations; run_training takes such datasets instead of config sources."""
    from m2h_slam.app.training import run_training
    from m2h_slam.train.dataset import TrainingDataset, compact
    from m2h_slam.train.trainer import TrainConfig

    size = (112, 84)
    on_disk = TrainingDataset([sequences / "s5"], size)
    frames = list(open_sequence(sequences / "s5", ReadOptions(resize=size)))
    in_memory = TrainingDataset.from_samples([compact(f) for f in frames], size)
    assert len(in_memory) == len(on_disk) == 4
    for (image_a, target_a), (image_b, target_b) in zip(on_disk, in_memory):
        assert torch.equal(image_a, image_b) and all(torch.equal(target_a[k], target_b[k]) for k in target_a)
    with pytest.raises(ValueError, match="size"):
        TrainingDataset.from_samples([compact(f) for f in frames], (56, 42))

    twice = TrainingDataset.from_samples([compact(f) for f in frames], size, AugmentConfig(), repeats=2)
    assert len(twice) == 8
    first, again = twice.frame(1), twice.frame(5)  # the same frame, another draw
    assert not np.array_equal(first.rgb, again.rgb)
    assert np.array_equal(twice.frame(1).rgb, first.rgb)  # each draw reproducible
    with pytest.raises(IndexError):  # the end (iteration over the dataset stops there)
        twice[8]

    config = TrainConfig(batch_size=2, epochs=1, repeats=2, workers=0, learning_rate=1e-4, warmup_steps=1,
                         size=size, augment=None)
    twice.augment = None
    summary = run_training(config, tmp_path / "run", progress=False, data=twice,
                           held_out=TrainingDataset([sequences / "s6"], size))
    assert summary["steps"] == 4 and summary["finished"] and "abs_rel" in summary["history"][0]["val"]


def test_gpu_recipe_renders_the_training_rule_and_fills_its_time(monkeypatch):
    """datasets/synthetic/train_gpu.py: apartments as make_training_set.sh draws them, straight into samples;
    epochs x passes that fill the time budget."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "datasets" / "synthetic" / "train_gpu.py"
    spec = importlib.util.spec_from_file_location("train_gpu", path)
    recipe = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "train_gpu", recipe)  # its dataclass looks its module up
    spec.loader.exec_module(recipe)
    def frames(seed: int, plain: bool) -> list:
        return recipe.render(recipe.Job(seed, 4, 3.0, 2, (64, 48), plain=plain))

    randomised, effects, plain_5, plain_6 = frames(5, False), frames(6, False), frames(5, True), frames(6, True)
    assert len(randomised) == len(plain_5) == 2  # every second of 4 frames
    assert randomised[0][0].shape == (48, 64, 3) and randomised[0][5][4:] == (64, 48)
    assert not np.array_equal(randomised[0][0], plain_5[0][0])  # seed % 4 == 1: domain-randomised
    # seed % 3 == 0: camera noise, blur and exposure on the same geometry
    assert np.array_equal(effects[0][2], plain_6[0][2]) and not np.array_equal(effects[0][0], plain_6[0][0])
    epochs, repeats = recipe.fit_schedule(rate=500, frames=12000, minutes=5, epoch_minutes=1)
    assert epochs == 5 and repeats == int((60 - recipe.EPOCH_OVERHEAD_S) * 500 / 12000)
    assert recipe.fit_schedule(rate=10, frames=12000, minutes=0.5, epoch_minutes=1) == (1, 1)
