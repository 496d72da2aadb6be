"""The shipped demo weights load without --weights and score on held-out frames what their model card says."""

import json

import pytest

from m2h_slam.cli import main
from m2h_slam.sources import open_sequence
from m2h_slam.synthetic import WorldSpec, write_synthetic
from m2h_slam.eval.dense_metrics import FrameScores
from m2h_slam.perception import Predictor
from m2h_slam.perception.perception import demo_weights


def test_shipped_weights_score_what_the_model_card_says(tmp_path, capsys):
    card = json.loads(demo_weights().with_suffix(".card.json").read_text())["test_protocol"]
    sequence = write_synthetic(tmp_path / "held_out", WorldSpec(seed=card["seed"], frames=card["frames"]),
                               size=tuple(card["size"]), progress=False)
    assert main(["-q", "predict", str(sequence / "rgb"), "--out", str(tmp_path / "predicted")]) == 0  # no --weights
    assert len(list((tmp_path / "predicted").glob("*_depth.png"))) == card["frames"]
    predictor, scores = Predictor.from_weights(demo_weights()), FrameScores()
    for frame in open_sequence(sequence):
        scores.add(predictor.predict(frame.rgb), frame)
    result = scores.result()
    measured = {"abs_rel": result["depth"]["abs_rel"], "miou": result["semantics"]["miou"],
                "normal_mean_deg": result["normals"]["mean_deg"], "edge_ods_f": result["edges"]["ods_f"]}
    for key, value in measured.items():
        assert value == pytest.approx(card[key], rel=0.10), key
