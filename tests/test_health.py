"""Perception health: the verdict's rules, a still camera held still, a graph without a floor, and whole runs that
must come out ok (a synthetic walk) or not (noise, a cartoon) with the shipped demo weights."""

from __future__ import annotations

import json

import numpy as np
import pytest
import spark_dsg
from conftest import run_cli

from m2h_slam.core.config import Config, HealthConfig
from m2h_slam.core.labels import class_id
from m2h_slam.perception.ground_truth import prediction_from_ground_truth
from m2h_slam.sources import open_sequence
from m2h_slam.synthetic import WorldSpec
from m2h_slam.synthetic.out_of_domain import cartoon_clip, noise_clip, write_image_folder
from pipeline.mapping.health import FrameSignals, HealthMonitor
from pipeline.mapping.static_camera import StaticCamera
from pipeline.scene_mapper import SceneMapper

GOOD = FrameSignals(True, 0.001, 0.03, 0.95, 0.7)


def _report(frames):
    monitor = HealthMonitor(HealthConfig())
    monitor.frames = list(frames)
    return monitor.report()


def test_the_verdict_follows_the_thresholds():
    c = HealthConfig()
    assert _report([GOOD] * 10).verdict == "ok" and _report([GOOD] * 10).reasons == []
    assert _report([]).verdict == "ok"
    low_confidence = FrameSignals(True, 0.001, 0.03, (c.doubtful_semantic_confidence
                                                     + c.unreliable_semantic_confidence) / 2, 0.7)
    doubtful = _report([low_confidence] * 10)
    assert doubtful.verdict == "doubtful" and len(doubtful.reasons) == 1 and "semantic confidence" in doubtful.reasons[0]
    assert _report([FrameSignals(True, None, None, 0.2, 0.7)] * 10).verdict == "unreliable"
    # most frames untracked: unreliable, and the reason says so with the share
    lost = _report([GOOD] * 3 + [FrameSignals(False, None, None, 0.95, 0.7)] * 7)
    assert lost.verdict == "unreliable" and lost.numbers["measured_share"] == 0.3
    assert any("measured" in r and "0.30" in r for r in lost.reasons)
    # two numbers each only doubtful make the run unreliable
    shaky = FrameSignals(True, 0.001, (c.doubtful_depth_disagreement + c.unreliable_depth_disagreement) / 2,
                         low_confidence.confidence, 0.7)
    assert _report([shaky] * 10).verdict == "unreliable" and len(_report([shaky] * 10).reasons) == 2
    # frames without a depth comparison do not count as agreeing or disagreeing
    assert _report([FrameSignals(True, None, None, 0.95, 0.7)] * 10).numbers["depth_disagreement"] is None


@pytest.fixture(scope="module")
def still_walk(apartments):
    """A camera on a tripod in an apartment with two people walking (160x120, read only)."""
    return apartments(WorldSpec(seed=5, frames=40, people=2, static_camera=True), size=(160, 120))


def test_a_still_camera_is_told_from_a_moving_one(apartments, still_walk):
    detector = StaticCamera(Config().odometry.static_min_unchanged)
    frames = list(open_sequence(still_walk))
    detector.anchor_at(frames[0].rgb)
    assert all(detector.still(f.rgb, f.semantics) for f in frames[1:])
    moving = list(open_sequence(apartments(WorldSpec(seed=7, frames=60, rooms=3, people=2), size=(160, 120))))
    detector.anchor_at(moving[10].rgb)
    assert not any(detector.still(f.rgb, f.semantics) for f in moving[11:20])
    assert not detector.still(moving[0].rgb[:60], moving[0].semantics[:60])  # another size: no judgement


@pytest.mark.slow
def test_a_still_camera_with_people_stays_still_with_the_demo_weights(still_walk, tmp_path):
    out = tmp_path / "still"
    assert run_cli("run", still_walk, "--out", out, "-q").returncode == 0
    positions = np.loadtxt(out / "trajectory.txt")[:, 1:4]
    assert np.linalg.norm(np.diff(positions, axis=0), axis=1).sum() < 0.02  # without the hold: 1.2 m in 150 frames


def test_without_a_floor_the_graph_still_holds_objects_and_agents(apartments):
    path = apartments(WorldSpec(seed=7, frames=60, rooms=3, people=2), size=(160, 120))
    sequence = open_sequence(path)
    scene = SceneMapper(Config(), sequence.intrinsics)
    floor = class_id("floor")
    for frame in sequence:
        frame = frame.replace(semantics=np.where(frame.semantics == floor, 0, frame.semantics).astype(
            frame.semantics.dtype))
        scene.step(frame, prediction_from_ground_truth(frame))  # our odometry: a world that is not the truth's
    result = scene.finish()
    counts = result.graph.counts()
    assert result.graph_status["state"] == "built without the floor" and not result.graph_status["gravity_aligned"]
    assert counts["room"] == 0 and counts["place"] == 0 and counts["object"] >= 1 and counts["agent"] >= 1, counts
    # upright: the first camera looks along x with z up, so the walkers stay near its height, not below it
    first = result.map_T_camera[0]
    assert np.allclose(first[:3, 3], 0, atol=1e-6) and first[2, 1] < -0.9  # camera's y (down) points along -z


def _run(source, out, *flags):
    result = run_cli("run", source, "--out", out, *flags)
    assert result.returncode == 0, result.stderr
    return result, json.loads((out / "run.json").read_text())


@pytest.mark.slow
def test_a_synthetic_walk_is_ok_and_noise_or_a_cartoon_is_not(apartments, tmp_path):
    walk = apartments(WorldSpec(seed=7, frames=60, rooms=3, people=2), size=(160, 120))
    result, record = _run(walk, tmp_path / "walk", "--max-frames", "40")
    assert record["health"]["verdict"] == "ok", record["health"]
    assert "perception ok" in result.stderr and "cannot be trusted" not in result.stderr
    assert "synthetic apartments only" in result.stderr and "not synthetic" not in result.stderr  # said, not warned
    graph = json.loads((tmp_path / "walk" / "scene_graph.json").read_text())
    assert graph["health"] == {"verdict": "ok", "reasons": []} and graph["map_frame"]["gravity_aligned"]
    assert spark_dsg.DynamicSceneGraph.load(str(tmp_path / "walk" / "scene_graph_dsg.json")).metadata.get()[
        "health"]["verdict"] == "ok"

    noise = write_image_folder(tmp_path / "noise", noise_clip(16, (160, 120)))
    result, record = _run(noise, tmp_path / "noise_run")
    health = record["health"]
    assert health["verdict"] == "unreliable" and health["numbers"]["measured_share"] < 0.5, health
    assert sum("cannot be trusted" in line for line in result.stderr.splitlines()) == 1  # one warning line
    assert "perception unreliable" in result.stderr  # and the summary says so
    assert "this source is not synthetic" in result.stderr  # the demo weights warn on what they were not trained on
    graph = json.loads((tmp_path / "noise_run" / "scene_graph.json").read_text())
    assert graph["health"]["verdict"] == "unreliable" and graph["health"]["reasons"] == health["reasons"]

    cartoon = write_image_folder(tmp_path / "cartoon", cartoon_clip(20, (160, 120)))
    _, record = _run(cartoon, tmp_path / "cartoon_run")
    assert record["health"]["verdict"] != "ok", record["health"]
