"""Label fusion: carried votes from both sides against the network, on synthetic videos whose flow
is known exactly (still frames: zero flow), so each weight can be checked by hand."""

import numpy as np
import pytest

from propagation import (
    UNKNOWN,
    Flows,
    FusionConfig,
    carried_share,
    carry_votes,
    carry_votes_again,
    fuse_labels,
    fused_probabilities,
    reliable_labels,
)


def _still_flows(n_frames, size=(8, 8)):
    """Zero flow, consistent everywhere: every pixel stays where it is."""
    shape = (n_frames - 1, 2, *size)
    valid = np.ones((n_frames - 1, *size), bool)
    return Flows(np.zeros(shape, np.float16), np.zeros(shape, np.float16), valid, valid.copy())


def _labelled(n_frames, frames_and_classes, size=(8, 8)):
    labels = np.full((n_frames, *size), UNKNOWN, np.int32)
    for frame, cls in frames_and_classes:
        labels[frame] = cls
    return labels


def _network(n_frames, cls, confidence=0.9, num_classes=2, size=(8, 8)):
    probs = np.full((n_frames, num_classes, *size), (1 - confidence) / (num_classes - 1), np.float16)
    probs[:, cls] = confidence
    return probs


def test_votes_halve_every_half_life_and_add_up_from_both_sides():
    labels = _labelled(9, [(0, 1), (8, 1)])
    votes = carry_votes(labels, _still_flows(9), 2, FusionConfig(half_life=4))
    assert votes.shape == (9, 2, 8, 8) and votes.dtype == np.float16
    np.testing.assert_allclose(votes[4, 1], 2 * 0.5, rtol=1e-3)  # 4 frames from each side
    np.testing.assert_allclose(votes[1, 1], 0.5 ** (1 / 4) + 0.5 ** (7 / 4), rtol=1e-3)
    np.testing.assert_allclose(votes[0, 1], 2.0)  # a human label, from each side
    assert (votes[:, 0] == 0).all()


def test_a_reliable_carried_label_outvotes_a_confident_wrong_network_and_a_far_one_does_not():
    n = 30
    human = _labelled(n, [(0, 1)])
    votes = carry_votes(human, _still_flows(n), 2, FusionConfig(half_life=8))
    delivered, confidence = fuse_labels(human, votes, _network(n, cls=0), network_weight=0.5)
    assert (delivered[:5] == 1).all()  # up to 4 frames away: 0.71 carried beats 0.45 of the network
    assert (delivered[20:] == 0).all()  # 20+ frames away: 0.18 carried loses to the network
    assert confidence.shape == (n,) and confidence[0] == 1 and (confidence[1:] < 1).all()


def test_a_carried_label_crossing_an_occlusion_loses_to_the_network():
    n = 3
    flows = _still_flows(n)
    flows.valid_backward[0, :, :4] = False  # frame 1's left half is not seen in frame 0
    human = _labelled(n, [(0, 1)])
    votes = carry_votes(human, flows, 2, FusionConfig(half_life=8, occlusion_factor=0.1))
    delivered, _ = fuse_labels(human, votes, _network(n, cls=0), network_weight=0.5)
    assert (delivered[1, :, :4] == 0).all() and (delivered[1, :, 4:] == 1).all()


def test_labels_whose_flow_leaves_the_image_are_lost():
    flows = _still_flows(2)
    flows.backward[0, 0] = 3.0  # frame 1 pulls from 3 px to the right in frame 0
    votes = carry_votes(_labelled(2, [(0, 1)]), flows, 2)
    assert (votes[1, :, :, 5:] == 0).all() and (votes[1, 1, :, :5] > 0.9).all()
    delivered, _ = fuse_labels(_labelled(2, [(0, 1)]), votes, None, 0.0)
    assert (delivered[1, :, 5:] == UNKNOWN).all()


def test_human_labels_always_win_and_the_network_fills_what_nothing_reaches():
    human = _labelled(3, [(1, 1)])
    delivered, _ = fuse_labels(human, None, _network(3, cls=0, confidence=1.0), network_weight=0.5)
    assert (delivered[1] == 1).all() and (delivered[[0, 2]] == 0).all()
    votes = carry_votes(_labelled(3, [(1, 1)], (8, 8)), _still_flows(3), 2)
    votes[0, :, :, :4] = 0  # nothing carried into the left half of frame 0
    delivered, _ = fuse_labels(human, votes, _network(3, cls=0, confidence=1.0), network_weight=0.0)
    assert (delivered[0, :, :4] == 0).all() and (delivered[0, :, 4:] == 1).all()  # weight 0: never overrules
    delivered, confidence = fuse_labels(human, None, None, 0.5)  # nothing fused: the human labels alone
    np.testing.assert_array_equal(delivered, human)
    np.testing.assert_array_equal(confidence, [0, 1, 0])


def test_votes_at_flow_resolution_are_delivered_at_the_labels_resolution():
    votes = carry_votes(_labelled(2, [(0, 1)], (4, 4)), _still_flows(2, (4, 4)), 2)
    delivered, _ = fuse_labels(_labelled(2, [], size=(8, 8)), votes, None, 0.0)
    assert delivered.shape == (2, 8, 8) and (delivered == 1).all()


def test_fused_probabilities_sum_to_one_and_are_sure_only_where_both_agree():
    n = 30
    votes = carry_votes(_labelled(n, [(0, 1)], (16, 16)), _still_flows(n, (16, 16)), 2)
    agree = fused_probabilities(votes, _network(n, cls=1), 0.5)
    disagree = fused_probabilities(votes, _network(n, cls=0), 0.5)
    assert agree.shape == (n, 2, 8, 8)
    np.testing.assert_allclose(agree.astype(np.float32).sum(axis=1), 1.0, atol=1e-2)
    assert (agree[:, 1] > disagree[:, 1]).all()
    assert disagree[1, 1].mean() > disagree[29, 1].mean()


def test_reliable_labels_are_the_carried_ones_a_network_could_not_overrule():
    n = 30
    votes = carry_votes(_labelled(n, [(0, 1)]), _still_flows(n), 2, FusionConfig(half_life=8))
    reliable = reliable_labels(votes, min_weight=0.5)
    assert (reliable[:9] == 1).all() and (reliable[9:] == UNKNOWN).all()  # 0.5 ** (8/8) = 0.5


def test_bad_inputs_say_what_is_wrong():
    with pytest.raises(ValueError, match="half_life"):
        carry_votes(_labelled(2, [(0, 1)]), _still_flows(2), 2, FusionConfig(half_life=0))
    with pytest.raises(ValueError, match="only 2 classes"):
        carry_votes(_labelled(2, [(0, 5)]), _still_flows(2), 2)
    with pytest.raises(ValueError, match="do not match"):
        carry_votes(_labelled(3, [(0, 1)]), _still_flows(2), 2)


def _random_flows(n_frames, size=(8, 8), seed=0):
    rng = np.random.default_rng(seed)
    shape = (n_frames - 1, 2, *size)
    return Flows(rng.uniform(-1, 1, shape).astype(np.float16), rng.uniform(-1, 1, shape).astype(np.float16),
                 rng.random((n_frames - 1, *size)) < 0.8, rng.random((n_frames - 1, *size)) < 0.8)


def test_carrying_again_after_a_new_annotation_equals_carrying_everything_and_touches_only_its_stretch():
    flows, config = _random_flows(12), FusionConfig(half_life=3)
    before = _labelled(12, [(1, 0), (5, 1), (10, 0)])
    partial = before.copy()
    partial[7, :4] = 1  # a partly labelled frame (a rectangle) does not stop the chains
    after = partial.copy()
    after[8] = 1
    votes = carry_votes(partial, flows, 2, config)
    carried = carry_votes_again(after, flows, 2, config, votes, changed=[8])
    assert carried == [range(6, 10)]  # between the fully labelled frames 5 and 10
    np.testing.assert_array_equal(votes, carry_votes(after, flows, 2, config))
    unchanged = votes.copy()
    assert carry_votes_again(after, flows, 2, config, votes, changed=[0, 11]) == [range(0, 1), range(11, 12)]
    np.testing.assert_array_equal(votes, unchanged)  # nothing changed: the same votes again
    removed = after.copy()
    removed[5] = UNKNOWN  # a stop removed: both chains now run through it
    assert carry_votes_again(removed, flows, 2, config, votes, changed=[5]) == [range(2, 8)]  # frame 8 is a stop now
    np.testing.assert_array_equal(votes, carry_votes(removed, flows, 2, config))


def test_the_sparse_upsampled_argmax_is_the_argmax_of_the_full_bilinear_interpolation():
    import torch
    import torch.nn.functional as F

    from propagation.inference import upsampled_argmax

    rng = np.random.default_rng(0)
    blocks = rng.integers(0, 4, (6, 8))  # a few regions, as label maps have
    values = np.eye(4, dtype=np.float32)[np.kron(blocks, np.ones((5, 5), int))].transpose(2, 0, 1)
    values = values * rng.uniform(0.5, 1.0, values.shape).astype(np.float32)
    values[:, :5, :5] = 0  # nothing known there
    for size in ((30, 40), (77, 123), (120, 160)):
        dense = F.interpolate(torch.from_numpy(values)[None], size=size, mode="bilinear", align_corners=False)[0]
        expected = torch.where(dense.sum(0) > 0, dense.argmax(0), UNKNOWN).numpy()
        np.testing.assert_array_equal(upsampled_argmax(values, size, UNKNOWN), expected)


def test_the_carried_share_per_step_is_what_the_votes_keep():
    config = FusionConfig(half_life=4.0, occlusion_factor=0.5)
    flows = _still_flows(3)
    flows.valid_forward[1, :4] = False  # half the pixels fail the check one way between frames 1 and 2
    share = carried_share(flows, config)
    decay = 0.5 ** (1 / 4)
    np.testing.assert_allclose(share, [decay, decay * (1 - 0.5 * 0.5 * 0.5)])
    # A label carried one step through consistent flow keeps exactly that share of its vote.
    votes = carry_votes(_labelled(3, [(0, 1)]), _still_flows(3), 2, config)
    assert float(votes[1, 1].max()) == pytest.approx(share[0], abs=1e-3)
