"""The shipped demo weights load without --weights and score on held-out frames what their model card says."""

import json

import pytest

from m2h_slam.cli import main
from m2h_slam.core.dense_metrics import headline, score_frames
from m2h_slam.perception import Predictor
from m2h_slam.perception.perception import demo_weights
from m2h_slam.sources import open_sequence
from m2h_slam.synthetic import WorldSpec, write_synthetic


@pytest.mark.slow
def test_shipped_weights_score_what_the_model_card_says(tmp_path, capsys):
    card = json.loads(demo_weights().with_suffix(".card.json").read_text())["test_protocol"]
    sequence = write_synthetic(tmp_path / "held_out", WorldSpec(seed=card["seed"], frames=card["frames"]),
                               size=tuple(card["size"]), progress=False)
    assert main(["-q", "predict", str(sequence / "rgb"), "--out", str(tmp_path / "predicted")]) == 0  # no --weights
    assert len(list((tmp_path / "predicted").glob("*_depth.png"))) == card["frames"]
    predictor = Predictor.from_weights(demo_weights())
    measured = headline(score_frames(lambda frame: predictor.predict(frame.rgb), open_sequence(sequence)).result())
    for key in ("abs_rel", "miou", "normal_mean_deg", "edge_ods_f"):
        assert measured[key] == pytest.approx(card[key], rel=0.10), key
