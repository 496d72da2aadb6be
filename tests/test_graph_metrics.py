"""Scene-graph metrics on hand-made graphs whose answers are known."""

import numpy as np

from m2h_slam.eval.graph_metrics import agent_scores, object_scores, room_scores

SQUARE = [[0, 0], [4, 0], [4, 3], [0, 3]]
NEXT = [[4, 0], [8, 0], [8, 3], [4, 3]]


def _object(i, class_id, centre):
    return {"id": i, "class_id": class_id, "box": {"center": list(centre), "extent": [1, 1, 1], "yaw_rad": 0.0}}


def test_object_scores_match_by_class_and_distance_once():
    truth = [_object(1, 5, (1, 1, 0.4)), _object(2, 5, (3, 1, 0.4)), _object(3, 4, (6, 2, 0.3))]
    estimated = [_object(10, 5, (1.2, 1, 0.4)), _object(11, 5, (1.1, 1.1, 0.4)), _object(12, 7, (3, 1, 0.4))]
    unknown = np.full(3, np.nan)
    scores = object_scores(estimated, truth, {1: unknown, 2: unknown}, np.eye(4))
    # one chair found (the second estimate near the same chair is not matched twice), the table is another class
    assert scores["precision"] == round(1 / 3, 4) and scores["recall"] == 0.5 and scores["seen"] == 2
    moved = np.eye(4)
    moved[:3, 3] = [10, 0, 0]
    far = [_object(10, 5, (-9, 1, 0.4))]
    assert object_scores(far, truth, {1: unknown}, moved)["f1"] == 1.0  # the alignment is applied


def test_an_object_seen_in_part_matches_at_the_centre_of_that_part():
    sofa = {"id": 1, "class_id": 6, "box": {"center": [1.5, 0.0, 0.4], "extent": [2.0, 0.9, 0.8], "yaw_rad": 0.0}}
    end = [_object(10, 6, (2.2, 0.0, 0.4))]  # only its right end was in view: 0.7 m from the box centre
    assert object_scores(end, [sofa], {1: np.full(3, np.nan)}, np.eye(4))["f1"] == 0.0
    assert object_scores(end, [sofa], {1: np.array([2.25, 0.0, 0.4])}, np.eye(4))["f1"] == 1.0
    elsewhere = [_object(10, 6, (0.0, 1.0, 0.4))]
    assert object_scores(elsewhere, [sofa], {1: np.array([2.25, 0.0, 0.4])}, np.eye(4))["f1"] == 0.0


def test_room_scores_by_footprint_iou():
    truth = [{"id": 1, "footprint": SQUARE}, {"id": 2, "footprint": NEXT}]
    cameras = np.array([[1.0, 1.0], [5.0, 1.0]])
    exact = room_scores([{"footprint": SQUARE}, {"footprint": NEXT}], truth, cameras, np.eye(4))
    assert exact["precision"] == 1.0 and exact["recall"] == 1.0 and min(exact["iou"]) > 0.95
    half = room_scores([{"footprint": [[0, 0], [2, 0], [2, 3], [0, 3]]}], truth, cameras, np.eye(4))
    assert half["precision"] == 1.0 and half["recall"] == 0.5  # IoU 0.5 with the first room only
    tiny = room_scores([{"footprint": [[0, 0], [1, 0], [1, 1], [0, 1]]}], truth, cameras[:1], np.eye(4))
    assert tiny["precision"] == 0.0 and tiny["recall"] == 0.0 and tiny["visited"] == 1


def test_a_room_also_matches_the_part_of_it_that_was_seen():
    truth = [{"id": 1, "footprint": SQUARE}]
    cameras = np.array([[1.0, 1.0]])
    left = [{"footprint": [[0, 0], [1.6, 0], [1.6, 3], [0, 3]]}]  # 0.4 of the room
    grid = np.stack(np.meshgrid(np.linspace(0.05, 1.55, 16), np.linspace(0.05, 2.95, 30)), -1).reshape(-1, 2)
    assert room_scores(left, truth, cameras, np.eye(4))["recall"] == 0.0  # whole room: IoU 0.4
    seen_left = room_scores(left, truth, cameras, np.eye(4), seen_xy=grid)  # only x < 1.6 was ever in view
    assert seen_left["recall"] == 1.0 and seen_left["iou"][0] > 0.9
    whole = room_scores([{"footprint": SQUARE}], truth, cameras, np.eye(4), seen_xy=grid)
    assert whole["recall"] == 1.0 and whole["iou"][0] > 0.95  # completing the room is never penalised
    outside = room_scores(left, truth, cameras, np.eye(4), seen_xy=grid + [10.0, 0.0])  # nothing seen inside
    assert outside["recall"] == 0.0


def test_agent_scores_count_id_switches():
    times = [0.0, 1.0, 2.0, 3.0]
    truth = [{"id": 7, "times_s": times, "positions": [[t, 0, 0] for t in times]},
             {"id": 8, "times_s": times, "positions": [[t, 5, 0] for t in times]}]
    one_each = [{"id": 1, "times_s": times, "positions": [[t, 0.1, 0] for t in times]},
                {"id": 2, "times_s": times, "positions": [[t, 5.1, 0] for t in times]}]
    assert agent_scores(one_each, truth, {7, 8}, np.eye(4))["id_switches"] == 0
    split = [{"id": 1, "times_s": times[:2], "positions": [[t, 0, 0] for t in times[:2]]},
             {"id": 2, "times_s": times[2:], "positions": [[t, 0, 0] for t in times[2:]]}]
    scores = agent_scores(split, truth, {7, 8}, np.eye(4))
    assert scores["id_switches"] == 1 and scores["agents"] == 2 and scores["people_seen"] == 2
    assert scores["most_switches_per_person"] == 1
    # two people passing 0.3 m apart, each followed by its own agent: no switch, though both agents come
    # within the gate of both people
    close = [{"id": 7, "times_s": times, "positions": [[t, 0, 0] for t in times]},
             {"id": 8, "times_s": times, "positions": [[t, 0.3 if t == 1.0 else 2.0, 0] for t in times]}]
    passing = [{"id": 1, "times_s": times, "positions": [[t, 0.05, 0] for t in times]},
               {"id": 2, "times_s": times, "positions": [[t, 0.25 if t == 1.0 else 2.0, 0] for t in times]}]
    assert agent_scores(passing, close, {7, 8}, np.eye(4))["id_switches"] == 0
    swapped = [{"id": 1, "times_s": times, "positions": [[t, 0.0 if t < 2 else 2.0, 0] for t in times]},
               {"id": 2, "times_s": times, "positions": [[t, 2.0 if t < 2 else 0.0, 0] for t in times]}]
    swap = agent_scores(swapped, close, {7, 8}, np.eye(4))  # the agents trade people at t = 2
    assert swap["id_switches"] == 2 and swap["most_switches_per_person"] == 1
