import numpy as np
import pytest

from selection import FrameUnits, SelectionError, nearest_to_centroids, select_samples


def _blobs(n_blobs=4, per_blob=25, dim=8, seed=0):
    """Rows in ``n_blobs`` tight groups along different directions (so they stay apart after L2
    normalisation), shuffled; returns (embeddings, blob of each row)."""
    rng = np.random.default_rng(seed)
    blob = rng.permutation(np.repeat(np.arange(n_blobs), per_blob))
    return np.eye(dim)[blob] * 5 + rng.normal(scale=0.1, size=(len(blob), dim)), blob


@pytest.mark.parametrize("minibatch_above", [20000, 10])
def test_one_pick_per_well_separated_cluster(minibatch_above):
    x, blob = _blobs()
    picks = nearest_to_centroids(x, 4, seed=0, minibatch_above=minibatch_above)
    assert picks.dtype == np.int64 and len(picks) == 4
    assert sorted(blob[picks]) == [0, 1, 2, 3]


def test_hvsa_picks_one_sample_from_each_blob():
    x, blob = _blobs()
    scores = np.random.default_rng(3).random(len(x))
    picks = select_samples("hvsa", budget=4, units=FrameUnits(len(x), 4, 4), labelled=np.zeros(len(x), bool),
                           scores=scores, embeddings=x, uncertain_fraction=1.0)
    assert sorted(blob[picks]) == [0, 1, 2, 3]
    assert np.all(np.diff(scores[picks]) <= 0)  # most uncertain first


def test_identical_points_still_give_k_distinct_indices():
    picks = nearest_to_centroids(np.ones((10, 3)), 4)
    assert len(set(picks.tolist())) == 4
    mixed = np.vstack([np.ones((6, 3)), np.zeros((1, 3)), [[1.0, -1.0, 0.0]]])
    assert len(set(nearest_to_centroids(mixed, 5).tolist())) == 5


def test_edge_sizes():
    x, _ = _blobs(per_blob=2)
    np.testing.assert_array_equal(nearest_to_centroids(x, 8), np.arange(8))
    np.testing.assert_array_equal(nearest_to_centroids(x, 20), np.arange(8))
    assert nearest_to_centroids(np.zeros((0, 3)), 3).shape == (0,)
    with pytest.raises(SelectionError):
        nearest_to_centroids(np.zeros(5), 2)


def test_seeded_is_reproducible():
    x = np.random.default_rng(5).normal(size=(200, 6))
    np.testing.assert_array_equal(nearest_to_centroids(x, 7, seed=3), nearest_to_centroids(x, 7, seed=3))


def test_time_keeps_look_alike_frames_far_apart_in_the_video_apart():
    from selection import with_time

    # Frames 0-9 and 90-99 look the same; frames 40-59 look different. Content alone can spend
    # two of three picks on the look-alikes in one stretch; with time each stretch gets one.
    embeddings = np.zeros((100, 2), np.float32)
    embeddings[:, 0] = 1
    embeddings[40:60] = (0, 1)
    frames = np.r_[0:10, 40:60, 90:100]
    placed = with_time(embeddings[frames], frames, 100)
    np.testing.assert_allclose(np.linalg.norm(placed, axis=1), 1.0, rtol=1e-5)
    picks = frames[nearest_to_centroids(placed, 3, seed=0)]
    assert sorted(p // 30 for p in picks) == [0, 1, 3]
