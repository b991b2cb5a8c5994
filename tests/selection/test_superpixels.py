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


def test_superpixels_computed_into_an_on_disk_array_give_the_units_they_give_in_memory(tmp_path):
    """A long video's superpixel maps stream to disk a frame at a time and are read back per frame."""
    from propagation import on_disk

    frames = np.random.default_rng(3).integers(0, 255, (3, 24, 32, 3), dtype=np.uint8)
    in_memory = SuperpixelUnits(slic_superpixels(frames, n_segments=8))
    scratch = on_disk(tmp_path)
    frames_on_disk = scratch("frames", frames.shape, np.uint8)
    for t in range(3):
        frames_on_disk[t] = frames[t]
    on_file = scratch("units", (3, 24, 32), np.int32)
    streamed = SuperpixelUnits(slic_superpixels(frames_on_disk, n_segments=8, out=on_file))
    assert type(on_file).__name__ == "DiskArray"
    assert np.array_equal(streamed.offsets, in_memory.offsets)
    for t in range(3):
        assert np.array_equal(streamed.segment_map(t), in_memory.segment_map(t))
