import numpy as np
import pytest

from propagation.edge_aware import SpreadConfig, spread_labels
from propagation.labels import UNKNOWN
from propagation.sparse_learner import SparseLearnerConfig, learn_from_pixels, pixel_features


def seeds_per_region(truth: np.ndarray, per_region: int, seed: int = 0) -> np.ndarray:
    """``per_region`` random pixels of every class revealed, UNKNOWN elsewhere."""
    rng = np.random.default_rng(seed)
    seeds = np.full(truth.shape, UNKNOWN, dtype=np.int64)
    for label in np.unique(truth):
        flat = np.flatnonzero(truth.reshape(-1) == label)
        chosen = rng.choice(flat, size=per_region, replace=False)
        seeds.reshape(-1)[chosen] = label
    return seeds


def accuracy(probs: np.ndarray, truth: np.ndarray) -> float:
    return 100.0 * float(np.mean(probs.argmax(0) == truth))


SMALL = SparseLearnerConfig(height=48, width=64)


def test_a_few_seeds_per_region_recover_a_piecewise_constant_label_map(make_image):
    image, truth = make_image(size=(96, 128))
    seeds = seeds_per_region(truth, per_region=5)
    assert (seeds != UNKNOWN).sum() == 15  # 0.12% of the image
    probs = learn_from_pixels(image, seeds, 3, SMALL)
    assert probs.shape == (3, 96, 128)
    np.testing.assert_allclose(probs.sum(0), 1.0, atol=1e-4)
    assert accuracy(probs, truth) >= 98.0


def test_spreading_stops_at_colour_edges():
    """Two flat halves and one seed in each: every pixel takes its own half's label."""
    image = np.zeros((32, 40, 3), np.uint8)
    image[:, 20:] = (200, 30, 30)
    truth = (np.arange(40)[None, :] >= 20).repeat(32, 0).astype(np.int64)
    seeds = np.full(truth.shape, UNKNOWN, np.int64)
    seeds[16, 2], seeds[5, 38] = 0, 1  # far from the edge, at different heights
    probs = spread_labels(image, seeds, 2, config=SpreadConfig(beta=30.0))
    assert accuracy(probs, truth) == 100.0


def test_the_learner_beats_the_mlp_alone(make_image):
    image, truth = make_image(size=(96, 128), seed=3)
    seeds = seeds_per_region(truth, per_region=3, seed=1)
    spread = accuracy(learn_from_pixels(image, seeds, 3, SMALL), truth)
    alone = accuracy(learn_from_pixels(image, seeds, 3, SparseLearnerConfig(height=48, width=64, spread=None)), truth)
    assert spread >= alone


def test_without_seeds_or_prior_every_class_is_equally_likely():
    probs = spread_labels(np.zeros((8, 8, 3), np.uint8), np.full((8, 8), UNKNOWN), 4)
    np.testing.assert_allclose(probs, 0.25)


def test_inputs_are_checked(make_image):
    image, truth = make_image()
    with pytest.raises(ValueError, match="to match the seeds"):
        spread_labels(image[:10], truth, 3)
    with pytest.raises(ValueError, match="classes 0..1"):
        spread_labels(image, truth, 2)
    with pytest.raises(ValueError, match="prior must be"):
        spread_labels(image, truth, 3, prior=np.ones((2, 64, 64)))
    with pytest.raises(ValueError, match="to match the labels"):
        learn_from_pixels(image[:10], truth, 3)
    with pytest.raises(ValueError, match="at least 8x8"):
        learn_from_pixels(image, truth, 3, SparseLearnerConfig(height=4, width=4))


def test_features_are_standardised_and_sized(make_image):
    image, _ = make_image()
    features = pixel_features(image, (16, 24), scales=(1.0, 2.0))
    assert features.shape == (3 + 2 * 6 + 3, 16, 24)
    np.testing.assert_allclose(features.mean((1, 2)), 0.0, atol=1e-4)
