"""`m2h-slam eval DATASET --out OUT`: scenes of a data set scored, broken scenes listed and not fatal, resume,
Ray workers and a Ray cluster address giving the same table, and the numbers equal a direct computation."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from test_hypersim import write_scene

from m2h_slam.cli import main
from m2h_slam.sources import ReadOptions, open_sequence
from m2h_slam.eval.dense_metrics import score_frames


def _hypersim_dataset(root: Path) -> Path:
    """Three two-camera Hypersim scenes; ai_002_001 misses cam_00's keyframe positions, ai_003_001's cam_00
    depth is NaN everywhere."""
    data = root / "hypersim"
    data.mkdir()
    for name in ("ai_001_001", "ai_002_001", "ai_003_001"):
        shutil.move(write_scene(root / f"tmp_{name}"), data / name)
    (data / "ai_002_001" / "_detail" / "cam_00" / "camera_keyframe_positions.hdf5").unlink()
    for depth in (data / "ai_003_001" / "images" / "scene_cam_00_geometry_hdf5").glob("*.depth_meters.hdf5"):
        with h5py.File(depth, "r+") as file:
            file["dataset"][...] = np.nan
    return data


def test_broken_scenes_are_listed_and_the_others_finish(tmp_path, capsys):
    data = _hypersim_dataset(tmp_path)
    out = tmp_path / "eval"
    assert main(["-q", "eval", str(data), "--out", str(out), "--gt-perception"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert sorted(metrics["scenes"]) == ["ai_001_001-cam_00", "ai_001_001-cam_01", "ai_002_001-cam_01",
                                         "ai_003_001-cam_01"]
    failed = metrics["failed"]
    assert sorted(failed) == ["ai_002_001-cam_00", "ai_003_001-cam_00"]
    assert "cam_00/camera_keyframe_positions.hdf5: missing" in failed["ai_002_001-cam_00"]
    assert "ai_003_001: ground-truth depth has no valid pixel" in failed["ai_003_001-cam_00"]
    dense = metrics["aggregate"]["dense"]  # ground truth as perception: perfect where the truth is valid
    assert dense["depth"]["abs_rel"] == pytest.approx(0, abs=1e-6) and dense["semantics"]["miou"] == 1.0
    assert dense["normals"]["mean_deg"] < 0.1 and dense["edges"] is None  # Hypersim has no edge ground truth
    assert metrics["aggregate"]["frames"] == 8 and metrics["format"] == "hypersim"
    report = (out / "report.md").read_text()
    assert "ai_002_001-cam_00" in report and "## Failed scenes" in report
    assert (out / "figures" / "iou_per_class.png").is_file()
    assert (out / "scenes" / "ai_001_001-cam_00" / "depth_error.png").is_file()
    assert "2 failed: ai_002_001-cam_00, ai_003_001-cam_00" in capsys.readouterr().out


@pytest.fixture(scope="module")
def synthetic_dataset(tmp_path_factory) -> Path:
    data = tmp_path_factory.mktemp("synthetic") / "data"
    for seed in (1, 2, 3):
        assert main(["-q", "synth", str(data / f"apt{seed}"), "--seed", str(seed), "--frames", "6",
                     "--size", "96x72", "--people", "0"]) == 0
    return data


def test_network_scores_equal_a_direct_computation_and_resume_skips_finished_scenes(synthetic_dataset, tmp_path):
    from m2h_slam.perception import Predictor
    from m2h_slam.perception.perception import demo_weights

    out = tmp_path / "eval"
    assert main(["-q", "eval", str(synthetic_dataset), "--out", str(out)]) == 0
    first = json.loads((out / "metrics.json").read_text())
    predictor = Predictor.from_weights(demo_weights())
    frames = (frame for scene in sorted(synthetic_dataset.iterdir()) for frame in open_sequence(scene, ReadOptions()))
    expected = score_frames(lambda frame: predictor.predict(frame.rgb), frames).result()
    dense = first["aggregate"]["dense"]
    for task, key in (("depth", "abs_rel"), ("depth", "rmse_m"), ("semantics", "miou"), ("normals", "mean_deg"),
                      ("edges", "ods_f")):
        assert dense[task][key] == pytest.approx(expected[task][key], rel=1e-4), (task, key)
    assert first["aggregate"]["frames"] == 18 and not first["failed"]

    kept = out / "scenes" / "apt1" / "result.json"
    stamp = kept.stat().st_mtime_ns
    (out / "scenes" / "apt2" / "result.json").unlink()  # as if killed before apt2 finished
    assert main(["-q", "eval", str(synthetic_dataset), "--out", str(out)]) == 0
    again = json.loads((out / "metrics.json").read_text())
    assert kept.stat().st_mtime_ns == stamp  # apt1 was not redone
    assert (out / "scenes" / "apt2" / "result.json").is_file()
    assert again["aggregate"]["dense"] == first["aggregate"]["dense"]
    assert main(["-q", "eval", str(synthetic_dataset), "--out", str(out), "--median-scaling"]) == 2  # other settings


def _table(metrics: dict) -> dict:
    return {"dense": metrics["aggregate"]["dense"], "scenes": {k: v["dense"] for k, v in metrics["scenes"].items()},
            "failed": metrics["failed"]}


def test_a_ray_cluster_gives_the_same_table_as_local_workers(synthetic_dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")  # a throw-away local cluster: no token to hand around
    ray = Path(sys.executable).parent / "ray"
    port = "6391"
    started = subprocess.run([str(ray), "start", "--head", "--port", port, "--num-cpus", "2",
                              "--include-dashboard", "false", "--disable-usage-stats"],
                             capture_output=True, text=True, timeout=120)
    assert started.returncode == 0, started.stderr[-2000:]
    try:
        assert main(["-q", "eval", str(synthetic_dataset), "--out", str(tmp_path / "cluster"),
                     "--ray-address", f"127.0.0.1:{port}"]) == 0
    finally:
        subprocess.run([str(ray), "stop", "--force"], capture_output=True, timeout=120)
    assert main(["-q", "eval", str(synthetic_dataset), "--out", str(tmp_path / "local"), "--workers", "2"]) == 0
    cluster = json.loads((tmp_path / "cluster" / "metrics.json").read_text())
    local = json.loads((tmp_path / "local" / "metrics.json").read_text())
    assert _table(cluster) == _table(local) and len(local["scenes"]) == 3


def test_nyudmt_split_in_chunks_and_the_papers_four_numbers(tmp_path):
    from test_dataset_readers import write_nyudmt

    from m2h_slam.dataset_tools.items import dataset_items

    root, _ = write_nyudmt(tmp_path / "NYUD_MT")
    chunks = dataset_items(root, chunk_frames=2)  # val by default: 3 images
    assert [(c.name, c.span) for c in chunks] == [("NYUD_MT-val-00000", (0, 2)), ("NYUD_MT-val-00002", (2, 1))]
    assert [c.span for c in dataset_items(root, split="train", chunk_frames=2)] == [(0, 2)]
    out = tmp_path / "eval"
    assert main(["-q", "eval", str(root), "--out", str(out), "--split", "train", "--gt-perception"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["aggregate"]["frames"] == 2 and metrics["format"] == "nyudmt"
    table = metrics["paper_table"]  # ground truth as perception: the best possible row
    assert table["miou_percent"] == 100.0 and table["depth_rmse_m"] == pytest.approx(0, abs=1e-6)
    assert table["normal_mean_deg"] < 0.1 and table["edge_ods_f_percent"] == 100.0
    assert "The M2H paper's NYUD-MT table" in (out / "report.md").read_text()


def test_mapping_a_replica_scene_scores_it_against_the_released_mesh(tmp_path):
    """A synthetic apartment written in the NICE-SLAM Replica layout (a tenth of the 1200x680 camera) with its mesh
    as room0_mesh.ply: --map scores the trajectory and the reconstruction against that mesh."""
    from m2h_slam.formats import image_io

    synthetic = tmp_path / "apt"
    assert main(["-q", "synth", str(synthetic), "--seed", "4", "--frames", "30", "--size", "120x68",
                 "--hfov-deg", "90", "--people", "0"]) == 0
    scene = tmp_path / "Replica" / "room0"
    poses = []
    for k, frame in enumerate(open_sequence(synthetic)):
        image_io.write_rgb(scene / "results" / f"frame{k:06d}.jpg", frame.rgb)
        image_io.write_depth(scene / "results" / f"depth{k:06d}.png", frame.depth_m, 6553.5)
        poses.append(" ".join(f"{x:.10f}" for x in frame.world_T_camera.ravel()))
    (scene / "traj.txt").write_text("\n".join(poses) + "\n")
    shutil.copy(synthetic / "mesh.ply", tmp_path / "Replica" / "room0_mesh.ply")
    out = tmp_path / "eval"
    assert main(["-q", "eval", str(tmp_path / "Replica"), "--out", str(out), "--map", "--gt-perception",
                 "--poses", "gt"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    mapping = metrics["scenes"]["room0"]["mapping"]
    assert metrics["format"] == "replica" and mapping["mesh_reference"] == "reference mesh"
    assert mapping["ate_rmse_m"] < 0.01 and mapping["mesh_f1@0.05m"] > 0.8 and mapping["mesh_accuracy_m"] < 0.03
    assert metrics["aggregate"]["mapping"]["mesh_f1@0.05m"] == mapping["mesh_f1@0.05m"]
    assert (out / "scenes" / "room0" / "trajectory.png").is_file() and (out / "scenes" / "room0" / "topdown.png").is_file()


def test_hypersim_official_split_picks_the_cameras(tmp_path):
    from m2h_slam.core.errors import InputError
    from m2h_slam.dataset_tools.items import SPLIT_CSV, dataset_items

    data = tmp_path / "hypersim"
    data.mkdir()
    for name in ("ai_001_001", "ai_002_001"):
        shutil.move(write_scene(tmp_path / f"tmp_{name}"), data / name)
    rows = ["scene_name,camera_name,frame_id,included_in_public_release,exclude_reason,split_partition_name"]
    rows += [f"ai_001_001,cam_0{c},{k},True,,val" for c in (0, 1) for k in (0, 1)]
    rows += ["ai_002_001,cam_00,0,True,,train", "ai_002_001,cam_01,0,False,some reason,", "ai_009_001,cam_00,0,True,,test"]
    (data / SPLIT_CSV).write_text("\n".join(rows) + "\n")
    assert [i.name for i in dataset_items(data, "val")] == ["ai_001_001-cam_00", "ai_001_001-cam_01"]
    assert [i.name for i in dataset_items(data, "train")] == ["ai_002_001-cam_00"]
    assert len(dataset_items(data)) == 4  # no split: every camera
    with pytest.raises(InputError, match="none of the 'test' split's scenes"):
        dataset_items(data, "test")
