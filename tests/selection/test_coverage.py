import numpy as np
import pytest

from selection import SelectionError, carried_gain


def _by_definition(u, labelled, half_life):
    """The sum the module states, term by term."""
    out = np.zeros(len(u))
    for t in range(len(u)):
        if labelled[t]:
            continue
        for s in range(len(u)):
            between = range(min(s, t), max(s, t) + 1)
            if not any(labelled[k] for k in between):
                out[t] += u[s] * 0.5 ** (abs(t - s) / half_life)
    return out


def test_the_gain_is_the_uncertainty_its_carried_labels_reach_stopping_at_labelled_frames():
    rng = np.random.default_rng(0)
    u = rng.random(40)
    labelled = np.zeros(40, dtype=bool)
    labelled[[0, 7, 8, 30]] = True
    gain = carried_gain(u, labelled, half_life=4.0)
    np.testing.assert_allclose(gain, _by_definition(u, labelled, 4.0))
    assert (gain[labelled] == 0).all()


def test_a_frame_in_a_long_uncertain_stretch_beats_an_equally_uncertain_one_beside_a_labelled_frame():
    u = np.ones(41)
    labelled = np.zeros(41, dtype=bool)
    labelled[[0, 10, 40]] = True
    gain = carried_gain(u, labelled, half_life=8.0)
    # Frame 25 sits in the middle of a 29-frame gap, frame 5 in the middle of a 9-frame one.
    assert gain[25] > gain[5] > 1.0
    assert int(np.argmax(gain)) == 25


def test_a_short_half_life_leaves_the_own_uncertainty():
    u = np.array([0.2, 0.9, 0.1, 0.5])
    np.testing.assert_allclose(carried_gain(u, np.zeros(4, bool), half_life=1e-3), u, atol=1e-9)


@pytest.mark.parametrize("labelled, half_life", [(np.zeros(3, bool), 8.0), (np.zeros(4, bool), 0.0)])
def test_bad_inputs_are_refused_with_what_to_send(labelled, half_life):
    with pytest.raises(SelectionError, match="labelled|half_life"):
        carried_gain(np.ones(4), labelled, half_life)
