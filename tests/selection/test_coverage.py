import numpy as np
import pytest

from selection import SelectionError, carried_gain, uncertainty_left


def _by_definition(u, labelled, keep):
    """The sum the module states, term by term."""
    out = np.zeros(len(u))
    for t in range(len(u)):
        if labelled[t]:
            continue
        for s in range(len(u)):
            lo, hi = min(s, t), max(s, t)
            if not labelled[lo : hi + 1].any():
                out[t] += u[s] * np.prod(keep[lo:hi])
    return out


def test_the_gain_is_the_uncertainty_its_carried_labels_reach_stopping_at_labelled_frames():
    rng = np.random.default_rng(0)
    u, keep = rng.random(40), rng.random(39)
    labelled = np.zeros(40, dtype=bool)
    labelled[[0, 7, 8, 30]] = True
    gain = carried_gain(u, labelled, keep)
    np.testing.assert_allclose(gain, _by_definition(u, labelled, keep))
    assert (gain[labelled] == 0).all()


def test_a_frame_in_a_long_uncertain_stretch_beats_an_equally_uncertain_one_beside_a_labelled_frame():
    u = np.ones(41)
    labelled = np.zeros(41, dtype=bool)
    labelled[[0, 10, 40]] = True
    gain = carried_gain(u, labelled, 0.5 ** (1 / 8))
    # Frame 25 sits in the middle of a 29-frame gap, frame 5 in the middle of a 9-frame one.
    assert gain[25] > gain[5] > 1.0
    assert int(np.argmax(gain)) == 25


def test_where_the_flow_breaks_a_frame_is_worth_its_own_uncertainty():
    u = np.array([0.2, 0.9, 0.1, 0.5])
    np.testing.assert_allclose(carried_gain(u, np.zeros(4, bool), 0.0), u)
    keep = np.array([0.9, 0.0, 0.9])  # a cut between frames 1 and 2
    expected = [0.2 + 0.9 * 0.9, 0.9 + 0.9 * 0.2, 0.1 + 0.9 * 0.5, 0.5 + 0.9 * 0.1]
    np.testing.assert_allclose(carried_gain(u, np.zeros(4, bool), keep), expected)


@pytest.mark.parametrize("labelled, keep, message", [(np.zeros(3, bool), 0.9, "labelled"),
                                                     (np.zeros(4, bool), 1.5, "keep"),
                                                     (np.zeros(4, bool), [0.5, 0.5], "keep")])
def test_bad_inputs_are_refused_with_what_to_send(labelled, keep, message):
    with pytest.raises(SelectionError, match=message):
        carried_gain(np.ones(4), labelled, keep)


def _left_by_definition(u, labelled, picks, keep):
    """What `uncertainty_left` states, frame by frame: reach from the nearest pick on each side, none
    past a labelled frame."""
    chosen = np.zeros(len(u), bool)
    chosen[picks] = True
    total = 0.0
    for s in np.flatnonzero(~labelled & ~chosen):
        left = 1.0
        for side in (range(s - 1, -1, -1), range(s + 1, len(u))):
            for t in side:
                if labelled[t]:
                    break
                if chosen[t]:
                    lo, hi = min(s, t), max(s, t)
                    left *= 1.0 - np.prod(keep[lo:hi])
                    break
        total += u[s] * left
    return total


def test_what_a_set_of_picks_leaves_is_the_uncertainty_its_carried_labels_do_not_reach():
    rng = np.random.default_rng(1)
    u, keep = rng.random(50), rng.random(49)
    labelled = np.zeros(50, dtype=bool)
    labelled[[3, 20, 21]] = True
    for picks in ([0, 10, 30], [49], [4, 5, 6, 40]):
        expected = _left_by_definition(u, labelled, picks, keep)
        assert uncertainty_left(u, labelled, picks, keep) == pytest.approx(expected)


def test_where_labels_carry_far_even_spacing_leaves_less_than_bunched_picks_and_where_they_do_not_both_leave_the_rest():
    u = np.ones(100)
    labelled = np.zeros(100, dtype=bool)
    spaced, bunched = [10, 30, 50, 70, 90], [10, 31, 50, 61, 89]
    assert uncertainty_left(u, labelled, spaced, 0.9) < uncertainty_left(u, labelled, bunched, 0.9)
    assert uncertainty_left(u, labelled, spaced, 0.0) == uncertainty_left(u, labelled, bunched, 0.0) == 95


def test_where_the_uncertainty_is_concentrated_picks_inside_it_leave_less_than_even_spacing():
    u = np.full(100, 0.01)
    u[60:80] = 1.0
    labelled = np.zeros(100, dtype=bool)
    inside, spaced = [10, 62, 66, 70, 76], [10, 30, 50, 70, 90]
    assert uncertainty_left(u, labelled, inside, 0.8) < uncertainty_left(u, labelled, spaced, 0.8)


@pytest.mark.parametrize("picks, keep, message", [([1], [0.5, 0.5], "keep"), ([4], 0.5, "picks"),
                                                  ([-1], 0.5, "picks")])
def test_what_is_left_is_refused_for_inputs_that_do_not_fit(picks, keep, message):
    with pytest.raises(SelectionError, match=message):
        uncertainty_left(np.ones(4), np.zeros(4, bool), picks, keep)


def test_content_picks_give_way_to_even_spacing_only_on_frames_and_only_where_spacing_leaves_less():
    from selection import FrameUnits, RectangleUnits, spaced_if_better

    frames, none = FrameUnits(100, 8, 8), np.zeros(100, dtype=bool)
    bunched = np.array([10, 31, 50, 61, 89])
    ids, ran = spaced_if_better(frames, none, bunched, "hvsa", np.ones(100), 0.9)
    assert ran == "uniform" and sorted(ids) == [10, 30, 50, 70, 90]
    ids, ran = spaced_if_better(frames, none, bunched, "hvsa", np.ones(100), 0.0)  # nothing carried: a tie
    assert ran == "hvsa" and (ids == bunched).all()
    rectangles = RectangleUnits(100, 32, 32, 16)
    ids, ran = spaced_if_better(rectangles, np.zeros(rectangles.n_samples, bool), bunched, "hvsa", None, 0.9)
    assert ran == "hvsa" and (ids == bunched).all()
