"""Depth aligned to the map: a known per-frame scale on true depth is undone within 1 %."""

import dataclasses

import numpy as np
import pytest

from m2h_slam.core.config import Config
from m2h_slam.perception.ground_truth import prediction_from_ground_truth
from m2h_slam.sources import open_sequence
from m2h_slam.synthetic import WorldSpec
from pipeline import Mapper
from pipeline.mapping.depth_scale import fit_depth_scale


def test_the_fit_is_robust_to_outliers_and_refuses_too_little_or_too_much():
    rng = np.random.default_rng(0)
    depth = rng.uniform(1.0, 4.0, (60, 80)).astype(np.float32)
    seen = depth * 1.2
    seen[:12] *= rng.uniform(0.3, 3.0, (12, 80))  # a fifth of the pixels: the map is wrong there
    seen[20:25, :10] = 0  # not in the map
    fit = fit_depth_scale(depth, seen, 100, 1.5)
    assert fit.scale == pytest.approx(1.2, rel=1e-6) and fit.pixels == 60 * 80 - 50
    assert fit_depth_scale(depth, np.where(np.arange(80) < 1, seen, 0), 100, 1.5) is None  # 60 pixels in common
    assert fit_depth_scale(depth, depth * 2.0, 100, 1.5) is None  # beyond the trusted change


@pytest.mark.parametrize("setting", ["on", "auto"])
def test_a_known_per_frame_scale_is_recovered_within_one_percent(apartments, setting):
    """True depth times k_i (frame i), declared a network's: the mapper scales frame i by 1 / k_i (the first
    frame sets the map's scale, k_0 = 1); with the setting off, nothing is scaled."""
    sequence = open_sequence(apartments(WorldSpec(seed=7, frames=60, rooms=3, people=2), size=(160, 120)))
    frames = list(sequence)[:30]
    k = np.random.default_rng(1).uniform(0.85, 1.15, len(frames))
    k[0] = 1.0
    config = Config()
    config = dataclasses.replace(config, fusion=dataclasses.replace(config.fusion, align_depth_scale=setting))
    mapper = Mapper(config, sequence.intrinsics)
    for frame, factor in zip(frames, k):
        truth = prediction_from_ground_truth(frame)
        scaled = dataclasses.replace(truth, depth_m=truth.depth_m * np.float32(factor), depth_source="network")
        mapper.step(frame, scaled, frame.world_T_camera)
    scales = mapper.finish().depth_scales
    aligned = np.isfinite(scales)
    assert not aligned[0] and aligned.sum() >= 0.9 * len(frames)
    np.testing.assert_allclose(scales[aligned] * k[aligned], 1.0, rtol=0.01)


@pytest.mark.parametrize("setting", ["off", "auto"])
def test_measured_depth_is_not_scaled_unless_asked(apartments, setting):
    """Off (the default) scales nothing; auto leaves measured depth (a sensor's, the ground truth's) alone."""
    assert Config().fusion.align_depth_scale == "off"
    sequence = open_sequence(apartments(WorldSpec(seed=7, frames=60, rooms=3, people=2), size=(160, 120)))
    config = dataclasses.replace(Config(), fusion=dataclasses.replace(Config().fusion, align_depth_scale=setting))
    mapper = Mapper(config, sequence.intrinsics)
    for frame in list(sequence)[:5]:
        mapper.step(frame, prediction_from_ground_truth(frame), frame.world_T_camera)
    assert np.isnan(mapper.finish().depth_scales).all()
