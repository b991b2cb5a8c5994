import numpy as np
import pytest

from propagation import UNREACHABLE, Flows, compute_flows, propagate_labels
from propagation.labels import UNKNOWN


def test_one_annotated_frame_propagates_to_neighbours(synthetic_video):
    video = synthetic_video(num_frames=5)
    flows = compute_flows(video.frames)
    sparse = np.full_like(video.labels, UNKNOWN)
    sparse[2] = video.labels[2]
    labels, distance = propagate_labels(sparse, flows)
    np.testing.assert_array_equal(labels[2], video.labels[2])
    assert (distance[2] == 0).all()
    for t in (1, 3):
        assert (labels[t] == video.labels[t]).mean() > 0.9
        assert set(np.unique(distance[t])) <= {1, UNREACHABLE}
    assert (distance[0][labels[0] != UNKNOWN] == 2).all()
    assert ((labels == UNKNOWN) == (distance == UNREACHABLE)).all()


def _translation_flows(num_frames: int, h: int, w: int, dx: float) -> Flows:
    fwd = np.zeros((num_frames - 1, 2, h, w), np.float16)
    fwd[:, 0] = dx
    valid = np.ones((num_frames - 1, h, w), bool)
    return Flows(fwd, -fwd, valid, valid.copy())


def test_nearest_annotation_wins_ties_go_to_the_earlier_frame():
    flows = _translation_flows(5, 4, 6, 0.0)  # static video
    sparse = np.full((5, 4, 6), UNKNOWN)
    sparse[0], sparse[4] = 1, 2
    labels, distance = propagate_labels(sparse, flows)
    np.testing.assert_array_equal(labels[:, 0, 0], [1, 1, 1, 2, 2])  # frame 2 is a tie -> earlier
    np.testing.assert_array_equal(distance[:, 0, 0], [0, 1, 2, 1, 0])


def test_known_labels_override_and_unreachable_pixels_stay_unknown():
    flows = _translation_flows(3, 4, 6, 2.0)  # content moves right 2 px per frame
    sparse = np.full((3, 4, 6), UNKNOWN)
    sparse[0] = 1
    sparse[1, 0, 5] = 0  # a partial human label on frame 1
    labels, distance = propagate_labels(sparse, flows)
    assert labels[1, 0, 5] == 0 and distance[1, 0, 5] == 0
    # Frame 1's two left columns came into view: no annotation reaches them.
    assert (labels[1][:, :2] == UNKNOWN).all() and (distance[1][:, :2] == UNREACHABLE).all()
    assert (labels[1][1:, 2:] == 1).all() and (labels[2][1:, 4:] == 1).all()


def test_drop_occluded_stops_chains_at_invalid_flow():
    flows = _translation_flows(2, 4, 6, 0.0)
    flows.valid_backward[0, :, :3] = False
    sparse = np.full((2, 4, 6), UNKNOWN)
    sparse[0] = 1
    kept, _ = propagate_labels(sparse, flows)
    dropped, _ = propagate_labels(sparse, flows, drop_occluded=True)
    assert (kept[1] == 1).all()
    assert (dropped[1][:, :3] == UNKNOWN).all() and (dropped[1][:, 3:] == 1).all()


def test_single_frame_and_mismatched_flows():
    one = np.zeros((1, 4, 6), np.int64)
    labels, distance = propagate_labels(one, _translation_flows(1, 4, 6, 0.0))
    assert labels.shape == (1, 4, 6) and (distance == 0).all()
    with pytest.raises(ValueError, match="resolution"):
        propagate_labels(np.zeros((2, 8, 8), np.int64), _translation_flows(2, 4, 6, 0.0))
