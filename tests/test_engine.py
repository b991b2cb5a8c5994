"""The round logic shared by the worker and the simulation, on tiny synthetic videos."""

import os

import numpy as np

from propagation import (
    UNKNOWN,
    DiskArray,
    FinetuneConfig,
    FusionConfig,
    NetworkSpec,
    SparseLabels,
    compute_flows,
    downscale_labels,
    on_disk,
    overlay_known,
    starting_network,
)
from selection import FrameUnits
from vidseg.engine import (
    COLD_START_FOLLOW_UPS,
    RoundConfig,
    flow_size,
    labelled_samples,
    nearest_carried_labels,
    run_round,
    select_next,
)


def _moving_square(n_frames=5, size=64, shift=2):
    rng = np.random.default_rng(0)
    background = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
    frames, labels = [], []
    for t in range(n_frames):
        frame = np.roll(background, t * shift, axis=1)
        label = np.zeros((size, size), np.int16)
        label[20:40, 10 + t * shift:30 + t * shift] = 1
        frame[20:40, 10 + t * shift:30 + t * shift] = (255, 0, 0)
        frames.append(frame)
        labels.append(label)
    return np.stack(frames), np.stack(labels)


def test_sparse_labels_survive_the_move_to_working_resolution():
    labels = np.full((1, 100, 100), UNKNOWN, np.int16)
    labels[0, 37, 71] = 2
    small = downscale_labels(labels, (10, 10))
    assert small[0, 3, 7] == 2 and (small != UNKNOWN).sum() == 1


def test_dense_labels_shrink_like_a_nearest_resize():
    labels = np.zeros((1, 8, 8), np.int16)
    labels[0, :, 4:] = 1
    small = downscale_labels(labels, (4, 4))
    np.testing.assert_array_equal(small[0], np.repeat([[0, 0, 1, 1]], 4, axis=0))


def test_flow_size_keeps_small_videos_and_shrinks_large_ones():
    assert flow_size(360, 480, 640) == (360, 480)
    assert flow_size(1080, 1920, 640) == (360, 640)


def test_nearest_carrying_fills_neighbours_and_keeps_human_labels():
    frames, truth = _moving_square()
    human = np.full(truth.shape, UNKNOWN, np.int16)
    human[2] = truth[2]
    carried = nearest_carried_labels(human, compute_flows(frames))
    np.testing.assert_array_equal(carried[2], truth[2])
    for t in (1, 3):
        known = carried[t] != UNKNOWN
        assert known.mean() > 0.8 and (carried[t][known] == truth[t][known]).mean() > 0.95
    np.testing.assert_array_equal(nearest_carried_labels(human, None), human)


def test_nearest_carrying_at_a_lower_flow_resolution_still_returns_full_size_labels():
    frames, truth = _moving_square()
    human = np.full(truth.shape, UNKNOWN, np.int16)
    human[2] = truth[2]
    carried = nearest_carried_labels(human, compute_flows(frames, size=(32, 32)))
    assert carried.shape == truth.shape
    known = carried[3] != UNKNOWN
    assert (carried[3][known] == truth[3][known]).mean() > 0.9


def test_the_nearest_labelled_frame_reaches_everything_the_flow_keeps_in_view():
    frames, truth = _moving_square()
    human = np.full(truth.shape, UNKNOWN, np.int16)
    human[0] = truth[0]
    carried = nearest_carried_labels(human, compute_flows(frames))
    # 4 frames of 2 px shift: only the 8 columns that entered the image since frame 0 stay unknown
    assert (carried[4] != UNKNOWN).mean() >= 1 - 8 / 64


def test_delivery_prefers_known_labels_then_the_network():
    known = np.array([[[UNKNOWN, 1]]], np.int16)
    network = np.array([[[0, 0]]])
    np.testing.assert_array_equal(overlay_known(known, network), [[[0, 1]]])


SPEC = NetworkSpec(classes=("background", "square"), height=64, width=64)
ROUND = RoundConfig(budget=2, finetune=FinetuneConfig(steps=2, batch_size=1, pairs_per_step=1))


def _round(strategy, labels, frames=None, spec=SPEC, pseudo_labels=True, fusion=ROUND.fusion, **kwargs):
    frames = _moving_square()[0] if frames is None else frames
    units = FrameUnits(*labels.shape)
    labelled = SparseLabels.from_dense(labels).labelled_frames()
    model = starting_network(spec, seed=0)
    config = RoundConfig(**{**ROUND.__dict__, "strategy": strategy, "pseudo_labels": pseudo_labels, "fusion": fusion})
    return run_round(model, frames, labels, units, labelled, compute_flows(frames), spec, config, **kwargs)


def test_a_round_on_disk_delivers_and_selects_what_it_does_in_memory(tmp_path):
    frames, truth = _moving_square()
    human = np.full(truth.shape, UNKNOWN, np.int16)
    human[2] = truth[2]
    spec = NetworkSpec(classes=SPEC.classes, height=32, width=32)  # frames shrink to the working size
    in_memory = _round("hvsa", human, spec=spec)
    stored_frames = DiskArray.create(tmp_path / "frames.npy", frames.shape, np.uint8)
    stored_frames[:] = frames
    scratch = tmp_path / "scratch"
    on_disk_ = _round("hvsa", SparseLabels.from_dense(human), frames=stored_frames, spec=spec,
                      scratch=on_disk(scratch))
    assert {"votes.npy", "frames_small.npy", "probs.npy", "embeddings.npy", "fused.npy"} <= set(os.listdir(scratch))
    assert isinstance(on_disk_.prediction.probs, DiskArray)
    np.testing.assert_array_equal(on_disk_.selection.ids, in_memory.selection.ids)
    np.testing.assert_array_equal(on_disk_.delivered.labels(), in_memory.delivered.labels())
    np.testing.assert_array_equal(on_disk_.delivered.confidences(), in_memory.delivered.confidences())
    assert on_disk_.delivered.labels().shape == truth.shape  # full resolution, one frame at a time


def test_a_first_round_with_no_label_is_a_cold_start_and_delivers_nothing():
    _, truth = _moving_square()
    result = _round("hvsa", np.full(truth.shape, UNKNOWN, np.int16))
    assert result.selection.strategy == "cold_start" and len(result.selection.ids) == 2
    assert result.delivered is None and result.prediction is None and not result.trained


def test_a_learning_round_trains_delivers_every_pixel_and_keeps_human_labels():
    _, truth = _moving_square()
    human = np.full(truth.shape, UNKNOWN, np.int16)
    human[2] = truth[2]
    stages = []
    result = _round("hvsa", human, progress=lambda stage, done, total: stages.append(stage))
    assert result.trained and result.prediction.probs.shape == (5, 2, 64, 64)
    delivered = result.delivered.labels()
    assert (delivered != UNKNOWN).all()
    np.testing.assert_array_equal(delivered[2], truth[2])
    assert result.selection.strategy == "hvsa" and 2 not in result.selection.ids
    assert {"finetune", "predict"} <= set(stages)


def test_the_warp_baseline_never_runs_the_network():
    _, truth = _moving_square()
    human = np.full(truth.shape, UNKNOWN, np.int16)
    human[0] = truth[0]
    result = _round("warp", human)
    assert not result.trained and result.prediction is None
    assert result.selection.strategy == "uniform"
    np.testing.assert_array_equal(result.delivered.labels(),
                                  nearest_carried_labels(human, compute_flows(_moving_square()[0])))


def test_the_fusion_baseline_delivers_carried_votes_without_a_network():
    _, truth = _moving_square()
    human = np.full(truth.shape, UNKNOWN, np.int16)
    human[0], human[4] = truth[0], truth[4]
    result = _round("fusion", human)
    assert not result.trained and result.prediction is None and result.selection.strategy == "uniform"
    assert (result.delivered.labels()[1:4] == truth[1:4]).mean() > 0.97
    confidence = result.delivered.confidences()
    assert confidence.shape == (5,) and confidence[0] == 1.0
    sources = [result.delivered.frame(t).sources for t in range(5)]
    assert sources[0] == {"human": 1.0, "carried": 0.0, "network": 0.0}
    assert sources[2]["carried"] > 0.9 and sources[2]["human"] == 0.0 and sources[2]["network"] == 0.0


def test_a_learning_round_reports_the_confidence_of_what_it_delivers():
    _, truth = _moving_square()
    human = np.full(truth.shape, UNKNOWN, np.int16)
    human[2] = truth[2]
    result = _round("uniform", human)
    confidence = result.delivered.confidences()
    assert confidence.shape == (5,) and confidence[2] == 1.0
    assert result.delivered.frame(2).sources["human"] == 1.0
    assert sum(result.delivered.frame(0).sources.values()) == 1.0  # every pixel has one source
    assert (0 < confidence).all() and (confidence <= 1).all()


def test_a_cold_start_ranks_follow_ups_after_its_selection():
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 255, (30, 24, 32, 3), dtype=np.uint8)
    labelled = np.zeros(30, dtype=bool)
    labelled[7] = True
    config = RoundConfig(budget=2)
    selection = select_next(FrameUnits(30, 24, 32), labelled, "hvsa", config, None, None, frames)
    assert selection.strategy == "cold_start" and len(selection.ids) == 2
    follow_ups = np.flatnonzero(selection.scores > 0)
    assert len(follow_ups) == COLD_START_FOLLOW_UPS * 2  # ranked beyond the budget, not every frame
    assert not set(follow_ups) & {*selection.ids.tolist(), 7}
    assert len(np.unique(selection.scores[follow_ups])) == len(follow_ups)  # a strict order, no ties
    again = select_next(FrameUnits(30, 24, 32), labelled, "hvsa", config, None, None, frames)
    np.testing.assert_array_equal(again.scores, selection.scores)  # seeded


def test_frames_are_scored_by_what_their_carried_labels_would_reach():
    """Every frame equally uncertain: what separates them is the stretch of unlabelled frames their
    labels would be carried over, so the pick lands in the longest gap, and only where flow carries."""
    from propagation import Flows, VideoPrediction

    n = 40
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (n, 8, 8, 3), dtype=np.uint8)
    labelled = np.zeros(n, dtype=bool)
    labelled[[0, 10, 39]] = True
    probs = np.full((n, 2, 4, 4), 0.5, np.float16)
    prediction = VideoPrediction(probs, rng.random((n, 4, 1, 1)).astype(np.float16))
    still = np.zeros((n - 1, 2, 4, 4), np.float16)
    valid = np.ones((n - 1, 4, 4), bool)
    config = RoundConfig(budget=1, uncertain_fraction=0.2)
    flows = Flows(still, still, valid, valid.copy())
    selection = select_next(FrameUnits(n, 4, 4), labelled, "hvsa", config, probs, prediction, frames, flows)
    assert 10 < selection.ids[0] < 39
    assert selection.scores[25] > selection.scores[5] > selection.scores[labelled].max()
    without_flow = select_next(FrameUnits(n, 4, 4), labelled, "hvsa", config, probs, prediction, frames, None)
    np.testing.assert_allclose(without_flow.scores[~labelled], without_flow.scores[1])  # own uncertainty only


def _still_flows(n, size=(4, 4)):
    from propagation import Flows

    still = np.zeros((n - 1, 2, *size), np.float16)
    valid = np.ones((n - 1, *size), bool)
    return Flows(still, still, valid, valid.copy())


def test_a_cold_start_spaces_its_frames_evenly_where_labels_carry_far_and_picks_by_content_where_they_do_not():
    """Most frames look alike and the last few each differ: content diversity bunches its picks among
    the few. Where the flow carries labels over the long alike stretch, even spacing covers more."""
    n = 40
    frames = np.full((n, 8, 8, 3), 128, np.uint8)
    frames[32:] = np.random.default_rng(2).integers(0, 255, (8, 1, 1, 3))
    units, labelled, config = FrameUnits(n, 8, 8), np.zeros(n, dtype=bool), RoundConfig(budget=5)
    by_content = select_next(units, labelled, "hvsa", config, None, None, frames)
    assert by_content.strategy == "cold_start" and (by_content.ids >= 30).sum() >= 3  # no flow: content picks
    carried = select_next(units, labelled, "hvsa", config, None, None, frames, _still_flows(n, (8, 8)))
    assert carried.strategy == "uniform"
    np.testing.assert_array_equal(np.sort(carried.ids), [4, 12, 20, 28, 36])


def _concentrated_uncertainty(n):
    """A prediction sure of every frame but 20-29."""
    from propagation import VideoPrediction

    rng = np.random.default_rng(0)
    probs = np.zeros((n, 2, 4, 4), np.float16)
    probs[:, 0] = 1.0
    probs[20:30] = 0.5
    prediction = VideoPrediction(probs, rng.random((n, 4, 1, 1)).astype(np.float16))
    return probs, prediction, rng.integers(0, 255, (n, 4, 4, 3), dtype=np.uint8)


def test_frames_keep_their_content_picks_where_the_uncertainty_is_concentrated():
    n = 40
    probs, prediction, frames = _concentrated_uncertainty(n)
    labelled = np.zeros(n, dtype=bool)
    labelled[0] = True
    selection = select_next(FrameUnits(n, 4, 4), labelled, "hvsa", RoundConfig(budget=2), probs,
                            prediction, frames, _still_flows(n))
    assert selection.strategy == "hvsa" and ((selection.ids >= 15) & (selection.ids < 35)).all()  # around them


def test_before_the_video_has_a_label_a_pretrained_networks_picks_face_spacing_as_at_a_cold_start():
    """The same concentrated uncertainty, but from a model trained elsewhere on a video with no label
    yet: its uncertainty is untested here, so every frame counts alike and spacing, covering more, wins."""
    n = 40
    probs, prediction, frames = _concentrated_uncertainty(n)
    selection = select_next(FrameUnits(n, 4, 4), np.zeros(n, dtype=bool), "hvsa", RoundConfig(budget=2), probs,
                            prediction, frames, _still_flows(n))
    assert selection.strategy == "uniform"
    np.testing.assert_array_equal(np.sort(selection.ids), [10, 30])


def test_without_pseudo_labels_the_network_trains_on_human_labels_only(tmp_path):
    _, truth = _moving_square()
    human = np.full(truth.shape, UNKNOWN, np.int16)
    human[2] = truth[2]
    _round("hvsa", human, scratch=on_disk(tmp_path / "with"))
    result = _round("hvsa", human, pseudo_labels=False, scratch=on_disk(tmp_path / "without"))
    assert "training.npy" in os.listdir(tmp_path / "with")  # human labels over the reliable carried ones
    assert "training.npy" not in os.listdir(tmp_path / "without") and result.trained


def test_labelled_samples_are_those_mostly_drawn_by_a_human():
    human = SparseLabels(3, (8, 8))
    human[1] = np.zeros((8, 8), np.int16)
    mostly = np.full((8, 8), UNKNOWN, np.int16)
    mostly[:5] = 1
    human[2] = mostly
    np.testing.assert_array_equal(labelled_samples(FrameUnits(3, 8, 8), human), [False, True, True])
    mostly[:3] = UNKNOWN  # 2 of 8 rows: not labelled
    human[2] = mostly
    np.testing.assert_array_equal(labelled_samples(FrameUnits(3, 8, 8), human.dense()), [False, True, False])


def test_frames_the_model_has_not_seen_choose_the_weight_it_delivers_at():
    _, truth = _moving_square()
    human = np.full(truth.shape, UNKNOWN, np.int16)
    human[0], human[2], human[4] = truth[0], truth[2], truth[4]
    # Fresh weights at a weight that overrules every carried label: the held-out frame shows it hurts.
    overruling = FusionConfig(network_weight=5.0)
    unchecked = _round("hvsa", human, fusion=overruling)
    assert unchecked.weight_check is None and unchecked.delivered.network_weight == 5.0
    checked = _round("hvsa", human, fusion=overruling, trained_on=[0, 4])  # frame 2 is new to it
    check = checked.weight_check
    assert check.frames == (2,) and check.weights == (5.0, 0.0) and check.pixels == truth[2].size
    assert check.correct[1] > 0.95 * check.pixels and check.correct[1] > check.correct[0]  # carried alone: better
    assert check.chosen == 0.0 and checked.delivered.network_weight == 0.0
    np.testing.assert_array_equal(checked.selection.ids, unchecked.selection.ids)  # only the delivery changes
    assert checked.trained_on == (0, 2, 4) and unchecked.trained_on == (0, 2, 4)
    assert _round("fusion", human, trained_on=[0, 4]).weight_check is None  # nothing learns: nothing to check
