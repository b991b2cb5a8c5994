import numpy as np

from vidseg.labelstudio.priorities import frame_priorities


def test_selected_frames_come_first_in_rank_order():
    labelled = np.array([True, False, False, False, False])
    uncertainty = np.array([0.0, 0.1, 0.9, 0.5, 0.2])
    scores, clusters = frame_priorities(5, np.array([4, 1, 4]), uncertainty, labelled)
    order = np.argsort(scores, kind="stable")
    assert order[:2].tolist() == [4, 1]          # selection order, repeats collapsed
    assert order[2:4].tolist() == [2, 3]         # then the most uncertain
    assert order[-1] == 0 and scores[0] == 1.0   # labelled last
    assert clusters == [None, 1, None, None, 0]


def test_without_uncertainty_unselected_frames_tie():
    scores, clusters = frame_priorities(3, np.array([2]), None, np.zeros(3, dtype=bool))
    assert scores[2] < scores[0] == scores[1]
    assert clusters[2] == 0
