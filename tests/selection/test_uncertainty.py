import numpy as np
import pytest

from selection import (
    UNCERTAINTY_METHODS,
    FrameUnits,
    RectangleUnits,
    SelectionError,
    entropy,
    least_confidence,
    margin,
    pixel_uncertainty,
    pool_per_sample,
    sample_scores,
)


def test_entropy_extremes():
    C = 5
    uniform = np.full((1, C), 1 / C)
    one_hot = np.eye(C)[[2]]
    np.testing.assert_allclose(entropy(uniform), [np.log(C)], rtol=1e-6)
    np.testing.assert_allclose(entropy(one_hot), [0.0], atol=1e-6)
    np.testing.assert_allclose(entropy(np.array([[0.5, 0.5, 0.0]])), [np.log(2)], rtol=1e-6)


def test_margin_and_least_confidence_hand_values():
    p = np.array([[0.2, 0.5, 0.3], [1.0, 0.0, 0.0], [0.4, 0.4, 0.2]])
    np.testing.assert_allclose(margin(p), [0.8, 0.0, 1.0], atol=1e-6)
    np.testing.assert_allclose(least_confidence(p), [0.5, 0.0, 0.6], atol=1e-6)
    np.testing.assert_allclose(margin(np.array([[1.0]])), [0.0])  # a single class is never uncertain


def test_spatial_shapes_and_float16_input():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 4, 3, 5))
    probs = (np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)).astype(np.float16)
    for name, fn in UNCERTAINTY_METHODS.items():
        out = pixel_uncertainty(probs, name)
        assert out.shape == (2, 3, 5) and out.dtype == np.float32
        np.testing.assert_allclose(out, fn(probs.astype(np.float64)), atol=2e-3)
    with pytest.raises(SelectionError, match="entropy"):
        pixel_uncertainty(probs, "variance")


def test_sample_scores_pool_pixel_uncertainty():
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.ones(3), size=(2, 6, 8)).transpose(0, 3, 1, 2).astype(np.float16)  # (F, C, h, w)
    frame_scores = sample_scores(FrameUnits(2, 12, 16), probs, "margin")
    np.testing.assert_allclose(frame_scores, margin(probs).mean(axis=(1, 2)), rtol=1e-5)
    rects = RectangleUnits(2, 12, 16, size=4)
    np.testing.assert_allclose(sample_scores(rects, probs), pool_per_sample(rects, entropy(probs)), rtol=1e-6)
    with pytest.raises(SelectionError):
        sample_scores(rects, probs[0])


