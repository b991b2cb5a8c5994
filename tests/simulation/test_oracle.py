import numpy as np

from propagation.labels import UNKNOWN
from selection import FrameUnits, PixelUnits, RectangleUnits, SuperpixelUnits
from vidseg.simulation.costs import frame_cost
from vidseg.simulation.oracle import Oracle


def _truth():
    truth = np.zeros((2, 32, 32), dtype=np.int16)
    truth[:, 8:24, 8:24] = 1
    truth[1, 0:4, :] = UNKNOWN
    return truth


def test_frames_reveal_exact_truth_at_polygon_cost():
    truth = _truth()
    oracle = Oracle(truth, FrameUnits(2, 32, 32))
    spent = oracle.reveal(np.array([0]))
    assert spent == frame_cost(truth[0]) == 10
    np.testing.assert_array_equal(oracle.revealed[0], truth[0])
    assert (oracle.revealed[1] == UNKNOWN).all()
    assert oracle.reveal(np.array([0])) == 0  # labelled samples cost nothing twice


def test_rectangle_inside_one_region_costs_one_click():
    oracle = Oracle(_truth(), RectangleUnits(2, 32, 32, size=8))
    assert oracle.reveal(np.array([5])) == 1  # row 1, col 1: the box region
    assert (oracle.revealed[0, 8:16, 8:16] == 1).all()
    assert (oracle.revealed[0, :8] == UNKNOWN).all()


def test_superpixel_reveals_its_dominant_label_for_one_click():
    segments = np.zeros((2, 32, 32), dtype=np.int32)
    segments[:, :, 16:] = 1
    truth = _truth()
    oracle = Oracle(truth, SuperpixelUnits(segments))
    assert oracle.reveal(np.array([0])) == 1
    left = oracle.revealed[0, :, :16]
    assert (left == 0).all()  # background dominates the left half, box pixels take its label too


def test_pixel_reveals_its_label_and_void_pixels_still_cost_a_click():
    truth = _truth()  # rows 0..3 of frame 1 are void
    units = PixelUnits(2, 32, 32, stride=8)  # candidates at rows/cols 4, 12, 20, 28
    oracle = Oracle(truth, units)
    box_pixel = int(units.sample_ids(0)[5])  # (12, 12): inside the box
    assert oracle.reveal(np.array([box_pixel])) == 1
    assert oracle.revealed[0, 12, 12] == 1 and (oracle.revealed != UNKNOWN).sum() == 1
    truth[1, 4, 4] = UNKNOWN
    oracle = Oracle(truth, units)
    assert oracle.reveal(units.sample_ids(1)[:1]) == 1
    assert (oracle.revealed == UNKNOWN).all()


def test_correcting_a_perfect_pre_annotation_costs_nothing_and_an_empty_one_costs_drawing_it():
    truth = _truth()
    oracle = Oracle(truth, FrameUnits(2, 32, 32), cost_model="correction")
    assert oracle.reveal(np.array([0]), delivered=truth.copy()) == 0
    empty = np.full(truth.shape, UNKNOWN, truth.dtype)
    assert oracle.reveal(np.array([1]), delivered=empty) == frame_cost(truth[1])
    assert oracle.clicks == frame_cost(truth[0]) + frame_cost(truth[1])  # the from-scratch price, kept beside
    assert oracle.correction_clicks == frame_cost(truth[1])
    np.testing.assert_array_equal(oracle.revealed, truth)


def test_correcting_fixes_large_wrong_regions_and_leaves_small_ones_wrong():
    truth = _truth()
    delivered = truth.copy()
    delivered[0, 8:24, 8:16] = 0  # half the box missed: 128 px, worth a polygon
    delivered[0, 28:30, 28:30] = 1  # a 4 px speck: not worth one
    oracle = Oracle(truth, FrameUnits(2, 32, 32), cost_model="correction", min_fix_region=50)
    spent = oracle.reveal(np.array([0]), delivered=delivered)
    assert spent == frame_cost(np.where(delivered[0] != truth[0], truth[0], UNKNOWN)[:, :20]) == 5
    assert (oracle.revealed[0, 8:24, 8:16] == 1).all()  # fixed
    assert (oracle.revealed[0, 28:30, 28:30] == 1).all()  # left wrong, counted as an error
    scratch = Oracle(truth, FrameUnits(2, 32, 32))
    scratch.reveal(np.array([0]), delivered=delivered)
    np.testing.assert_array_equal(scratch.revealed[0], truth[0])  # the paper's oracle draws it all
    assert scratch.correction_clicks == 5


def test_a_correct_superpixel_costs_nothing_to_accept():
    segments = np.zeros((2, 32, 32), dtype=np.int32)
    segments[:, :, 16:] = 1
    truth = _truth()
    delivered = truth.copy()
    delivered[0, :, 16:] = 2  # the right half is all wrong
    oracle = Oracle(truth, SuperpixelUnits(segments), cost_model="correction")
    assert oracle.reveal(np.array([0]), delivered=delivered) == 0
    assert oracle.reveal(np.array([1]), delivered=delivered) == 1
