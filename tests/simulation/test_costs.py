from pathlib import Path

import cv2
import numpy as np
import pytest

from propagation.labels import UNKNOWN
from vidseg.simulation.costs import (
    FrameCostModel,
    frame_cost,
    frame_costs,
    rectangle_cost,
    region_outlines,
    video_cost,
)

CAMVID = Path(__file__).parents[2].parent / "shared/data/camvid"
CAMVID_VAL_CLICKS = 64_860  # calibrated total, see the costs module docstring (DESIGN.md: 64,793)


def box_on_background(shape=(40, 40), box=(10, 10, 20, 20), value=1, background=0) -> np.ndarray:
    labels = np.full(shape, background, dtype=np.int16)
    y0, x0, y1, x1 = box
    labels[y0:y1, x0:x1] = value
    return labels


def test_box_on_background_costs_ten():
    # Background: one region whose outer outline is the image border, 4 corners -> 1 + 4.
    # Box: one region, 4 corners -> 1 + 4. Its hole in the background costs nothing.
    assert frame_cost(box_on_background()) == (1 + 4) + (1 + 4)


def test_triangle():
    labels = np.zeros((40, 40), dtype=np.int16)
    cv2.fillPoly(labels, [np.array([[5, 5], [34, 5], [5, 34]], np.int32)], 1)
    # Triangle 1 + 3, background (outline = image border) 1 + 4.
    assert frame_cost(labels) == (1 + 3) + (1 + 4)


def test_l_shape_has_six_vertices():
    labels = np.zeros((40, 40), dtype=np.int16)
    labels[5:35, 5:15] = 2
    labels[25:35, 5:30] = 2
    assert frame_cost(labels) == (1 + 6) + (1 + 4)


def test_disjoint_regions_of_one_class_count_separately():
    labels = box_on_background(box=(5, 5, 15, 15))
    labels[25:35, 25:35] = 1
    assert frame_cost(labels) == 2 * (1 + 4) + (1 + 4)
    assert sorted(c for c, _ in region_outlines(labels)) == [0, 1, 1]


def test_void_costs_nothing():
    labels = box_on_background(background=UNKNOWN)
    assert frame_cost(labels) == 1 + 4
    assert frame_cost(np.full((8, 8), UNKNOWN, np.int16)) == 0


def test_single_pixel_region_costs_two():
    labels = np.zeros((10, 10), dtype=np.int16)
    labels[4, 4] = 3
    assert frame_cost(labels) == (1 + 1) + (1 + 4)


def test_video_cost_sums_frames():
    video = np.stack([box_on_background(), np.zeros((40, 40), np.int16)])
    np.testing.assert_array_equal(frame_costs(video), [10, 5])
    assert video_cost(video) == 15


def test_rectangle_inside_one_region_costs_one():
    model = FrameCostModel(box_on_background())
    assert model.rectangle_cost(12, 12, 18, 18) == 1  # inside the box
    assert model.rectangle_cost(0, 0, 8, 8) == 1  # background corner, image corner vertex on its border
    assert model.rectangle_cost(0, 0, 1, 1) == 1


def test_rectangle_across_a_vertical_boundary():
    labels = np.zeros((32, 32), dtype=np.int16)
    labels[:, 16:] = 1
    # 2 regions + 2 crossings (top and bottom edge); the outlines' vertices are at the image border.
    assert rectangle_cost(labels, 8, 10, 20, 22) == 2 + 2
    # A one-pixel-high strip is walked there and back: the same 2 crossings.
    assert rectangle_cost(labels, 8, 10, 9, 22) == 2 + 2


def test_rectangle_around_a_corner_counts_the_vertex_inside():
    model = FrameCostModel(box_on_background(box=(10, 10, 20, 20)))
    # Crop rows/cols 5..14: background (L-shaped, 1 region) + box part (1 region);
    # border walk: right column enters the box at y=10, bottom row leaves it at x=10 -> 2 crossings;
    # the box's corner vertex (10, 10) lies strictly inside -> 1.
    assert model.rectangle_cost(5, 5, 15, 15) == 2 + 2 + 1
    assert model.vertices_inside(5, 5, 15, 15) == 1


def test_rectangle_two_regions_of_one_class_inside():
    labels = np.zeros((20, 20), dtype=np.int16)
    labels[:, 5] = 1
    labels[:, 10] = 1
    # Regions: class 1 twice, class 0 three times; crossings: 4 on the top edge + 4 on the bottom.
    assert rectangle_cost(labels, 2, 2, 15, 15) == 5 + 8


def test_all_void_rectangle_costs_one():
    assert rectangle_cost(np.full((10, 10), UNKNOWN, np.int16), 2, 2, 6, 6) == 1


def test_rectangle_bounds_are_checked():
    model = FrameCostModel(np.zeros((10, 10), np.int16))
    with pytest.raises(ValueError, match="outside"):
        model.rectangle_cost(5, 5, 5, 8)
    with pytest.raises(ValueError, match="outside"):
        model.rectangle_cost(0, 0, 11, 5)


@pytest.mark.skipif(not (CAMVID / "valannot").is_dir(), reason="CamVid copy not present")
def test_camvid_val_clip_full_cost():
    paths = sorted((CAMVID / "valannot").glob("*.png"))
    labels = np.stack([cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in paths]).astype(np.int16)
    labels[labels == 11] = UNKNOWN
    assert len(paths) == 101
    assert video_cost(labels, epsilon=2.0) == CAMVID_VAL_CLICKS


def test_correction_map_is_what_is_wrong_and_worth_fixing():
    from vidseg.simulation.costs import corrected_labels, correction_map

    truth = box_on_background()
    assert (correction_map(truth, truth) == UNKNOWN).all()
    np.testing.assert_array_equal(correction_map(truth, None), truth)
    nothing = np.full_like(truth, UNKNOWN)
    np.testing.assert_array_equal(correction_map(truth, nothing, min_region=10_000), truth)  # missing: drawn
    wrong = truth.copy()
    wrong[0, 0] = 1
    fix = correction_map(truth, wrong, min_region=2)
    assert (fix == UNKNOWN).all()  # a 1 px mistake is not worth a click
    np.testing.assert_array_equal(corrected_labels(truth, wrong, fix), wrong)
    assert correction_map(truth, wrong, min_region=1)[0, 0] == 0
    with pytest.raises(ValueError, match="do not match"):
        correction_map(truth, truth[:5])
