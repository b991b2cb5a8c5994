import numpy as np
import pytest

from selection import STRATEGIES, FrameUnits, RectangleUnits, SelectionError, select_samples

N = 40
UNITS = RectangleUnits(10, 8, 8, size=4)  # 4 cells per frame, 40 samples


def _inputs(seed=0):
    rng = np.random.default_rng(seed)
    return {"scores": rng.random(N), "embeddings": rng.normal(size=(N, 5))}


@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_labelled_samples_are_never_chosen(strategy):
    labelled = np.zeros(N, dtype=bool)
    labelled[::3] = True
    picks = select_samples(strategy, budget=6, units=UNITS, labelled=labelled, **_inputs())
    assert picks.dtype == np.int64 and len(picks) == 6 and len(set(picks.tolist())) == 6
    assert not labelled[picks].any()


@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_budget_above_pool_returns_whole_pool_and_empty_pool_returns_nothing(strategy):
    labelled = np.ones(N, dtype=bool)
    labelled[[3, 17, 30]] = False
    picks = select_samples(strategy, budget=10, units=UNITS, labelled=labelled, **_inputs())
    assert sorted(picks.tolist()) == [3, 17, 30]
    empty = select_samples(strategy, budget=10, units=UNITS, labelled=np.ones(N, bool), **_inputs())
    assert empty.shape == (0,) and empty.dtype == np.int64


@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_seeded_selection_is_reproducible(strategy):
    kwargs = dict(budget=5, units=UNITS, labelled=np.zeros(N, bool), seed=7, **_inputs())
    np.testing.assert_array_equal(select_samples(strategy, **kwargs), select_samples(strategy, **kwargs))


def test_random_depends_on_seed():
    draws = {tuple(select_samples("random", budget=5, units=UNITS, labelled=np.zeros(N, bool), seed=s))
             for s in range(5)}
    assert len(draws) > 1


@pytest.mark.parametrize("budget", [0, -2, 1.5, True, None])
def test_bad_budget_raises(budget):
    with pytest.raises(SelectionError, match="budget"):
        select_samples("random", budget=budget, units=UNITS, labelled=np.zeros(N, bool))


def test_missing_or_mismatched_inputs_raise_naming_the_argument():
    labelled = np.zeros(N, bool)
    inputs = _inputs()
    with pytest.raises(SelectionError, match="scores"):
        select_samples("uncertainty", budget=2, units=UNITS, labelled=labelled)
    with pytest.raises(SelectionError, match="embeddings"):
        select_samples("hvsa", budget=2, units=UNITS, labelled=labelled, scores=inputs["scores"])
    with pytest.raises(SelectionError, match="embeddings"):
        select_samples("cold_start", budget=2, units=UNITS, labelled=labelled)
    with pytest.raises(SelectionError, match="scores"):
        select_samples("uncertainty", budget=2, units=UNITS, labelled=labelled, scores=inputs["scores"][:-1])
    with pytest.raises(SelectionError, match="embeddings"):
        select_samples("cold_start", budget=2, units=UNITS, labelled=labelled,
                       embeddings=inputs["embeddings"][1:])
    with pytest.raises(SelectionError, match="labelled"):
        select_samples("random", budget=2, units=UNITS, labelled=labelled[:5])
    with pytest.raises(SelectionError, match="NaN"):
        select_samples("uncertainty", budget=2, units=UNITS, labelled=labelled, scores=np.full(N, np.nan))
    with pytest.raises(SelectionError, match="unknown strategy"):
        select_samples("coreset", budget=2, units=UNITS, labelled=labelled)
    with pytest.raises(SelectionError, match="uncertain_fraction"):
        select_samples("hvsa", budget=2, units=UNITS, labelled=labelled, uncertain_fraction=0.0, **inputs)


def test_uncertainty_takes_the_top_scores_in_order():
    scores = np.linspace(0, 1, N)
    labelled = np.zeros(N, bool)
    labelled[N - 1] = True
    picks = select_samples("uncertainty", budget=3, units=UNITS, labelled=labelled, scores=scores)
    np.testing.assert_array_equal(picks, [N - 2, N - 3, N - 4])


def test_hvsa_only_clusters_the_uncertain_fraction():
    inputs = _inputs(1)
    picks = select_samples("hvsa", budget=4, units=UNITS, labelled=np.zeros(N, bool), **inputs)
    assert (inputs["scores"][picks] >= np.median(inputs["scores"])).all()
    assert np.all(np.diff(inputs["scores"][picks]) <= 0)


def test_uniform_spacing_over_frames():
    units = FrameUnits(100, 4, 4)
    labelled = np.zeros(100, bool)
    np.testing.assert_array_equal(select_samples("uniform", budget=4, units=units, labelled=labelled),
                                  [12, 37, 62, 87])
    labelled[[12, 37, 38]] = True
    # farthest free frame from everything labelled or picked: 99 (61 away), then 68, 53, 83
    np.testing.assert_array_equal(select_samples("uniform", budget=4, units=units, labelled=labelled),
                                  [99, 68, 53, 83])


def test_uniform_rounds_keep_frames_evenly_spread():
    units = FrameUnits(101, 4, 4)
    labelled = np.zeros(101, bool)
    for _ in range(5):
        labelled[select_samples("uniform", budget=2, units=units, labelled=labelled)] = True
    gaps = np.diff(np.flatnonzero(labelled))
    assert labelled.sum() == 10 and gaps.max() <= 2 * gaps.min() + 2


def test_uniform_spacing_over_sub_frame_ids():
    labelled = np.zeros(N, bool)
    labelled[:20] = True
    picks = select_samples("uniform", budget=4, units=UNITS, labelled=labelled)
    np.testing.assert_array_equal(picks, [22, 27, 32, 37])


@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_single_class_probabilities_still_select_a_full_budget(strategy):
    # One class everywhere: every score is 0 and gives no signal; selection must still fill the budget.
    picks = select_samples(strategy, budget=5, units=UNITS, labelled=np.zeros(N, bool), scores=np.zeros(N),
                           embeddings=_inputs()["embeddings"])
    assert len(set(picks.tolist())) == 5


@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_one_frame_video(strategy):
    units = FrameUnits(1, 6, 6)
    picks = select_samples(strategy, budget=3, units=units, labelled=np.zeros(1, bool), scores=np.zeros(1),
                           embeddings=np.ones((1, 4)))
    np.testing.assert_array_equal(picks, [0])
