"""Carried votes kept between rounds: a new annotation carries labels again only where they change."""

import numpy as np

from propagation import FusionConfig, SparseLabels, carry_votes
from vidseg.artifacts import cached_flows
from vidseg.vote_cache import VoteCache


def _moving_square(n_frames, size=64, shift=2):
    rng = np.random.default_rng(0)
    frames = np.repeat(rng.integers(0, 255, (1, size, size, 3), dtype=np.uint8), n_frames, axis=0)
    truth = np.zeros((n_frames, size, size), np.int16)
    for t in range(n_frames):
        frames[t] = np.roll(frames[t], t * shift, axis=1)
        frames[t, 20:40, 10 + t * shift:30 + t * shift] = (255, 0, 0)
        truth[t, 20:40, 10 + t * shift:30 + t * shift] = 1
    return frames, truth


def _labels(truth, frames):
    labels = SparseLabels(len(truth), truth.shape[1:])
    for t in frames:
        labels[t] = truth[t]
    return labels


def test_the_next_round_carries_again_only_between_the_labelled_frames_around_the_change(tmp_path):
    frames, truth = _moving_square(n_frames=9)
    flows = cached_flows(tmp_path / "flows", frames, (64, 64))
    config, cache = FusionConfig(), VoteCache(tmp_path / "votes")
    cache.votes(_labels(truth, [0, 4, 8]), flows, 2, config)
    assert cache.carried_again is None  # the first round carries everything
    votes = cache.votes(_labels(truth, [0, 4, 6, 8]), flows, 2, config)
    assert cache.carried_again == [range(5, 8)]
    np.testing.assert_array_equal(votes[:], carry_votes(_labels(truth, [0, 4, 6, 8]), flows, 2, config))
    cache.votes(_labels(truth, [0, 4, 6, 8]), flows, 2, config)
    assert cache.carried_again == []  # nothing new: nothing carried


def test_other_settings_or_a_job_killed_while_updating_carry_everything_again(tmp_path):
    frames, truth = _moving_square(n_frames=6)
    flows = cached_flows(tmp_path / "flows", frames, (64, 64))
    cache = VoteCache(tmp_path / "votes")
    cache.votes(_labels(truth, [0, 5]), flows, 2, FusionConfig())
    votes = cache.votes(_labels(truth, [0, 5]), flows, 2, FusionConfig(half_life=2))
    assert cache.carried_again is None
    np.testing.assert_array_equal(votes[:], carry_votes(_labels(truth, [0, 5]), flows, 2, FusionConfig(half_life=2)))
    (tmp_path / "votes" / "votes.json").unlink()  # what a kill between the update and its description leaves
    votes = cache.votes(_labels(truth, [0, 2, 5]), flows, 2, FusionConfig(half_life=2))
    assert cache.carried_again is None
    np.testing.assert_array_equal(votes[:], carry_votes(_labels(truth, [0, 2, 5]), flows, 2, FusionConfig(half_life=2)))
