"""Key points (pixel granularity) and focus regions (rectangle / superpixel granularity).

Label Studio stores positions in percent of the image (0..100), x to the right, y down.
- a key point at (x, y) percent labels pixel ``(row, col) = (floor(y/100*H), floor(x/100*W))``;
  a point exactly on the right/bottom edge (100) labels the last pixel; outside [0, 100] is an
  error. Points the backend writes sit on pixel centres, so they read back to the same pixel.
- rectangles ``(y0, x0, y1, x1)`` are pixel bounds, end-exclusive like slices. A pixel is
  inside a rectangle result when its centre is (so a rectangle written here reads back to the
  same pixels); rotated rectangles (LS rotates about the top-left corner, clockwise) are honoured.
- where key points repeat a pixel, the later one wins (as for brush regions).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from propagation import UNKNOWN

from .brush import AnnotationFormatError, decode_brush_mask
from .config import LabelConfig, LabelConfigError


def _percent(value: Any, axis: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise AnnotationFormatError(f"{where} has {axis}={value!r}, not a number")
    return float(value)


def _pixel(percent: float, size: int) -> int:
    return min(int(math.floor(percent / 100.0 * size)), size - 1)


def _needs_keypoints(config: LabelConfig) -> str:
    if config.keypoint_name is None:
        raise LabelConfigError(
            'pixel granularity needs key points: add <KeyPointLabels name="points" '
            f'toName="{config.image_name}"> with the class labels'
        )
    return config.keypoint_name


def keypoints_to_sparse_labels(
    results: Sequence[dict[str, Any]], config: LabelConfig, height: int, width: int
) -> np.ndarray:
    """(height, width) int64 label map: the class of each clicked key point, UNKNOWN elsewhere."""
    name = _needs_keypoints(config)
    labels = np.full((height, width), UNKNOWN, dtype=np.int64)
    for index, result in enumerate(results):
        if not isinstance(result, dict) or result.get("from_name") != name:
            continue
        if str(result.get("type", "")).lower() != "keypointlabels":
            continue
        value = result.get("value") or {}
        where = f"key point #{index}" + (f" id={result['id']!r}" if result.get("id") else "")
        x, y = _percent(value.get("x"), "x", where), _percent(value.get("y"), "y", where)
        if not (0.0 <= x <= 100.0 and 0.0 <= y <= 100.0):
            raise AnnotationFormatError(f"{where} at x={x}%, y={y}% lies outside the image (0..100%)")
        names = value.get("keypointlabels") or []
        if not names:
            continue  # a point without a class says nothing
        if len(names) > 1:
            raise AnnotationFormatError(f"{where} has several labels {names}: a pixel has one class")
        class_id = config.keypoint_class_id(names[0])
        if class_id is None:
            raise AnnotationFormatError(
                f"{where} has label {names[0]!r}, which <KeyPointLabels name=\"{name}\"> does not have "
                f"(known labels: {', '.join(map(repr, config.keypoint_labels))})"
            )
        labels[_pixel(y, height), _pixel(x, width)] = class_id
    return labels


def points_to_results(
    points: Sequence[tuple[int, int, int]],
    config: LabelConfig,
    height: int,
    width: int,
    score: float | None = None,
    point_size_px: float = 3.0,
) -> list[dict[str, Any]]:
    """``keypointlabels`` results for pixels ``(y, x, class_id)``, placed on pixel centres.

    ``point_size_px`` is the drawn point size (LS stores it as ``width`` in percent of the image
    width). ``score``, if given, is set on every result.
    """
    name = _needs_keypoints(config)
    results = []
    for y, x, class_id in points:
        y, x, class_id = int(y), int(x), int(class_id)
        if not (0 <= y < height and 0 <= x < width):
            raise ValueError(f"point (y={y}, x={x}) is outside the {height}x{width} image")
        known = 0 <= class_id < config.num_classes and config.class_names[class_id] in config.keypoint_labels
        if not known:
            raise ValueError(f"class id {class_id} is not a label of <KeyPointLabels name=\"{name}\">")
        result = {
            "from_name": name,
            "to_name": config.image_name,
            "type": "keypointlabels",
            "original_width": width,
            "original_height": height,
            "image_rotation": 0,
            "value": {
                "x": (x + 0.5) / width * 100.0,
                "y": (y + 0.5) / height * 100.0,
                "width": point_size_px / width * 100.0,
                "keypointlabels": [config.class_names[class_id]],
            },
        }
        if score is not None:
            result["score"] = float(score)
        results.append(result)
    return results


def rectangles_to_results(
    rects: Sequence[tuple[int, int, int, int]], config: LabelConfig, height: int, width: int
) -> list[dict[str, Any]]:
    """Focus ``rectanglelabels`` results for pixel rectangles ``(y0, x0, y1, x1)``, end-exclusive."""
    if config.focus_type != "rectanglelabels":
        raise LabelConfigError(
            'rectangle granularity needs a focus rectangle: add <RectangleLabels name="focus" '
            f'toName="{config.image_name}"><Label value="Selected"/></RectangleLabels>'
        )
    results = []
    for y0, x0, y1, x1 in rects:
        y0, x0, y1, x1 = int(y0), int(x0), int(y1), int(x1)
        if not (0 <= y0 < y1 <= height and 0 <= x0 < x1 <= width):
            rect = (y0, x0, y1, x1)
            raise ValueError(f"rectangle (y0, x0, y1, x1)={rect} is empty or not inside {height}x{width}")
        results.append({
            "from_name": config.focus_name,
            "to_name": config.image_name,
            "type": "rectanglelabels",
            "original_width": width,
            "original_height": height,
            "image_rotation": 0,
            "value": {
                "x": x0 / width * 100.0,
                "y": y0 / height * 100.0,
                "width": (x1 - x0) / width * 100.0,
                "height": (y1 - y0) / height * 100.0,
                "rotation": 0,
                "rectanglelabels": [config.focus_label],
            },
        })
    return results


def _fill_rectangle(mask: np.ndarray, value: dict[str, Any], where: str) -> None:
    height, width = mask.shape
    left = _percent(value.get("x"), "x", where) / 100.0 * width
    top = _percent(value.get("y"), "y", where) / 100.0 * height
    w = _percent(value.get("width"), "width", where) / 100.0 * width
    h = _percent(value.get("height"), "height", where) / 100.0 * height
    theta = math.radians(_percent(value.get("rotation", 0) or 0, "rotation", where))
    cos, sin = math.cos(theta), math.sin(theta)
    # corners of the rotated rectangle give the pixel box to test
    xs = [left + u * cos - v * sin for u, v in ((0, 0), (w, 0), (0, h), (w, h))]
    ys = [top + u * sin + v * cos for u, v in ((0, 0), (w, 0), (0, h), (w, h))]
    r0, r1 = max(int(math.floor(min(ys))), 0), min(int(math.ceil(max(ys))) + 1, height)
    c0, c1 = max(int(math.floor(min(xs))), 0), min(int(math.ceil(max(xs))) + 1, width)
    if r0 >= r1 or c0 >= c1:
        return
    dy = np.arange(r0, r1)[:, None] + 0.5 - top
    dx = np.arange(c0, c1)[None, :] + 0.5 - left
    u, v = dx * cos + dy * sin, -dx * sin + dy * cos  # pixel centre in the rectangle's frame
    mask[r0:r1, c0:c1] |= (u >= 0) & (u < w) & (v >= 0) & (v < h)


def rectangle_results_to_mask(
    results: Sequence[dict[str, Any]], config: LabelConfig, height: int, width: int
) -> np.ndarray:
    """(height, width) bool: the focus region(s) of an annotation, the pixels a human labelled.

    Reads the focus control's rectangles, or its brush masks when the focus control is a
    ``<BrushLabels>`` (superpixel granularity). No focus region gives an all-False mask.
    """
    if config.focus_type is None:
        raise LabelConfigError(
            'the label config has no focus control: add <RectangleLabels name="focus" '
            f'toName="{config.image_name}"><Label value="Selected"/></RectangleLabels>'
        )
    mask = np.zeros((height, width), dtype=bool)
    for index, result in enumerate(results):
        if not isinstance(result, dict) or result.get("from_name") != config.focus_name:
            continue
        kind = str(result.get("type", "")).lower()
        where = f"focus region #{index}" + (f" id={result['id']!r}" if result.get("id") else "")
        if kind == "rectanglelabels":
            _fill_rectangle(mask, result.get("value") or {}, where)
        elif kind == "brushlabels":
            mask |= decode_brush_mask(result, height, width, where)
    return mask
