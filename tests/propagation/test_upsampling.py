"""Edge-aware upsampling: a thin structure the frame shows survives where bilinear upsampling loses it."""

import cv2
import numpy as np
import pytest

from propagation import UNKNOWN, Delivery
from propagation.inference import upsampled_argmax
from propagation.upsampling import GuidedFilter, guided_argmax, guided_upsample


def _line_scene(size=64, column=21, factor=4):
    """A bright sky crossed by a dark pole 1 px wide, and its two-class scores (sky, pole) shrunk by
    ``factor`` by area averaging: the pole holds a quarter of its low-resolution column."""
    frame = np.full((size, size, 3), 230, np.uint8)
    frame[:, column] = 10
    truth = np.zeros((size, size), np.int32)
    truth[:, column] = 1
    one_hot = np.stack([truth == 0, truth == 1]).astype(np.float32)
    low = size // factor
    scores = np.stack([cv2.resize(c, (low, low), interpolation=cv2.INTER_AREA) for c in one_hot])
    return frame, truth, scores


def test_guided_upsampling_keeps_a_one_pixel_line_that_bilinear_loses():
    frame, truth, scores = _line_scene()
    assert scores[1].max() == pytest.approx(0.25)
    bilinear = upsampled_argmax(scores, truth.shape)
    guided = guided_argmax(scores, frame)
    assert (bilinear == 0).all()  # the line never wins a bilinear pixel
    np.testing.assert_array_equal(guided, truth)


def test_guided_scores_keep_summing_to_one():
    frame, _, scores = _line_scene()
    upsampled = guided_upsample(scores, frame)
    assert upsampled.shape == (2, 64, 64) and upsampled.dtype == np.float32
    np.testing.assert_allclose(upsampled.sum(axis=0), 1.0, atol=1e-4)


def test_guided_upsampling_leaves_unreached_pixels_unknown_and_a_flat_frame_smooth():
    frame = np.full((32, 32, 3), 128, np.uint8)
    scores = np.zeros((2, 8, 8), np.float32)
    scores[1, :, 4:] = 1.0  # the left half is reached by nothing
    labels = guided_argmax(scores, frame, UNKNOWN)
    np.testing.assert_array_equal(labels, upsampled_argmax(scores, (32, 32), UNKNOWN))


def test_a_guided_filter_needs_a_positive_radius_and_eps():
    frame, _, scores = _line_scene()
    with pytest.raises(ValueError, match="radius"):
        guided_argmax(scores, frame, config=GuidedFilter(radius=0))
    with pytest.raises(ValueError, match="eps"):
        guided_argmax(scores, frame, config=GuidedFilter(eps=0))


def test_a_guided_delivery_keeps_the_line_from_the_networks_low_resolution_probabilities():
    frame, truth, scores = _line_scene()
    human = np.full((1, *truth.shape), UNKNOWN, np.int32)
    network = scores[None].astype(np.float16)
    with pytest.raises(ValueError, match="frames"):
        Delivery(human, None, network, 0.1, upsampling="guided")
    guided = Delivery(human, None, network, 0.1, frames=frame[None], upsampling="guided").frame(0).labels
    bilinear = Delivery(human, None, network, 0.1, frames=frame[None]).frame(0).labels
    np.testing.assert_array_equal(guided, truth)
    assert (bilinear == 0).all()


def test_scores_already_at_the_frames_size_come_back_unchanged():
    frame, _, scores = _line_scene(factor=1)
    np.testing.assert_allclose(guided_upsample(scores, frame), scores, atol=1e-6)
    np.testing.assert_array_equal(guided_argmax(scores, frame), scores.argmax(axis=0))
