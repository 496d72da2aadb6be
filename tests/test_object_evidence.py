"""Objects from evidence over time: confirmation by the share of views that segmented them, class and place from
the map's fused labels, gone only after frames that see through them from several viewpoints."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from m2h_slam.core.config import FusionConfig, GraphConfig
from m2h_slam.core.intrinsics import Intrinsics
from m2h_slam.core.labels import NYU40, class_id
from pipeline.scene_graph.objects import MapSupport, ObjectLayer

K = Intrinsics(100.0, 100.0, 40.0, 30.0, 80, 60)
CHAIR, TABLE, WALL = class_id("chair"), class_id("table"), class_id("wall")


def _frame(with_chair: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A wall 4 m ahead; a chair (20 x 20 px) at 2 m in the middle, or the wall seen where it stood."""
    semantics = np.full((60, 80), WALL, np.uint8)
    depth = np.full((60, 80), 4.0, np.float32)
    if with_chair:
        semantics[20:40, 30:50] = CHAIR
        depth[20:40, 30:50] = 2.0
    return semantics, depth, np.zeros((60, 80), np.float32), np.ones((60, 80), np.float32)


def _layer(**changes) -> ObjectLayer:
    return ObjectLayer(dataclasses.replace(GraphConfig(), **changes), K, FusionConfig())


@pytest.mark.parametrize(("segmented", "confirmed"), [(3, False), (6, True)])
def test_a_mask_in_few_of_the_views_is_no_object(segmented, confirmed):
    """In view (depth says it is there) in 10 frames; segmented in 3 of them (a flicker) or 6 (most)."""
    layer = _layer()
    semantics, depth, edges, confidence = _frame(True)
    for k in range(10):
        labels = semantics if k < segmented else np.full_like(semantics, WALL)
        layer.observe(k / 15, labels, depth, edges, confidence, np.eye(4))
    assert [layer.confirmed(o) for o in layer.objects] == [confirmed]
    assert layer.objects[0].views == 10 - 1  # the first frame made it: views count from the next one
    assert len(layer.records(np.eye(4))) == int(confirmed)


def test_the_maps_fused_labels_decide_the_class_and_its_confidence():
    """Segmented as a chair; the map's surface voxels in its cells vote: their majority is the class, its share the
    class confidence, a share below object_min_class_share leaves it out, and the place is where the map's voxels of
    that class are. Where the map holds nothing, the segments' class stands with their mean probability."""
    layer = _layer()
    semantics, depth, edges, confidence = _frame(True)
    for k in range(5):
        layer.observe(k / 15, semantics, depth, edges, np.full_like(confidence, 0.8), np.eye(4))
    (obj,) = layer.objects
    centres = layer._centres(obj.voxels)

    def support(**votes: float) -> dict:
        tally = np.zeros(len(NYU40))
        for name, vote in votes.items():
            tally[class_id(name)] = vote
        labels = np.where(np.arange(len(centres)) % 2 == 0, TABLE, CHAIR)
        return {obj.id: MapSupport(tally, centres, labels)}

    (record,) = layer.records(np.eye(4), support(table=3.0, chair=1.0))
    assert record.class_id == TABLE and record.class_confidence == pytest.approx(0.75)
    assert np.allclose(record.centroid, centres[::2].mean(axis=0))  # the table-labelled voxels
    assert layer.records(np.eye(4), support(table=1.0, chair=1.0, sofa=1.0)) == []  # a third each
    (beyond,) = layer.records(np.eye(4), {})
    assert beyond.class_id == CHAIR and beyond.class_confidence == pytest.approx(0.8)
    (unsupported,) = layer.records(np.eye(4))  # no map consulted
    assert unsupported.class_id == CHAIR and unsupported.class_confidence == 1.0


@pytest.mark.parametrize(("step_m", "frames_to_go"), [(0.1, 5), (0.0, 15)])
def test_an_object_is_gone_only_after_seeing_through_it_from_several_viewpoints(step_m, frames_to_go):
    """Confirmed, then the chair's place is seen empty: gone after 5 frames from a camera moving 0.1 m a frame
    (0.4 m between the first and the fifth), after 15 from a camera standing still."""
    layer = _layer()
    for k in range(5):
        layer.observe(k / 15, *_frame(True), np.eye(4))
    gone_at = None
    for k in range(20):
        pose = np.eye(4)
        pose[0, 3] = step_m * k
        layer.observe(1 + k / 15, *_frame(False), pose)
        if gone_at is None and not layer.objects:
            gone_at = k + 1
    assert gone_at == frames_to_go and "is gone" in layer.events[0]


@pytest.mark.parametrize(("shift_m", "moved"), [(0.5, False), (1.3, True)])
def test_a_short_move_is_the_same_object_placed_again_not_a_move(shift_m, moved):
    """A chair seen at x = 0, then its place seen empty and a chair seen ``shift_m`` to the side (static camera):
    one node either way, keeping the first id; only the 1.3 m shift is reported as a move."""
    wide = Intrinsics(100.0, 100.0, 80.0, 30.0, 160, 60)
    layer = ObjectLayer(GraphConfig(), wide, FusionConfig())
    shift_px = round(100.0 * shift_m / 2.0)
    for k in range(30):
        semantics = np.full((60, 160), WALL, np.uint8)
        depth = np.full((60, 160), 4.0, np.float32)
        left = 70 if k < 5 else 70 + shift_px
        semantics[20:40, left:left + 20] = CHAIR
        depth[20:40, left:left + 20] = 2.0
        layer.observe(k / 15, semantics, depth, np.zeros((60, 160), np.float32), np.ones((60, 160), np.float32),
                      np.eye(4))
    (record,) = layer.records(np.eye(4))
    assert record.id == 1 and abs(record.centroid[0] - shift_m) < 0.15
    assert len(record.moved) == int(moved) and len(layer.events) == int(moved)
