import numpy as np
import pytest

from selection.errors import SelectionError
from selection.pixel_picking import check_points, min_pairwise_distance, pick_pixels


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("radius", [0.0, 1.0, 2.5, 7.0, 12.0])
def test_no_two_picks_closer_than_the_radius(seed, radius):
    rng = np.random.default_rng(seed)
    # Smooth scores cluster their maxima, which is exactly when the rule has work to do.
    scores = np.cumsum(np.cumsum(rng.random((60, 80)), axis=0), axis=1)
    taken = np.array([[30, 40], [59, 79]])
    picks = pick_pixels(scores, k=40, min_distance=radius, taken=taken)
    assert picks.shape[1] == 2 and len(picks) >= 1
    assert min_pairwise_distance(picks) >= radius
    assert min_pairwise_distance(np.vstack([picks, taken])) >= min(radius, np.hypot(29, 39))
    distances = np.hypot(*(picks[:, None, :] - taken[None, :, :]).transpose(2, 0, 1))
    assert distances.min() >= max(radius, 1e-9)  # never a taken pixel again, never near one
    assert len({tuple(p) for p in picks}) == len(picks)


def test_highest_scores_come_first_and_candidates_are_respected():
    scores = np.zeros((10, 10))
    scores[2, 3], scores[2, 4], scores[8, 8] = 5.0, 4.0, 3.0
    assert pick_pixels(scores, 2, min_distance=2.0).tolist() == [[2, 3], [8, 8]]
    assert pick_pixels(scores, 2, min_distance=0.0).tolist() == [[2, 3], [2, 4]]
    allowed = np.ones((10, 10), bool)
    allowed[2, 3] = False
    assert pick_pixels(scores, 1, 0.0, candidates=allowed).tolist() == [[2, 4]]


def test_fewer_picks_when_the_rule_leaves_no_room():
    picks = pick_pixels(np.ones((5, 5)), k=50, min_distance=10.0)
    assert len(picks) == 1
    assert len(pick_pixels(np.ones((5, 5)), k=50, min_distance=0.0)) == 25
    assert len(pick_pixels(np.ones((5, 5)), k=0, min_distance=1.0)) == 0


def test_bad_input_is_refused_with_a_clear_message():
    with pytest.raises(SelectionError, match="outside the 5x6 image"):
        pick_pixels(np.ones((5, 6)), 3, 1.0, taken=[[5, 0]])
    with pytest.raises(SelectionError, match="outside"):
        check_points([[0, -1]], (5, 6))
    with pytest.raises(SelectionError, match=r"\(n, 2\)"):
        check_points([1, 2, 3], (5, 6))
    with pytest.raises(SelectionError, match="min_distance"):
        pick_pixels(np.ones((5, 6)), 3, -1.0)
    with pytest.raises(SelectionError, match="finite"):
        pick_pixels(np.full((5, 6), np.nan), 3, 1.0)
    with pytest.raises(SelectionError, match=r"\(H, W\)"):
        pick_pixels(np.ones((2, 5, 6)), 3, 1.0)
    with pytest.raises(SelectionError, match="candidates"):
        pick_pixels(np.ones((5, 6)), 3, 1.0, candidates=np.ones((5, 5), bool))
