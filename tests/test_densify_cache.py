"""The worker's densified key-point frames on disk: a later job does not learn an unchanged frame again."""

import numpy as np

import propagation.densify as densify
from propagation import UNKNOWN, SparseLabels
from propagation.densify import DensifyConfig, densify_labels
from vidseg.densify_cache import DiskDensifyCache
from vidseg.store import Store

FAST = DensifyConfig(learner="sparse", work_pixels=64 * 64)


def _frame_and_points(seed: int):
    """(image (96, 96, 3) uint8, 60 key points of a two-region frame)."""
    truth = np.zeros((96, 96), np.int16)
    truth[:, 40:] = 1
    image = np.where(truth[..., None] == 1, (40, 40, 220), (220, 200, 40)).astype(np.uint8)
    rng = np.random.default_rng(seed)
    points = np.full(truth.shape, UNKNOWN, np.int16)
    cells = rng.choice(truth.size, 60, replace=False)
    points.flat[cells] = truth.flat[cells]
    return image, points


def test_a_new_job_reads_the_densified_frame_instead_of_learning_it_again(tmp_path, monkeypatch):
    folder = Store(tmp_path).video(1, "clip-1").densified_dir
    image, points = _frame_and_points(seed=0)
    frames, human = np.stack([image, image]), SparseLabels(2, points.shape, {1: points})
    first = densify_labels(frames, human, 2, FAST, DiskDensifyCache(folder))
    [stored] = folder.iterdir()
    written = stored.stat().st_mtime_ns

    def refuse(*args):
        raise AssertionError("an unchanged frame was learnt again")

    monkeypatch.setattr(densify, "densify_frame", refuse)
    again = densify_labels(frames, human, 2, FAST, DiskDensifyCache(folder))  # as the next job does
    np.testing.assert_array_equal(again[1], first[1])
    assert stored.stat().st_mtime_ns == written
    monkeypatch.undo()
    _, moved = _frame_and_points(seed=1)
    densify_labels(frames, SparseLabels(2, points.shape, {1: moved}), 2, FAST, DiskDensifyCache(folder))
    [replaced] = folder.iterdir()
    assert replaced.name.startswith("000001-") and replaced != stored  # one file per frame


def test_an_unreadable_file_is_learnt_again(tmp_path):
    cache = DiskDensifyCache(tmp_path)
    cache.put(3, "ab" * 20, np.zeros((4, 4), np.int16))
    np.testing.assert_array_equal(cache.get(3, "ab" * 20), np.zeros((4, 4)))
    stored = next(tmp_path.iterdir())
    whole = stored.read_bytes()
    for broken in (b"not a file", whole[:len(whole) // 2]):
        stored.write_bytes(broken)
        assert cache.get(3, "ab" * 20) is None
    assert cache.get(3, "cd" * 20) is None
