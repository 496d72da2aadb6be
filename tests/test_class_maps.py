"""Classes and confidence at the image size from class probabilities at the network's size."""

import cv2
import numpy as np
import pytest

from m2h_slam.perception.class_maps import upsampled_classes


def _probabilities(rng, classes, height, width):
    logits = rng.standard_normal((classes, height, width)).astype(np.float32) * 3
    e = np.exp(logits - logits.max(axis=0))
    return e / e.sum(axis=0)


@pytest.mark.parametrize("size", [(240, 320), (100, 150), (168, 224), (1, 1), (500, 90)])
def test_classes_are_the_argmax_of_the_bilinearly_resized_probabilities(size):
    """Up, down, the same size and one pixel: the class and probability OpenCV's bilinear resize and an argmax give
    (ties between classes within float rounding aside)."""
    rng = np.random.default_rng(size[0])
    probabilities = _probabilities(rng, 41, 168, 224)
    resized = cv2.resize(np.ascontiguousarray(probabilities.transpose(1, 2, 0)), size[::-1],
                         interpolation=cv2.INTER_LINEAR).reshape(*size, 41)
    semantics, confidence = upsampled_classes(probabilities, size)
    assert semantics.shape == confidence.shape == size and semantics.dtype == np.uint8
    assert (semantics == resized.argmax(axis=-1)).mean() > 0.999
    assert np.abs(confidence - resized.max(axis=-1)).max() < 1e-4


def test_a_class_between_two_pixels_is_found_where_it_wins_the_blend():
    """Two source pixels, class 1 certain on the left and class 2 on the right, class 0 at 0.45 on both: the
    middle of the resized row is class 0: 0.45 beats what either of the others blends to there."""
    probabilities = np.zeros((3, 1, 2), np.float32)
    probabilities[0] = 0.45
    probabilities[1, 0, 0] = probabilities[2, 0, 1] = 0.55
    semantics, confidence = upsampled_classes(probabilities, (1, 8))
    assert semantics[0].tolist() == [1, 1, 1, 0, 0, 2, 2, 2]
    assert np.isclose(confidence[0, 3], 0.45) and np.isclose(confidence[0, 0], 0.55)
