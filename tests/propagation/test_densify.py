"""Key-point frames densified by the sparse-pixel learner before a round: which frames, how well, cached."""

import numpy as np
import pytest

import propagation.densify as densify
from propagation import UNKNOWN, SparseLabels
from propagation.densify import (
    DensifyConfig,
    MemoryDensifyCache,
    densify_labels,
    is_keypoint_frame,
    working_size,
)

FAST = DensifyConfig(learner="sparse", work_pixels=64 * 64)
"""The default rule (1% of the pixels, 50 points), the learner at 64x64 so a frame takes well under a second."""


def counting_learner(monkeypatch):
    """Replace the learner with a counter around it; returns the list of frames learnt."""
    learnt, learn = [], densify.densify_frame

    def counted(image, revealed, n_classes, config):
        learnt.append(int(revealed[revealed != UNKNOWN].sum()))
        return learn(image, revealed, n_classes, config)

    monkeypatch.setattr(densify, "densify_frame", counted)
    return learnt


def test_only_scattered_points_of_two_classes_count_as_a_keypoint_frame(regions_frame, keypoints):
    _, truth = regions_frame()
    points = keypoints(truth)
    assert is_keypoint_frame(points, FAST)
    assert not is_keypoint_frame(truth, FAST)  # a brush mask
    rectangle = np.full(truth.shape, UNKNOWN, np.int16)
    rectangle[40:48, 40:48], rectangle[40:48, 80:88] = 1, 2  # 128 px < 1%, but regions, not points
    assert not is_keypoint_frame(rectangle, FAST)
    assert not is_keypoint_frame(keypoints(truth, per_class=10), FAST)  # 30 points < 50
    one_class = np.where(points == 2, UNKNOWN, points)
    one_class[points != UNKNOWN] = 0
    assert not is_keypoint_frame(one_class, FAST)
    assert not is_keypoint_frame(keypoints(truth, per_class=20), DensifyConfig(max_known_fraction=0.001))


def test_a_keypoint_frame_is_densified_to_the_truth_and_keeps_its_points(regions_frame, keypoints):
    image, truth = regions_frame()
    points = keypoints(truth)
    human = SparseLabels(3, truth.shape, {0: truth, 2: points})
    frames = np.stack([image] * 3)
    dense = densify_labels(frames, human, 3, FAST)
    assert (dense[2] == truth).mean() >= 0.97
    known = points != UNKNOWN
    np.testing.assert_array_equal(dense[2][known], points[known])
    np.testing.assert_array_equal(dense[0], truth)  # the brush-masked frame passes through
    np.testing.assert_array_equal(human[2], points)  # the input is not changed
    assert densify_labels(frames, human, 3, DensifyConfig(learner="off")) is human


def test_a_frame_whose_points_did_not_change_is_not_learnt_again(monkeypatch, regions_frame, keypoints):
    image, truth = regions_frame()
    frames = np.stack([image] * 2)
    learnt, cache, progress = counting_learner(monkeypatch), MemoryDensifyCache(), []
    human = SparseLabels(2, truth.shape, {0: keypoints(truth, seed=0), 1: keypoints(truth, seed=1)})
    first = densify_labels(frames, human, 3, FAST, cache, lambda *step: progress.append(step))
    assert len(learnt) == 2 and progress == [("densify", 1, 2), ("densify", 2, 2)]
    again = densify_labels(frames, human, 3, FAST, cache)
    assert len(learnt) == 2  # both from the cache
    np.testing.assert_array_equal(again.dense(), first.dense())
    human[1] = keypoints(truth, seed=2)
    densify_labels(frames, human, 3, FAST, cache)
    assert len(learnt) == 3  # only the changed frame


def test_the_cache_key_follows_the_pixels_the_labels_and_the_learner(regions_frame, keypoints):
    image, truth = regions_frame()
    points = keypoints(truth)
    key = densify.frame_key(image, points, 3, FAST)
    assert key == densify.frame_key(image.copy(), points.astype(np.int64), 3, FAST)
    assert key != densify.frame_key(255 - image, points, 3, FAST)
    assert key != densify.frame_key(image, keypoints(truth, seed=1), 3, FAST)
    assert key != densify.frame_key(image, points, 4, FAST)
    assert key != densify.frame_key(image, points, 3, DensifyConfig(work_pixels=32 * 32))


def test_the_working_size_keeps_the_aspect_and_never_enlarges():
    assert working_size(720, 1280, 180 * 240) == (156, 277)
    assert working_size(360, 480, 180 * 240) == (180, 240)
    assert working_size(64, 64, 180 * 240) == (64, 64)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="pixel learner 'magic': choose one of sparse, off"):
        densify_labels(np.zeros((1, 8, 8, 3), np.uint8), SparseLabels(1, (8, 8)), 2, DensifyConfig(learner="magic"))
    with pytest.raises(ValueError, match="max_known_fraction"):
        DensifyConfig(max_known_fraction=0).validate()
