"""Rectangles of a fixed grid: the annotator labels inside a selected cell, shown as a rectangle."""

from __future__ import annotations

import numpy as np

from propagation import in_memory
from selection import RectangleUnits
from vidseg.labelstudio.points import rectangles_to_results

from .base import Granularity


class Rectangles(Granularity):
    name = "rectangle"
    simulation_budget = 250
    focus_type = "rectanglelabels"
    config_hint = "a <RectangleLabels> focus control beside the <BrushLabels> (README, label configs)"

    def units(self, n_frames, height, width, frames, params, scratch=in_memory):
        return RectangleUnits(n_frames, height, width, size=params.rectangle_size)

    def clicks(self, frame_costs, mask):
        rows, cols = np.nonzero(mask)
        return frame_costs().rectangle_cost(rows.min(), cols.min(), rows.max() + 1, cols.max() + 1)

    def focus_results(self, units, ids, config, label_map):
        boxes = [units.box(int(i))[1:] for i in ids]
        return rectangles_to_results(boxes, config, *label_map.shape)
