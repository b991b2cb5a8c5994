"""The held-out check of the network's weight: votes carried to one frame as `carry_votes` carries
them, and the choice between the network fused in and the carried labels alone, on synthetic
videos whose flow is known exactly."""

import numpy as np
import pytest

from propagation import UNKNOWN, Flows, FusionConfig, SparseLabels, carry_votes
from propagation.weight_check import FALLBACK_MARGIN, WeightCheck, check_network_weight, votes_at


def _shifting_flows(n_frames, size=(8, 12), seed=0):
    """Every pixel moves one column right per frame; some pixels fail the forward-backward check."""
    rng = np.random.default_rng(seed)
    forward = np.zeros((n_frames - 1, 2, *size), np.float16)
    backward = np.zeros_like(forward)
    forward[:, 0], backward[:, 0] = 1, -1  # pulls: forward[t] pulls t's pixels from t + 1
    valid = rng.random((n_frames - 1, *size)) > 0.2
    return Flows(forward, backward, valid, valid[::-1].copy())


def _labels(n_frames, frames, size=(8, 12), num_classes=3, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.full((n_frames, *size), UNKNOWN, np.int16)
    for t in frames:
        labels[t] = rng.integers(0, num_classes, size)
    return SparseLabels.from_dense(labels)


@pytest.mark.parametrize("t", [1, 4, 7, 9])
def test_votes_at_one_frame_are_those_carried_over_the_whole_video(t):
    labels = _labels(10, [0, 5, 8])
    flows, config = _shifting_flows(10), FusionConfig(half_life=3)
    whole = carry_votes(labels, flows, 3, config)
    np.testing.assert_allclose(votes_at(labels, flows, t, 3, config), whole[t].astype(np.float32), atol=2e-3)


def test_no_labelled_frame_on_either_side_carries_nothing():
    labels = _labels(4, [2])
    assert votes_at(labels, _shifting_flows(4), 2, 3, FusionConfig()) is None


def _still(n_frames, size=(6, 6)):
    shape = (n_frames - 1, 2, *size)
    valid = np.ones((n_frames - 1, *size), bool)
    return Flows(np.zeros(shape, np.float16), np.zeros(shape, np.float16), valid, valid.copy())


def _video(changed: bool):
    """Frames 0 and 20 say class 1 everywhere; frame 10 is held out. With ``changed`` its left half
    has become class 0, where the carried class 1 (0.84 of weight from two sides 10 frames away) is
    wrong; else the carried labels are right everywhere."""
    n, size = 21, (6, 6)
    human = np.full((n, *size), UNKNOWN, np.int16)
    human[0] = human[20] = human[10] = 1
    if changed:
        human[10][:, :3] = 0
    return SparseLabels.from_dense(human), _still(n, size)


def _network(left, right, confidence=0.95):
    """Probabilities (2, 6, 6) at one frame: class ``left`` on the left half, ``right`` on the right."""
    probs = np.full((2, 6, 6), 1 - confidence, np.float32)
    probs[left, :, :3] = confidence
    probs[right, :, 3:] = confidence
    return probs


def test_a_network_right_where_the_carried_labels_are_wrong_keeps_its_weight():
    human, flows = _video(changed=True)
    check = check_network_weight(human, flows, {10: _network(0, 1)}, [10], 2, FusionConfig(network_weight=1.0))
    assert check.frames == (10,) and check.weights == (1.0, 0.0)
    assert check.correct == (36, 18) and check.pixels == 36
    assert check.chosen == 1.0
    assert check.describe() == {"frames": [10], "chosen": 1.0, "accuracy": {"1.0": 100.0, "0.0": 50.0}}


def test_a_network_that_overrules_right_carried_labels_is_left_out():
    human, flows = _video(changed=False)
    check = check_network_weight(human, flows, {10: _network(0, 1)}, [10], 2, FusionConfig(network_weight=1.0))
    assert check.correct == (18, 36)
    assert check.chosen == 0.0


def test_a_tie_keeps_the_configured_weight():
    human, flows = _video(changed=False)
    check = check_network_weight(human, flows, {10: _network(1, 1)}, [10], 2, FusionConfig(network_weight=1.0))
    assert check.correct == (36, 36) and check.chosen == 1.0


def test_the_carried_labels_must_win_clearly_to_replace_the_network():
    pixels = 100_000
    barely = round(FALLBACK_MARGIN * pixels)
    assert WeightCheck((3,), (0.1, 0.0), (90_000, 90_000 + barely), pixels).chosen == 0.1
    assert WeightCheck((3,), (0.1, 0.0), (90_000, 90_000 + barely + 1), pixels).chosen == 0.0


def test_nothing_to_check_without_another_labelled_frame_or_a_network_weight():
    human, flows = _video(changed=True)
    alone = SparseLabels(21, (6, 6), {10: human[10]})
    assert check_network_weight(alone, flows, {10: _network(0, 1)}, [10], 2, FusionConfig(network_weight=1.0)) is None
    assert check_network_weight(human, flows, {10: _network(0, 1)}, [10], 2, FusionConfig(network_weight=0.0)) is None
    assert check_network_weight(human, flows, {}, [], 2, FusionConfig(network_weight=1.0)) is None
