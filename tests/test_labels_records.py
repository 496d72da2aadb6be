"""NYU40 table and record validation."""

import numpy as np
import pytest

from m2h_slam.core import labels
from m2h_slam.core.intrinsics import Intrinsics
from m2h_slam.core.records import Frame, Prediction


def test_nyu40_table():
    assert len(labels.NYU40) == labels.NUM_CLASSES == 41
    assert [c.id for c in labels.NYU40] == list(range(41))
    assert labels.class_id("wall") == 1 and labels.class_id("person") == 31 and labels.class_id("otherprop") == 40
    assert len({c.name for c in labels.NYU40}) == 41
    assert len({c.colour for c in labels.NYU40}) == 41  # every class is distinguishable in a colour map
    flagged = labels.IS_STRUCTURE.astype(int) + labels.IS_OBJECT + labels.IS_DYNAMIC
    assert flagged[0] == 0 and np.all(flagged[1:] == 1)  # each class is exactly one of the three kinds
    assert labels.IS_DYNAMIC[labels.class_id("person")] and labels.IS_STRUCTURE[labels.class_id("floor")]
    with pytest.raises(KeyError, match="unknown NYU40 class"):
        labels.class_id("spaceship")


def test_colourize():
    image = labels.colourize(np.array([[0, 1], [31, 99]]))
    assert image.shape == (2, 2, 3) and image.dtype == np.uint8
    assert tuple(image[0, 1]) == labels.NYU40[1].colour and tuple(image[1, 1]) == (0, 0, 0)


def test_intrinsics_validation():
    with pytest.raises(ValueError, match="positive"):
        Intrinsics(0, 1, 0, 0, 10, 10)
    with pytest.raises(ValueError, match="finite"):
        Intrinsics(float("nan"), 1, 0, 0, 10, 10)
    with pytest.raises(ValueError, match="width"):
        Intrinsics(1, 1, 0, 0, 0, 10)


def test_frame_and_prediction_shapes():
    K = Intrinsics(10, 10, 4.5, 3.5, 10, 8)
    rgb = np.zeros((8, 10, 3), np.uint8)
    frame = Frame(0, 0.0, rgb, K, depth_m=np.zeros((8, 10), np.float32))
    assert frame.ground_truth == ("depth_m",)
    with pytest.raises(ValueError, match="depth_m must have shape"):
        Frame(0, 0.0, rgb, K, depth_m=np.zeros((8, 9), np.float32))
    with pytest.raises(TypeError, match="dtype"):
        Frame(0, 0.0, rgb, K, depth_m=np.zeros((8, 10), np.float64))
    z = np.zeros((8, 10), np.float32)
    prediction = Prediction(z, z.astype(np.uint8), z, np.zeros((8, 10, 3), np.float32), z)
    assert prediction.size == (10, 8)
    with pytest.raises(ValueError, match="normals"):
        Prediction(z, z.astype(np.uint8), z, np.zeros((8, 10, 2), np.float32), z)


def test_tracking_states_are_strings_in_json_and_messages():
    import json

    from m2h_slam.core.records import Tracking

    assert json.dumps([Tracking.OK, Tracking.NO_DEPTH]) == '["ok", "no-depth"]'
    assert Tracking.LOST == "lost" and f"{Tracking.GIVEN}" == "given" and str(Tracking.INIT) == "init"
    assert Tracking("no-depth") is Tracking.NO_DEPTH
    assert [t.value for t in Tracking if t.placed] == ["init", "ok", "given"]
    assert [t.value for t in Tracking if t.measured] == ["ok", "given"]
