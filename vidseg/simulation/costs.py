"""Click costs of annotating a sample, after Cai et al. (CVPR 2021, "Revisiting superpixels for active
learning in semantic segmentation with realistic annotation costs").

An annotator draws one polygon per connected region of each class and then names its class, so

- **frame**: for every class (``UNKNOWN``/void skipped) and every connected region of it,
  ``1 + vertices of its outer outline`` after ``cv2.approxPolyDP(outline, epsilon, closed=True)``.
  Conventions (calibrated on the CamVid val clip, see below): the outline is the *outer* contour
  traced by ``cv2.findContours(class_mask, RETR_EXTERNAL, CHAIN_APPROX_NONE)``, so regions are
  8-connected and holes cost nothing (the region filling a hole is drawn on top as its own
  polygon). A 1-pixel region costs 1 + 1, a filled axis-aligned box 1 + 4.
- **rectangle** ``[y0, y1) x [x0, x1)`` (end-exclusive, like numpy slices):
  ``regions + vertices + crossings``, at least 1, where
  *regions* = outer contours (8-connected regions) of each non-void class inside the crop, one
  class click each; *vertices* = vertices of the full-frame simplified outlines (above) that lie
  strictly inside the rectangle (not on its border rows/columns: where an outline leaves the
  rectangle the crossing is counted instead); *crossings* = label changes between consecutive
  pixels walking once around the rectangle's border pixels (a closed loop; void counts as a label,
  because a class region ends there). A rectangle inside one region costs exactly 1; one crossing
  a straight vertical boundary costs 2 regions + 2 crossings = 4. A rectangle one pixel thick is
  walked there and back, so it costs what a thick one would. An all-void rectangle costs 1 (the
  annotator still marks it).
- **superpixel**, **pixel**: 1 (one click names the dominant label).

**Correction cost** (the second cost model). In Label Studio an annotator corrects the
pre-annotation instead of drawing from nothing. The pixels to fix are those whose delivered label
is wrong (``correction_map``): regions where nothing was delivered must be drawn, but a wrongly
labelled region smaller than ``MIN_FIX_REGION`` pixels (8-connected, per true class) is left as
it is, and those pixels stay wrong in the labels. The same rules as above then price the map of
what must be fixed: a frame costs the polygons of its error regions, a rectangle the error regions
it holds, a superpixel one click if anything in it must be fixed; a sample with nothing to fix
costs 0. A perfect pre-annotation costs 0, an empty one exactly the from-scratch cost.

Calibration (CamVid ``valannot``, 101 frames of 360x480, ignore 11, epsilon 2): DESIGN.md reports
64,793 clicks (642 per frame). This module gives **64,860 (642.2 per frame, +0.10%)**; no variant
tried hits 64,793 exactly. Totals measured (opencv 4.12; 4.10 gives the same):

- RETR_EXTERNAL on each class mask, CHAIN_APPROX_NONE or _SIMPLE (used): 64,860
- per 8-connected component (also counts islands nested in a same-class hole): 64,888
- per 4-connected component: 73,219
- RETR_LIST (hole outlines cost a polygon too): 91,336; per 8-component with RETR_CCOMP
  (hole vertices added to their region): 80,870
- image border zeroed first (OpenCV < 3.2 behaviour): 64,720; the same per 8-component: 64,748
- approxPolyDP with closed=False: 70,119
- CHAIN_APPROX_TC89_L1 / TC89_KCOS before approxPolyDP: 63,337 / 63,516
- epsilon 1.99 / 2.005 / 2.008 / 2.01 / 2.1: 66,685 / 64,827 / 64,795 / 64,783 / 63,138
- skimage find_contours (marching squares) + approximate_polygon: 91,160; outer outlines only 79,575
- void first filled with the nearest class: 62,517
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from propagation.labels import UNKNOWN

DEFAULT_EPSILON = 2.0
MIN_FIX_REGION = 50
"""Pixels: a wrongly pre-annotated region smaller than this (a 7x7 blob, 0.03% of a 360x480 frame)
is not worth an annotator's polygon; it stays wrong."""


def _check_map(labels: np.ndarray) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 2 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"a label map must be an integer (H, W) array, got {labels.dtype} {labels.shape}")
    return labels


def _present_classes(labels: np.ndarray) -> np.ndarray:
    """Sorted non-void class values present in ``labels`` (bincount beats np.unique on full frames)."""
    valid = labels[labels != UNKNOWN]
    if valid.size == 0:
        return np.zeros(0, dtype=np.int64)
    if valid.min() < 0:
        raise ValueError(f"label maps hold class indices >= 0 or UNKNOWN ({UNKNOWN}), found {valid.min()}")
    return np.flatnonzero(np.bincount(valid.ravel()))


def _outer_contours(mask: np.ndarray, approx: int = cv2.CHAIN_APPROX_NONE) -> tuple:
    return cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, approx)[0]


def region_outlines(labels: np.ndarray, epsilon: float = DEFAULT_EPSILON) -> list[tuple[int, np.ndarray]]:
    """One ``(class, vertices (n, 2) int32 as (x, y))`` per region: its simplified outer outline."""
    labels = _check_map(labels)
    out = []
    for c in _present_classes(labels):
        for contour in _outer_contours(labels == c):
            out.append((int(c), cv2.approxPolyDP(contour, epsilon, True).reshape(-1, 2)))
    return out


@lru_cache(maxsize=64)
def _border_loop(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """(ys, xs) of the border pixels of an h x w box, in walking order around it (a closed loop)."""
    if h == 1 or w == 1:
        # Degenerate box: out and back along the line, so each change is crossed twice, as the top
        # and bottom (or left and right) edges of a thicker rectangle would be.
        line = np.arange(max(h, w))
        walk = np.concatenate([line, line[-2:0:-1]])
        return (np.zeros_like(walk), walk) if h == 1 else (walk, np.zeros_like(walk))
    top = (np.zeros(w, int), np.arange(w))
    right = (np.arange(1, h), np.full(h - 1, w - 1))
    bottom = (np.full(w - 1, h - 1), np.arange(w - 2, -1, -1))
    left = (np.arange(h - 2, 0, -1), np.zeros(h - 2, int))
    parts = (top, right, bottom, left)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


class FrameCostModel:
    """Click costs of one frame's ground truth, with the outlines simplified once.

    ``labels``: (H, W) int, class indices with ``UNKNOWN`` for void. Building it costs one frame's
    contour pass (a few ms at 360x480); ``rectangle_cost`` then takes tens of microseconds.
    """

    def __init__(self, labels: np.ndarray, epsilon: float = DEFAULT_EPSILON):
        self.labels = np.ascontiguousarray(_check_map(labels))
        self.epsilon = float(epsilon)
        outlines = region_outlines(self.labels, self.epsilon)
        self.n_regions = len(outlines)
        height, width = self.labels.shape
        counts = np.zeros((height, width), dtype=np.int32)
        for _, vertices in outlines:
            np.add.at(counts, (vertices[:, 1], vertices[:, 0]), 1)
        self.n_vertices = int(counts.sum())
        # Summed-area table, (H+1, W+1): vertices in any box in O(1).
        self._vertex_table = np.pad(counts.cumsum(0).cumsum(1), ((1, 0), (1, 0)))

    def frame_cost(self) -> int:
        """Clicks to annotate the whole frame: regions + outline vertices."""
        return self.n_regions + self.n_vertices

    def vertices_inside(self, y0: int, x0: int, y1: int, x1: int) -> int:
        """Outline vertices in the box ``[y0, y1) x [x0, x1)``."""
        t = self._vertex_table
        return int(t[y1, x1] - t[y0, x1] - t[y1, x0] + t[y0, x0])

    def rectangle_cost(self, y0: int, x0: int, y1: int, x1: int) -> int:
        """Clicks to annotate the end-exclusive box ``[y0, y1) x [x0, x1)`` (see the module docstring)."""
        height, width = self.labels.shape
        y0, x0, y1, x1 = int(y0), int(x0), int(y1), int(x1)
        if not (0 <= y0 < y1 <= height and 0 <= x0 < x1 <= width):
            raise ValueError(f"rectangle ({y0}, {x0}, {y1}, {x1}) is empty or outside "
                             f"the {height}x{width} frame")
        crop = self.labels[y0:y1, x0:x1]
        if crop.min() == crop.max():  # one region (or all void): no outline passes through
            return 1
        regions = sum(len(_outer_contours(crop == c, cv2.CHAIN_APPROX_SIMPLE))
                      for c in _present_classes(crop))
        ys, xs = _border_loop(y1 - y0, x1 - x0)
        walk = crop[ys, xs]
        crossings = int(np.count_nonzero(walk != np.roll(walk, 1)))
        inner = self.vertices_inside(y0 + 1, x0 + 1, y1 - 1, x1 - 1) if y1 - y0 > 2 and x1 - x0 > 2 else 0
        return max(1, regions + crossings + inner)


def frame_cost(labels: np.ndarray, epsilon: float = DEFAULT_EPSILON) -> int:
    """Clicks to annotate one (H, W) label map from scratch."""
    return FrameCostModel(labels, epsilon).frame_cost()


def frame_costs(labels: np.ndarray, epsilon: float = DEFAULT_EPSILON) -> np.ndarray:
    """(F,) int64: the click cost of each frame of an (F, H, W) label video."""
    labels = np.asarray(labels)
    if labels.ndim != 3:
        raise ValueError(f"a label video must be (F, H, W), got shape {labels.shape}")
    return np.array([frame_cost(frame, epsilon) for frame in labels], dtype=np.int64)


def video_cost(labels: np.ndarray, epsilon: float = DEFAULT_EPSILON) -> int:
    """Clicks to annotate every frame of an (F, H, W) label video: the 100% of click budgets."""
    return int(frame_costs(labels, epsilon).sum())


def rectangle_cost(labels: np.ndarray, y0: int, x0: int, y1: int, x1: int,
                   epsilon: float = DEFAULT_EPSILON) -> int:
    """Clicks for the box ``[y0, y1) x [x0, x1)`` of one (H, W) map; for many boxes use FrameCostModel."""
    return FrameCostModel(labels, epsilon).rectangle_cost(y0, x0, y1, x1)


def correction_map(truth: np.ndarray, delivered: np.ndarray | None, min_region: int = MIN_FIX_REGION) -> np.ndarray:
    """What an annotator must draw to correct one pre-annotated (H, W) frame: the true class where
    the delivered label is wrong and worth fixing, UNKNOWN elsewhere (see the module docstring).

    ``delivered`` None (no pre-annotation) means everything must be drawn: the ground truth.
    """
    truth = _check_map(truth)
    if delivered is None:
        return truth
    if np.shape(delivered) != truth.shape:
        raise ValueError(f"delivered labels {np.shape(delivered)} do not match the frame {truth.shape}")
    wrong = (truth != UNKNOWN) & (delivered != truth)
    fix = np.where(wrong, truth, UNKNOWN).astype(truth.dtype)
    if min_region <= 1:
        return fix
    missing = delivered == UNKNOWN
    for c in _present_classes(fix):
        _, regions, stats, _ = cv2.connectedComponentsWithStats((fix == c).astype(np.uint8), connectivity=8)
        small = np.flatnonzero(stats[:, cv2.CC_STAT_AREA] < min_region)
        small = small[small > 0]
        if small.size:
            skipped = np.isin(regions, small) & ~missing
            fix[skipped] = UNKNOWN
    return fix


def corrected_labels(truth: np.ndarray, delivered: np.ndarray | None, fix: np.ndarray) -> np.ndarray:
    """The frame after correction: the truth, except pixels left unfixed keep their delivered label."""
    if delivered is None:
        return truth
    unfixed = (truth != UNKNOWN) & (delivered != truth) & (fix == UNKNOWN)
    return np.where(unfixed, delivered, truth).astype(truth.dtype)
