import numpy as np

from selection import SuperpixelUnits
from selection.superpixels import slic_superpixels


def test_slic_respects_a_colour_edge():
    rng = np.random.default_rng(0)
    frame = np.zeros((48, 64, 3), dtype=np.uint8)
    frame[:, :29] = (200, 40, 40)
    frame[:, 29:] = (40, 40, 200)
    noise = rng.integers(-10, 11, size=(2, *frame.shape))
    frames = np.clip(frame.astype(int) + noise, 0, 255).astype(np.uint8)
    segments = slic_superpixels(frames, n_segments=12, compactness=10.0)
    assert segments.shape == (2, 48, 64) and segments.dtype == np.int32 and segments.min() == 0
    left = np.zeros((48, 64), dtype=bool)
    left[:, :29] = True
    for seg in segments:
        assert seg.max() >= 3
        # Pixels on the minority side of their superpixel cross the edge: they should be rare.
        share_left = np.bincount(seg.ravel(), weights=left.ravel()) / np.bincount(seg.ravel())
        majority_left = share_left[seg] > 0.5
        assert (majority_left != left).mean() < 0.02


def test_superpixel_units_from_slic_segments():
    frames = np.random.default_rng(1).integers(0, 255, size=(2, 24, 32, 3), dtype=np.uint8)
    units = SuperpixelUnits(slic_superpixels(frames, n_segments=8))
    assert units.kind == "superpixel" and units.n_samples >= 2
    for f in range(2):
        np.testing.assert_array_equal(np.unique(units.segment_map(f)), units.sample_ids(f))
