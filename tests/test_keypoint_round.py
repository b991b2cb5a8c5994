"""A round on key-point labels (GRANULARITY=pixel): the frame's few clicked pixels are densified by the
sparse-pixel learner first, and that map is what the round carries, trains on and delivers."""

from dataclasses import replace

import numpy as np

import propagation.densify as densify
from propagation import UNKNOWN, FinetuneConfig, NetworkSpec, compute_flows, starting_network
from propagation.densify import DensifyConfig, MemoryDensifyCache
from selection import PixelUnits
from vidseg.engine import RoundConfig, labelled_samples, run_round

SPEC = NetworkSpec(classes=("red", "green", "blue"), height=32, width=32)
ROUND = RoundConfig(budget=2, finetune=FinetuneConfig(steps=2, batch_size=1, pairs_per_step=1),
                    densify=DensifyConfig(learner="sparse", work_pixels=64 * 64))


def _video(regions_frame, n_frames=3):
    """Static frames of three flat-coloured regions, each with its own noise, and their truth (F, H, W)."""
    frames, truths = zip(*(regions_frame(seed=t) for t in range(n_frames)), strict=True)
    return np.stack(frames), np.stack(truths)


def _round(frames, labels, config=ROUND, cache=None, progress=None):
    units = PixelUnits(*labels.shape, stride=4)
    return run_round(starting_network(SPEC, seed=0), frames, labels, units, labelled_samples(units, labels),
                     compute_flows(frames), SPEC, config, densify_cache=cache, progress=progress)


def _accuracy(delivered, truth) -> list[float]:
    return [round(float((d == t).mean()), 3) for d, t in zip(delivered, truth, strict=True)]


def test_a_round_on_key_points_delivers_the_densified_frame_and_carries_it(regions_frame, keypoints):
    frames, truth = _video(regions_frame)
    labels = np.full(truth.shape, UNKNOWN, np.int16)
    labels[1] = keypoints(truth[1], seed=1)  # 60 points, 0.37% of the frame
    stages = []
    result = _round(frames, labels, progress=lambda stage, done, total: stages.append((stage, done, total)))
    accuracy = _accuracy(result.delivered.labels(), truth)
    assert accuracy[1] >= 0.95 and min(accuracy) >= 0.95, accuracy  # frames 0 and 2 through the flow
    assert ("densify", 1, 1) in stages
    known = labels[1] != UNKNOWN
    np.testing.assert_array_equal(result.delivered.labels()[1][known], labels[1][known])

    off = _round(frames, labels, replace(ROUND, densify=DensifyConfig(learner="off")))
    assert _accuracy(off.delivered.labels(), truth)[1] < 0.95  # the points alone do not get there


def test_brush_masked_frames_are_not_densified_and_a_cached_frame_is_not_learnt_again(monkeypatch, regions_frame,
                                                                                     keypoints):
    frames, truth = _video(regions_frame)
    labels = np.full(truth.shape, UNKNOWN, np.int16)
    labels[0] = truth[0]  # a brush mask
    labels[2] = keypoints(truth[2], seed=1)
    learnt, learn = [], densify.densify_frame

    def counted(image, revealed, n_classes, config):
        learnt.append(revealed.copy())
        return learn(image, revealed, n_classes, config)

    monkeypatch.setattr(densify, "densify_frame", counted)
    cache = MemoryDensifyCache()
    first = _round(frames, labels, cache=cache)
    assert len(learnt) == 1 and np.array_equal(learnt[0], labels[2])  # only the key-point frame
    np.testing.assert_array_equal(first.delivered.labels()[0], truth[0])
    second = _round(frames, labels, cache=cache)  # the next round, nothing new on frame 2
    assert len(learnt) == 1
    np.testing.assert_array_equal(second.delivered.labels()[2], first.delivered.labels()[2])
