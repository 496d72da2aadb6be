"""The one depth-discontinuity rule: on known images, numpy and the compiled fusion kernel alike, and its
thresholds reach the object layer."""

import dataclasses

import numpy as np

from m2h_slam.core.config import FusionConfig
from m2h_slam.core.discontinuities import depth_discontinuities, valid_depth
from m2h_slam.core.labels import class_id
from pipeline.mapping.kernels import EDGE, pixel_weights


def test_a_depth_step_marks_the_pixels_on_both_sides():
    depth = np.full((6, 8), 2.0, np.float32)
    depth[:, 4:] = 3.0
    jump = depth_discontinuities(depth, 0.05)
    assert jump[:, 3].all() and jump[:, 4].all() and jump.sum() == 12
    assert not depth_discontinuities(depth, 0.6).any()  # 1 m is less than 0.6 x 2 m
    # a ramp of 1 % per pixel is a surface, not a step
    ramp = (2.0 * 1.01 ** np.arange(8, dtype=np.float32))[None].repeat(6, axis=0)
    assert not depth_discontinuities(ramp, 0.05).any()
    # holes (0, NaN) and depth outside the range neither jump nor make their neighbours jump
    holes = np.full((6, 8), 2.0, np.float32)
    holes[2, 2], holes[4, 5] = 0.0, np.nan
    assert not depth_discontinuities(holes, 0.05).any()
    assert not depth_discontinuities(depth, 0.05, depth_max_m=2.5).any()
    assert valid_depth(holes).sum() == 46


def test_the_fusion_kernel_cuts_exactly_the_discontinuities():
    rng = np.random.default_rng(3)
    height, width = 40, 50
    depth = rng.choice([1.0, 1.5, 4.0], (height // 5, width // 5)).repeat(5, 0).repeat(5, 1).astype(np.float32)
    depth *= rng.uniform(0.99, 1.01, depth.shape).astype(np.float32)  # noise around the steps
    depth[rng.random(depth.shape) < 0.05] = 0.0
    depth[rng.random(depth.shape) < 0.02] = np.nan
    depth[0, :10] = 9.0  # beyond the range
    config = FusionConfig()
    valid = valid_depth(depth, config.depth_min_m, config.depth_max_m)
    rays = np.zeros((height, width, 3), np.float32)
    rays[..., 2] = 1.0
    for ratio in (0.004, 0.05, 0.3):
        weight, fused, counts = pixel_weights(depth, valid.view(np.uint8), np.zeros((height, width), np.uint8),
                                              np.zeros((height, width), np.float32), -rays, rays,
                                              config.edge_threshold, ratio, config.min_view_cos)
        expected = depth_discontinuities(depth, ratio, config.depth_min_m, config.depth_max_m)
        assert np.array_equal(valid & (weight == 0), expected) and counts[EDGE] == expected.sum() > 0
        assert np.array_equal(fused, np.where(weight > 0, depth, 0))


def test_the_fusion_settings_cut_object_segments():
    from pipeline.scene_graph.objects import segments

    chair = np.full((30, 40), class_id("chair"), np.uint8)
    depth = np.full((30, 40), 2.0, np.float32)
    depth[:, 20:] = 2.2  # one chair behind another
    edges = np.zeros((30, 40), np.float32)
    default = FusionConfig()
    assert len(segments(chair, depth, edges, 25, default)) == 2
    assert len(segments(chair, depth, edges, 25, dataclasses.replace(default, discontinuity_ratio=0.2))) == 1
    edges[:, 10] = 0.7  # a predicted edge cuts too, above the fusion's edge threshold only
    assert len(segments(chair, depth, edges, 25, dataclasses.replace(default, discontinuity_ratio=0.2))) == 2
    assert len(segments(chair, depth, edges, 25, dataclasses.replace(default, discontinuity_ratio=0.2,
                                                                     edge_threshold=0.8))) == 1

