"""Dense perception metrics against values worked out by hand on small arrays."""

import numpy as np
import pytest

from m2h_slam.core.dense_metrics import DepthScores, EdgeScores, NormalScores, SemanticScores


def test_depth_scores_by_hand():
    truth = np.array([[1.0, 2.0], [4.0, 0.0]])  # the 0 is invalid
    predicted = np.array([[1.1, 2.0], [2.0, 7.0]])
    scores = DepthScores()
    scores.add(predicted, truth)
    r = scores.result()
    assert r["pixels"] == 3
    assert r["abs_rel"] == pytest.approx((0.1 + 0.0 + 0.5) / 3)
    assert r["rmse_m"] == pytest.approx(np.sqrt((0.01 + 0.0 + 4.0) / 3))
    assert r["log_rmse"] == pytest.approx(np.sqrt((np.log(1.1) ** 2 + np.log(0.5) ** 2) / 3))
    # ratios 1.1, 1.0, 2.0: two under each of 1.25, 1.5625 and 1.953
    assert (r["delta1"], r["delta2"], r["delta3"]) == pytest.approx((2 / 3, 2 / 3, 2 / 3))


def test_depth_scores_pool_pixels_and_median_scaling_removes_scale():
    truth = np.array([[1.0, 2.0, 3.0]])
    scores = DepthScores(median_scaling=True)
    scores.add(truth * 3.7, truth)  # right up to scale
    scores.add(np.array([[2.0]]), np.array([[2.0]]))
    r = scores.result()
    assert r["pixels"] == 4 and r["abs_rel"] == pytest.approx(0.0, abs=1e-12) and r["delta1"] == 1.0
    unscaled = DepthScores()
    unscaled.add(truth * 3.7, truth)
    assert unscaled.result()["abs_rel"] == pytest.approx(2.7)


def test_semantic_scores_from_one_confusion_matrix():
    truth = np.array([[1, 1, 2, 2], [3, 0, 0, 0]])  # 0: unknown, left out
    predicted = np.array([[1, 2, 2, 2], [1, 5, 5, 5]])
    scores = SemanticScores(num_classes=6)
    scores.add(predicted, truth)
    r = scores.result()
    # class 1: hit 1, union 3 (truth 2 + predicted 2 - 1); class 2: hit 2, union 3; class 3: hit 0, union 1
    assert r["iou_per_class"] == pytest.approx({1: 1 / 3, 2: 2 / 3, 3: 0.0})
    assert r["miou"] == pytest.approx((1 / 3 + 2 / 3 + 0) / 3)
    assert r["pixel_accuracy"] == pytest.approx(3 / 5)
    scores.add(np.array([[3]]), np.array([[3]]))  # pooled: class 3 now 1 hit of a union of 2
    assert scores.result()["iou_per_class"][3] == pytest.approx(0.5)
    # A class only the prediction has counts 0 in mIoU and is left out of mIoU over the truth's classes.
    invented = SemanticScores(num_classes=6)
    invented.add(np.array([[1, 4]]), np.array([[1, 1]]))
    r = invented.result()
    assert r["miou"] == pytest.approx(0.25) and r["miou_truth_classes"] == pytest.approx(0.5)


def test_normal_scores_by_hand():
    truth = np.array([[[0, 0, -1], [0, 0, -1], [0, 0, -1], [0, 0, 0]]], float)  # the last is invalid
    tilt = np.radians(20.0)
    predicted = np.array([[[0, 0, -2],  # right, not unit length
                           [np.sin(tilt), 0, -np.cos(tilt)],  # 20 deg
                           [1, 0, 0],  # 90 deg
                           [1, 0, 0]]], float)
    scores = NormalScores()
    scores.add(predicted, truth)
    r = scores.result()
    assert r["pixels"] == 3
    assert r["mean_deg"] == pytest.approx(110 / 3, abs=1e-4) and r["median_deg"] == pytest.approx(20.0, abs=0.01)
    assert (r["under_11.25_deg"], r["under_22.5_deg"], r["under_30_deg"]) == pytest.approx((1 / 3, 2 / 3, 2 / 3))


def test_edge_ods_with_a_distance_tolerance():
    truth = np.zeros((20, 20), bool)
    truth[10, 2:18] = True  # 16 true edge pixels
    predicted = np.zeros((20, 20))
    predicted[12, 2:18] = 0.8  # two pixels off: within a 3 px tolerance
    predicted[2, 2:10] = 0.3  # weak responses far from any edge
    scores = EdgeScores(tolerance_px=3)
    scores.add(predicted, truth)
    r = scores.result()
    assert r["ods_f"] == pytest.approx(1.0) and 0.3 < r["threshold"] <= 0.8  # the weak ones thresholded away
    strict = EdgeScores(tolerance_px=1)
    strict.add(predicted, truth)
    assert strict.result()["ods_f"] == 0.0  # two pixels off is too far at 1 px
    low = EdgeScores(tolerance_px=3, thresholds=1)  # threshold 0.01: every response counts
    low.add(predicted, truth)
    assert low.result()["precision"] == pytest.approx(16 / 24) and low.result()["recall"] == 1.0


def test_running_totals_of_parts_merge_to_the_totals_of_the_whole():
    rng = np.random.default_rng(3)
    depth, labels = rng.uniform(0.5, 5, (2, 8, 8)), rng.integers(0, 6, (2, 8, 8))
    normals, edges = rng.normal(size=(2, 8, 8, 3)), rng.random((2, 8, 8)) > 0.8
    cases = [(DepthScores, lambda k: (depth[k] * rng.uniform(0.8, 1.2, (8, 8)), depth[k])),
             (lambda: SemanticScores(6), lambda k: (rng.integers(0, 6, (8, 8)), labels[k])),
             (NormalScores, lambda k: (normals[k] + rng.normal(0, 0.3, (8, 8, 3)), normals[k])),
             (lambda: EdgeScores(tolerance_px=1.5), lambda k: (rng.random((8, 8)), edges[k]))]
    for make, sample in cases:
        whole, parts = make(), [make(), make()]
        for k in range(2):
            pair = sample(k)
            whole.add(*pair)
            parts[k].add(*pair)
        parts[0].merge(parts[1].state())
        assert parts[0].result() == whole.result()


def test_score_frames_pools_every_frame_and_headline_quotes_it():
    from m2h_slam.core.dense_metrics import FrameScores, headline, score_frames
    from m2h_slam.core.intrinsics import Intrinsics
    from m2h_slam.core.records import Frame, Prediction

    rng = np.random.default_rng(5)
    K = Intrinsics(20.0, 20.0, 7.5, 5.5, 16, 12)
    up = np.zeros((12, 16, 3), np.float32)
    up[..., 2] = -1.0
    frames = [Frame(k, k / 10, np.zeros((12, 16, 3), np.uint8), K,
                    depth_m=rng.uniform(1, 3, (12, 16)).astype(np.float32), semantics=rng.integers(1, 4, (12, 16)).astype(np.uint8), normals=up,
                    edges=(rng.random((12, 16)) > 0.9).astype(np.uint8)) for k in range(3)]
    frames[2] = frames[2].replace(normals=None, edges=None)  # no normal or edge truth here

    def predict(frame):
        return Prediction(frame.depth_m * 1.1, frame.semantics, np.ones((12, 16), np.float32), up,
                          rng.random((12, 16)).astype(np.float32))

    scores = score_frames(predict, frames)
    assert scores.frames == {"depth": 3, "semantics": 3, "normals": 2, "edges": 2}
    quoted = headline(scores.result())
    assert quoted["abs_rel"] == pytest.approx(0.1) and quoted["miou"] == 1.0 and quoted["normal_mean_deg"] < 0.01
    assert set(quoted) == {"abs_rel", "rmse_m", "miou", "miou_truth_classes", "normal_mean_deg", "edge_ods_f"}
    assert all(type(v) is float for v in quoted.values())
    more = score_frames(predict, frames[:1], FrameScores(median_scaling=True))  # given scorers are added to
    assert more.frames["depth"] == 1 and headline(more.result())["abs_rel"] == pytest.approx(0.0, abs=1e-6)
    only_depth = score_frames(predict, [f.replace(semantics=None, normals=None, edges=None) for f in frames])
    assert set(headline(only_depth.result())) == {"abs_rel", "rmse_m"}
