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
