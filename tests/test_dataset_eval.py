"""`m2h-slam eval DATASET --out OUT`: scenes of a data set scored, broken scenes listed and not fatal, resume,
Ray workers and a Ray cluster address giving the same table, and the numbers equal a direct computation."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from test_hypersim import write_scene

from m2h_slam.cli import main
from m2h_slam.core.config import Config
from m2h_slam.core.dense_metrics import score_frames
from m2h_slam.formats.image_io import read_rgb
from m2h_slam.sources import ReadOptions, open_sequence

BAR_BLUE, ESTIMATE_ORANGE, SURFACE_GREY, MAGMA_ZERO = (76, 114, 176), (221, 132, 82), (153, 153, 153), (0, 0, 4)


def _colour(picture: np.ndarray, rgb, tolerance: int) -> np.ndarray:
    """Mask of the pixels within ``tolerance`` (per channel) of ``rgb``."""
    return np.abs(picture.astype(int) - np.array(rgb)).max(axis=-1) <= tolerance


def _assert_iou_bars(path: Path, iou_per_class: dict) -> None:
    """The IoU figure has one bar per class with an IoU of a pixel or more, best on top, starting at 0 and as
    long as its IoU (to 3 px)."""
    from scipy import ndimage

    boxes = ndimage.find_objects(ndimage.label(_colour(read_rgb(path), BAR_BLUE, 12))[0])
    bars = sorted((box[0].start, box[1].start, box[1].stop - box[1].start) for box in boxes)  # top to bottom
    ious = sorted(iou_per_class.values(), reverse=True)
    assert bars and len({left for _, left, _ in bars}) == 1, bars  # all from the axis' 0
    pixels_per_unit = bars[0][2] / ious[0]
    assert 100 < pixels_per_unit < read_rgb(path).shape[1], pixels_per_unit
    drawn = [iou for iou in ious if iou * pixels_per_unit >= 1]
    assert len(bars) == len(drawn), (bars, ious)
    assert all(abs(width - iou * pixels_per_unit) <= 3 for (_, _, width), iou in zip(bars, drawn)), (bars, drawn)


def _panels(path: Path) -> list[np.ndarray]:
    """The image areas of a figure, left to right: filled regions of ink at least 60 px a side."""
    from scipy import ndimage

    picture = read_rgb(path)
    labels, _ = ndimage.label((picture < 240).any(axis=-1))
    found = []
    for k, box in enumerate(ndimage.find_objects(labels), start=1):
        if min(s.stop - s.start for s in box) >= 60 and (labels[box] == k).mean() > 0.9:
            found.append((box[1].start, picture[box]))
    return [panel for _, panel in sorted(found, key=lambda item: item[0])]


def _assert_depth_error_figure(path: Path, perfect: bool) -> None:
    """Four pictures side by side: image, true depth, predicted depth, error. With ground truth as perception
    the predicted depth looks as the true one and the error is magma's zero wherever the truth is valid."""
    panels = _panels(path)
    assert len(panels) == 4 and max(p.shape[0] for p in panels) - min(p.shape[0] for p in panels) <= 2, \
        [p.shape for p in panels]
    image, true_depth, predicted_depth, error = panels
    median = [np.median(p.reshape(-1, 3), axis=0) for p in (true_depth, predicted_depth)]
    zero = _colour(error, MAGMA_ZERO, 3).mean()
    if perfect:
        assert np.abs(median[0] - median[1]).max() <= 3 and zero > 0.95, (median, zero)
    else:
        assert image.std() > 10 and true_depth.std() > 10 and zero < 0.5, zero


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
    _assert_iou_bars(out / "figures" / "iou_per_class.png", dense["semantics"]["iou_per_class"])
    for scene in metrics["scenes"]:
        _assert_depth_error_figure(out / "scenes" / scene / "depth_error.png", perfect=True)
    assert "![IoU per class](figures/iou_per_class.png)" in report
    assert "2 failed: ai_002_001-cam_00, ai_003_001-cam_00" in capsys.readouterr().out


@pytest.fixture(scope="module")
def synthetic_dataset(tmp_path_factory) -> Path:
    data = tmp_path_factory.mktemp("synthetic") / "data"
    for seed in (1, 2, 3):
        assert main(["-q", "synth", str(data / f"apt{seed}"), "--seed", str(seed), "--frames", "6",
                     "--size", "96x72", "--people", "0"]) == 0
    return data


RAY_PORT = "6391"


@pytest.fixture(scope="session")
def background():
    """Processes left to finish while the other tests run; waited for at the end of the session."""
    processes: list[subprocess.Popen] = []
    yield processes
    for process in processes:
        process.wait(timeout=120)


@pytest.fixture(scope="module")
def ray_cluster(background):
    """A throw-away local Ray cluster (``ray start``), started in the background; the test that uses it waits for
    it. Stopped beside the tests that follow."""
    ray = Path(sys.executable).parent / "ray"
    environment = {**os.environ, "RAY_AUTH_MODE": "disabled"}  # no token to hand around
    starting = subprocess.Popen([str(ray), "start", "--head", "--port", RAY_PORT, "--num-cpus", "2",
                                 "--include-dashboard", "false", "--disable-usage-stats"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment)
    yield starting
    starting.wait(timeout=120)
    background.append(subprocess.Popen([str(ray), "stop", "--force"], stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL, env=environment))


@pytest.fixture(scope="module")
def ray_eval(synthetic_dataset, ray_cluster, tmp_path_factory) -> Path:
    """The synthetic data set scored with the demo network by two local Ray workers (a new local instance, although
    a cluster is starting on this machine at the same time)."""
    out = tmp_path_factory.mktemp("ray") / "eval"
    assert main(["-q", "eval", str(synthetic_dataset), "--out", str(out), "--workers", "2"]) == 0
    return out


def _table(metrics: dict) -> dict:
    return {"dense": metrics["aggregate"]["dense"], "scenes": {k: v["dense"] for k, v in metrics["scenes"].items()},
            "failed": metrics["failed"]}


def _flat(table, prefix: str = "") -> dict:
    """A nested table as {"a/b/c": leaf}."""
    if not isinstance(table, dict):
        return {prefix: table}
    return {key: leaf for k, v in table.items() for key, leaf in _flat(v, f"{prefix}/{k}").items()}


def _same_table(a: dict, b: dict) -> bool:
    """Equal keys and values, numbers to 1e-6 relative: workers with another thread count sum in another order."""
    a, b = _flat(_table(a)), _flat(_table(b))
    return a.keys() == b.keys() and all(a[k] == pytest.approx(b[k], rel=1e-6) for k in a)


@pytest.mark.slow
def test_network_scores_equal_a_direct_computation_and_resume_skips_finished_scenes(synthetic_dataset, ray_eval,
                                                                                    tmp_path):
    """Ray workers score what a direct computation scores; a resumed run (inline, one worker) redoes only the scene
    without a result and gives the same table."""
    from m2h_slam.perception import Predictor
    from m2h_slam.perception.perception import demo_weights

    out = tmp_path / "eval"
    shutil.copytree(ray_eval, out)
    first = json.loads((out / "metrics.json").read_text())
    predictor = Predictor.from_weights(demo_weights(), variants=Config().perception.variants)  # as the eval runs it
    frames = (frame for scene in sorted(synthetic_dataset.iterdir()) for frame in open_sequence(scene, ReadOptions()))
    expected = score_frames(lambda frame: predictor.predict(frame.rgb), frames).result()
    dense = first["aggregate"]["dense"]
    for task, key in (("depth", "abs_rel"), ("depth", "rmse_m"), ("semantics", "miou"), ("normals", "mean_deg"),
                      ("edges", "ods_f")):
        assert dense[task][key] == pytest.approx(expected[task][key], rel=1e-4), (task, key)
    assert first["aggregate"]["frames"] == 18 and not first["failed"]
    _assert_iou_bars(out / "figures" / "iou_per_class.png", dense["semantics"]["iou_per_class"])
    for scene in first["scenes"]:
        _assert_depth_error_figure(out / "scenes" / scene / "depth_error.png", perfect=False)

    kept = out / "scenes" / "apt1" / "result.json"
    stamp = kept.stat().st_mtime_ns
    (out / "scenes" / "apt2" / "result.json").unlink()  # as if killed before apt2 finished
    assert main(["-q", "eval", str(synthetic_dataset), "--out", str(out)]) == 0
    again = json.loads((out / "metrics.json").read_text())
    assert kept.stat().st_mtime_ns == stamp  # apt1 was not redone
    assert (out / "scenes" / "apt2" / "result.json").is_file()
    assert _same_table(again, first)
    assert main(["-q", "eval", str(synthetic_dataset), "--out", str(out), "--median-scaling"]) == 2  # other settings


@pytest.mark.slow
def test_a_ray_cluster_gives_the_same_table_as_local_workers(synthetic_dataset, ray_eval, ray_cluster, tmp_path,
                                                             monkeypatch):
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    ray_cluster.wait(timeout=120)
    assert ray_cluster.returncode == 0, ray_cluster.stdout.read()[-2000:]
    assert main(["-q", "eval", str(synthetic_dataset), "--out", str(tmp_path / "cluster"),
                 "--ray-address", f"127.0.0.1:{RAY_PORT}"]) == 0
    cluster = json.loads((tmp_path / "cluster" / "metrics.json").read_text())
    local = json.loads((ray_eval / "metrics.json").read_text())
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
    figures = out / "scenes" / "room0"
    _assert_depth_error_figure(figures / "depth_error.png", perfect=True)
    # The trajectory: the estimate (on top of the truth: exact poses) as one line with the walk's proportions.
    from scipy import ndimage

    picture = read_rgb(figures / "trajectory.png")
    labels, n = ndimage.label(_colour(picture, ESTIMATE_ORANGE, 30))
    line = labels == 1 + int(np.argmax(ndimage.sum(labels > 0, labels, range(1, n + 1))))  # not the legend's
    rows, cols = np.nonzero(line)
    height, width = np.ptp(rows) + 1, np.ptp(cols) + 1
    walk = np.array([f.world_T_camera[:3, 3] for f in open_sequence(synthetic)])
    a, b = sorted(np.argsort(np.ptp(walk, axis=0))[1:])  # the plan: all but the axis it moved least along
    assert max(height, width) > 0.5 * min(picture.shape[:2]) and line.sum() > 0.8 * max(height, width)
    assert width / height == pytest.approx(np.ptp(walk[:, a]) / np.ptp(walk[:, b]), abs=0.05), (width, height)
    # The top-down map: the true surface (grey) and the map (blue) as point clouds spread over the plot.
    picture = read_rgb(figures / "topdown.png")
    surface, mapped = _colour(picture, SURFACE_GREY, 20), _colour(picture, BAR_BLUE, 20)
    assert surface.sum() > 200 and mapped.sum() > 1000, (surface.sum(), mapped.sum())
    rows, cols = np.nonzero(mapped)
    spread = np.array([np.ptp(np.percentile(v, [5, 95])) for v in (rows, cols)]) / np.array(picture.shape[:2])
    assert (spread > 0.3).all(), spread
    report = (out / "report.md").read_text()
    assert all(f"(scenes/room0/{name})" in report for name in ("depth_error.png", "trajectory.png", "topdown.png"))


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


def test_a_scene_that_is_not_recognised_is_listed_as_failed_not_dropped(tmp_path, capsys):
    """A Hypersim scene without its scene-level metadata_scene.csv is not recognised as a scene: it is listed as
    failed with the file it lacks (it was left out without a word), and the other scene is evaluated."""
    data = tmp_path / "hypersim"
    data.mkdir()
    for name in ("ai_001_001", "ai_002_001"):
        shutil.move(write_scene(tmp_path / f"tmp_{name}", name=name), data / name)
    (data / "ai_002_001" / "_detail" / "metadata_scene.csv").unlink()
    out = tmp_path / "eval"
    assert main(["-q", "eval", str(data), "--out", str(out), "--gt-perception"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert sorted(metrics["scenes"]) == ["ai_001_001-cam_00", "ai_001_001-cam_01"]
    assert list(metrics["failed"]) == ["ai_002_001"]
    assert "_detail/metadata_scene.csv: missing" in metrics["failed"]["ai_002_001"].replace("\\", "/")
    assert "1 failed: ai_002_001" in capsys.readouterr().out
