"""The round logic shared by the worker and the simulation, on tiny synthetic videos."""

import numpy as np

from vidseg.engine import deliver, flow_size, propagated_labels
from vidseg.labels import UNKNOWN
from vidseg.propagation import compute_flows, downscale_labels


def _moving_square(n_frames=5, size=64, shift=2):
    rng = np.random.default_rng(0)
    background = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
    frames, labels = [], []
    for t in range(n_frames):
        frame = np.roll(background, t * shift, axis=1)
        label = np.zeros((size, size), np.int16)
        label[20:40, 10 + t * shift:30 + t * shift] = 1
        frame[20:40, 10 + t * shift:30 + t * shift] = (255, 0, 0)
        frames.append(frame)
        labels.append(label)
    return np.stack(frames), np.stack(labels)


def test_sparse_labels_survive_the_move_to_working_resolution():
    labels = np.full((1, 100, 100), UNKNOWN, np.int16)
    labels[0, 37, 71] = 2
    small = downscale_labels(labels, (10, 10))
    assert small[0, 3, 7] == 2 and (small != UNKNOWN).sum() == 1


def test_dense_labels_shrink_like_a_nearest_resize():
    labels = np.zeros((1, 8, 8), np.int16)
    labels[0, :, 4:] = 1
    small = downscale_labels(labels, (4, 4))
    np.testing.assert_array_equal(small[0], np.repeat([[0, 0, 1, 1]], 4, axis=0))


def test_flow_size_keeps_small_videos_and_shrinks_large_ones():
    assert flow_size(360, 480, 640) == (360, 480)
    assert flow_size(1080, 1920, 640) == (360, 640)


def test_propagation_fills_neighbours_and_keeps_human_labels():
    frames, truth = _moving_square()
    human = np.full(truth.shape, UNKNOWN, np.int16)
    human[2] = truth[2]
    flows = compute_flows(frames)
    carried = propagated_labels(human, flows, trust=1)
    np.testing.assert_array_equal(carried[2], truth[2])
    for t in (1, 3):
        known = carried[t] != UNKNOWN
        assert known.mean() > 0.8 and (carried[t][known] == truth[t][known]).mean() > 0.95
    assert (carried[0] == UNKNOWN).all() and (carried[4] == UNKNOWN).all()  # beyond trust
    assert propagated_labels(human, flows, trust=0) is human


def test_propagation_at_a_lower_flow_resolution_still_returns_full_size_labels():
    frames, truth = _moving_square()
    human = np.full(truth.shape, UNKNOWN, np.int16)
    human[2] = truth[2]
    carried = propagated_labels(human, compute_flows(frames, size=(32, 32)), trust=2)
    assert carried.shape == truth.shape
    known = carried[3] != UNKNOWN
    assert (carried[3][known] == truth[3][known]).mean() > 0.9


def test_delivery_prefers_known_labels_then_the_network():
    known = np.array([[[UNKNOWN, 1]]], np.int16)
    network = np.array([[[0, 0]]])
    np.testing.assert_array_equal(deliver(known, network), [[[0, 1]]])
    assert deliver(known, None) is known
