import numpy as np

from propagation import UNKNOWN
from selection import FrameUnits
from vidseg.engine import COLD_START_FOLLOW_UPS, RoundConfig, select_next
from vidseg.labelstudio.config import parse_label_config
from vidseg.labelstudio.predictions import frame_results
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


def test_a_cold_start_orders_every_ranked_frame_and_ties_only_the_rest():
    """From the engine's cold start to the scores Label Studio sorts by: the selection first, in its
    order, then its follow-ups in theirs, then the frames nothing ranked; one entry per task."""
    rng = np.random.default_rng(2)
    n_frames = 24
    frames = rng.integers(0, 255, (n_frames, 16, 16, 3), dtype=np.uint8)
    units = FrameUnits(n_frames, 16, 16)
    selection = select_next(units, np.zeros(n_frames, dtype=bool), "hvsa", RoundConfig(budget=2), None, None, frames)
    config = parse_label_config('<View><Image name="image" value="$image"/><BrushLabels name="tag" toName="image">'
                                '<Label value="Road"/></BrushLabels></View>')
    tasks = [{"id": 100 + frame} for frame in range(n_frames)]
    entries = list(frame_results(tasks, config, units, selection, np.full((n_frames, 16, 16), UNKNOWN, np.int16)))
    assert [entry["task_id"] for entry in entries] == [task["id"] for task in tasks]
    scores = np.array([entry["score"] for entry in entries])
    served = np.argsort(scores, kind="stable").tolist()
    follow_ups = np.argsort(-selection.scores, kind="stable")[:COLD_START_FOLLOW_UPS * 2].tolist()
    assert served[:2] == selection.ids.tolist() and (scores[served[:2]] < 0.1).all()
    assert served[2:2 + len(follow_ups)] == follow_ups
    assert len(np.unique(scores[served[:2 + len(follow_ups)]])) == 2 + len(follow_ups)
    assert (scores[served[2 + len(follow_ups):]] == scores[served[-1]]).all()  # the unranked rest tie, last
    assert [entries[f]["cluster"] for f in served[:2]] == [0, 1]
