import numpy as np
import pytest

from selection import (
    FrameUnits,
    PixelUnits,
    RectangleUnits,
    SelectionError,
    SuperpixelUnits,
    pool_per_sample,
)

F, H, W = 3, 13, 17


def _superpixels() -> SuperpixelUnits:
    rng = np.random.default_rng(0)
    # Labels with gaps (3, 7, 9, ...) and a different count per frame, to exercise relabelling.
    return SuperpixelUnits(rng.choice([3, 7, 9, 20], size=(F, H, W)) + np.arange(F)[:, None, None])


def _all_units():
    return [FrameUnits(F, H, W), RectangleUnits(F, H, W, size=5), _superpixels(),
            PixelUnits(F, H, W, stride=4)]


@pytest.mark.parametrize("units", _all_units()[:3], ids=["frame", "rectangle", "superpixel"])
def test_ids_tile_each_frame_exactly_once(units):
    seen = []
    for f in range(F):
        seg = units.segment_map(f)
        assert seg.shape == (H, W) and seg.dtype == np.int64
        assert (seg >= 0).all()
        np.testing.assert_array_equal(np.unique(seg), units.sample_ids(f))
        seen.append(units.sample_ids(f))
    np.testing.assert_array_equal(np.concatenate(seen), np.arange(units.n_samples))


def test_frame_units_id_is_frame():
    units = FrameUnits(4, H, W)
    assert units.n_samples == 4
    np.testing.assert_array_equal(units.frame_of([0, 3, 2]), [0, 3, 2])
    frame, mask = units.mask(2)
    assert frame == 2 and mask.all()


def test_rectangles_have_partial_cells_at_edges():
    units = RectangleUnits(2, 20, 35, size=16)
    assert (units.n_rows, units.n_cols, units.n_samples) == (2, 3, 12)
    assert units.box(11) == (1, 16, 32, 20, 35)
    frame, mask = units.mask(11)
    assert frame == 1 and mask.sum() == 4 * 3 and mask[16:, 32:].all()
    seg = units.segment_map(1)
    assert seg[0, 0] == 6 and seg[0, 16] == 7 and seg[19, 34] == 11  # frame-major, then raster order


def test_superpixels_relabelled_contiguously_per_frame():
    segments = np.array([[[3, 3, 7], [7, 10, -1]], [[5, 5, 5], [0, 0, 5]]])
    units = SuperpixelUnits(segments)
    np.testing.assert_array_equal(units.offsets, [0, 3, 5])
    np.testing.assert_array_equal(units.segment_map(0), [[0, 0, 1], [1, 2, -1]])
    np.testing.assert_array_equal(units.segment_map(1), [[4, 4, 4], [3, 3, 4]])


def test_pixel_candidates_on_offset_grid():
    units = PixelUnits(2, 20, 33, stride=8)
    np.testing.assert_array_equal(units.ys, [4, 12])
    np.testing.assert_array_equal(units.xs, [4, 12, 20, 28])
    assert units.n_samples == 16
    seg = units.segment_map(1)
    assert (seg >= 0).sum() == 8 and seg[12, 28] == 15 and seg[4, 4] == 8
    frames, ys, xs = units.pixel_of([9, 15])
    np.testing.assert_array_equal(frames, [1, 1])
    np.testing.assert_array_equal(ys, [4, 12])
    np.testing.assert_array_equal(xs, [12, 28])


@pytest.mark.parametrize("units", _all_units(), ids=lambda u: u.kind)
def test_mask_frame_of_and_segment_map_agree(units):
    rng = np.random.default_rng(1)
    for sample_id in rng.choice(units.n_samples, size=min(8, units.n_samples), replace=False):
        frame, mask = units.mask(sample_id)
        assert frame == units.frame_of(sample_id)
        assert sample_id in units.sample_ids(frame)
        np.testing.assert_array_equal(mask, units.segment_map(frame) == sample_id)


@pytest.mark.parametrize("units", _all_units(), ids=lambda u: u.kind)
def test_pool_per_sample_matches_brute_force_at_lower_resolution(units):
    h, w, D = 5, 7, 3
    values = np.random.default_rng(2).random((F, D, h, w)).astype(np.float32)
    # Brute force: enlarge to full resolution (nearest), then average each sample's mask.
    full = values[:, :, (np.arange(H) * h // H)][:, :, :, (np.arange(W) * w // W)]
    expected = np.stack([full[f][:, m].mean(axis=1) for f, m in map(units.mask, range(units.n_samples))])
    pooled = pool_per_sample(units, values)
    assert pooled.shape == (units.n_samples, D) and pooled.dtype == np.float32
    np.testing.assert_allclose(pooled, expected, rtol=1e-5)
    np.testing.assert_allclose(pool_per_sample(units, values[:, 1]), expected[:, 1], rtol=1e-5)
    lazy = pool_per_sample(units, frame_values=lambda f: values[f].astype(np.float16))
    np.testing.assert_allclose(lazy, expected, atol=1e-3)


def test_pool_per_sample_needs_exactly_one_source():
    units = FrameUnits(F, H, W)
    with pytest.raises(SelectionError):
        pool_per_sample(units)
    with pytest.raises(SelectionError, match="F=3"):
        pool_per_sample(units, np.zeros((2, 4, 4)))


def test_unit_errors():
    units = RectangleUnits(F, H, W)
    with pytest.raises(SelectionError):
        units.segment_map(F)
    with pytest.raises(SelectionError):
        units.frame_of([units.n_samples])
