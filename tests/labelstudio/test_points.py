"""Key points and focus regions: percent <-> pixel mapping, edges, rotation, errors."""

import numpy as np
import pytest

from propagation.labels import UNKNOWN
from vidseg.labelstudio import (
    AnnotationFormatError,
    LabelConfigError,
    focus_mask_to_results,
    keypoints_to_sparse_labels,
    parse_label_config,
    points_to_results,
    rectangle_results_to_mask,
    rectangles_to_results,
)

BRUSH = ('<Image name="image" value="$image"/><BrushLabels name="tag" toName="image">'
         '<Label value="Sky"/><Label value="Road"/><Label value="Car"/></BrushLabels>')
POINTS = parse_label_config(
    f'<View>{BRUSH}<KeyPointLabels name="points" toName="image">'
    '<Label value="Road"/><Label value="Car" alias="c"/></KeyPointLabels></View>'
)
RECT = parse_label_config(
    f'<View>{BRUSH}<RectangleLabels name="focus" toName="image"><Label value="Selected"/></RectangleLabels></View>'
)
SUPERPIXEL = parse_label_config(
    f'<View>{BRUSH}<BrushLabels name="focus" toName="image"><Label value="Selected"/></BrushLabels></View>'
)
FRAME = parse_label_config(f"<View>{BRUSH}</View>")


def keypoint(x, y, label="Road", from_name="points"):
    return {"id": "kp1", "from_name": from_name, "to_name": "image", "type": "keypointlabels",
            "original_width": 10, "original_height": 4, "image_rotation": 0,
            "value": {"x": x, "y": y, "width": 0.6, "keypointlabels": [label]}}


def rectangle(x, y, w, h, rotation=0, from_name="focus"):
    return {"from_name": from_name, "to_name": "image", "type": "rectanglelabels",
            "value": {"x": x, "y": y, "width": w, "height": h, "rotation": rotation,
                      "rectanglelabels": ["Selected"]}}


@pytest.mark.parametrize(
    ("x", "y", "row", "col"),
    [(0, 0, 0, 0), (100, 100, 3, 9), (50, 50, 2, 5), (49.999, 24.999, 0, 4), (9.9999, 75, 3, 0), (10, 100, 3, 1)],
)
def test_keypoint_percent_to_pixel(x, y, row, col):
    labels = keypoints_to_sparse_labels([keypoint(x, y)], POINTS, 4, 10)
    assert labels[row, col] == 1 and (labels == UNKNOWN).sum() == 39


def test_points_round_trip_to_the_same_pixels_including_corners():
    rng = np.random.default_rng(0)
    h, w = 37, 53
    points = [(0, 0, 1), (h - 1, w - 1, 2), (0, w - 1, 2), (h - 1, 0, 1)]
    points += [(int(y), int(x), int(c)) for y, x, c in zip(rng.integers(0, h, 50), rng.integers(0, w, 50),
                                                            rng.integers(1, 3, 50), strict=True)]
    results = points_to_results(points, POINTS, h, w, score=0.25)
    expected = np.full((h, w), UNKNOWN)
    for y, x, c in points:
        expected[y, x] = c  # later points win, as in the reader
    assert np.array_equal(keypoints_to_sparse_labels(results, POINTS, h, w), expected)
    first = results[0]
    assert (first["type"], first["from_name"], first["to_name"], first["score"]) == (
        "keypointlabels", "points", "image", 0.25)
    value = first["value"]
    assert value["keypointlabels"] == ["Road"]
    assert (value["x"], value["y"], value["width"]) == pytest.approx((0.5 / w * 100, 0.5 / h * 100, 3 / w * 100))
    assert "height" not in first["value"]  # LS tells a key point from a rectangle by the missing height
    assert "score" not in points_to_results(points[:1], POINTS, h, w)[0]


def test_keypoint_alias_and_skipped_results():
    results = [keypoint(5, 5, "c"), keypoint(95, 95, "Car", from_name="other"),
               {**keypoint(50, 50), "value": {"x": 50, "y": 50, "width": 1, "keypointlabels": []}}]
    labels = keypoints_to_sparse_labels(results, POINTS, 4, 10)
    assert labels[0, 0] == 2 and (labels != UNKNOWN).sum() == 1


@pytest.mark.parametrize(("x", "y"), [(-0.01, 5), (5, 100.5), (float("nan"), 5), ("10", 5), (None, 5)])
def test_points_outside_the_image_or_not_numbers_are_named(x, y):
    with pytest.raises(AnnotationFormatError, match="key point #0 id='kp1'"):
        keypoints_to_sparse_labels([keypoint(x, y)], POINTS, 4, 10)


def test_keypoint_label_errors():
    with pytest.raises(AnnotationFormatError, match=r"label 'Sky'.*known labels: 'Road', 'Car'"):
        keypoints_to_sparse_labels([keypoint(1, 1, "Sky")], POINTS, 4, 10)
    with pytest.raises(ValueError, match="class id 0 is not a label"):
        points_to_results([(0, 0, 0)], POINTS, 4, 10)
    with pytest.raises(ValueError, match="outside"):
        points_to_results([(4, 0, 1)], POINTS, 4, 10)
    with pytest.raises(LabelConfigError, match="<KeyPointLabels"):
        keypoints_to_sparse_labels([], FRAME, 4, 10)


def test_rectangles_round_trip_to_the_same_pixels():
    h, w = 30, 47
    rects = [(0, 0, 16, 16), (14, 31, 30, 47), (5, 7, 6, 8), (0, 0, h, w)]
    results = rectangles_to_results(rects, RECT, h, w)
    assert results[0]["value"] == {"x": 0.0, "y": 0.0, "width": 16 / w * 100, "height": 16 / h * 100,
                                   "rotation": 0, "rectanglelabels": ["Selected"]}
    assert (results[0]["type"], results[0]["from_name"]) == ("rectanglelabels", "focus")
    for rect, result in zip(rects, results, strict=True):
        expected = np.zeros((h, w), bool)
        expected[rect[0] : rect[2], rect[1] : rect[3]] = True
        assert np.array_equal(rectangle_results_to_mask([result], RECT, h, w), expected)
    union = rectangle_results_to_mask(results[:2], RECT, h, w)
    assert union.sum() == 16 * 16 * 2


def test_human_drawn_rectangle_takes_pixels_whose_centre_is_inside():
    mask = rectangle_results_to_mask([rectangle(12.0, 26.0, 21.0, 48.0)], RECT, 10, 10)  # px 1.2..3.3, 2.6..7.4
    expected = np.zeros((10, 10), bool)
    expected[3:7, 1:3] = True
    assert np.array_equal(mask, expected)


def test_rotated_rectangle_turns_clockwise_about_its_top_left_corner():
    # 4 px wide, 2 px high at (x=10, y=2), turned 90 degrees: covers x 8..10, y 2..6
    mask = rectangle_results_to_mask([rectangle(50, 10, 20, 10, rotation=90)], RECT, 20, 20)
    expected = np.zeros((20, 20), bool)
    expected[2:6, 8:10] = True
    assert np.array_equal(mask, expected)


def test_focus_mask_ignores_other_controls_and_empty_annotation():
    assert not rectangle_results_to_mask([rectangle(0, 0, 50, 50, from_name="tag")], RECT, 4, 4).any()
    assert not rectangle_results_to_mask([], RECT, 4, 4).any()


def test_superpixel_focus_is_read_from_the_focus_brush():
    mask = np.zeros((6, 9), bool)
    mask[2:5, 1:4] = True
    mask[0, 8] = True
    results = focus_mask_to_results(mask, SUPERPIXEL)
    assert np.array_equal(rectangle_results_to_mask(results, SUPERPIXEL, 6, 9), mask)


def test_focus_config_errors():
    with pytest.raises(LabelConfigError, match="no focus control"):
        rectangle_results_to_mask([], FRAME, 4, 4)
    with pytest.raises(LabelConfigError, match='<RectangleLabels name="focus"'):
        rectangles_to_results([(0, 0, 1, 1)], SUPERPIXEL, 4, 4)
    with pytest.raises(ValueError, match="empty or not inside"):
        rectangles_to_results([(2, 2, 2, 3)], RECT, 4, 4)
