"""Single pixels on a grid: one click labels a pixel; proposed to annotators as key points."""

from __future__ import annotations

from propagation import in_memory
from selection import PixelUnits
from vidseg.labelstudio.points import points_to_results

from .base import Granularity, dominant_label


class Pixels(Granularity):
    name = "pixel"
    simulation_budget = 500
    uses_keypoints = True
    config_hint = "a <KeyPointLabels> with the class labels and no focus control (README, label configs)"

    def units(self, n_frames, height, width, frames, params, scratch=in_memory):
        return PixelUnits(n_frames, height, width, stride=params.pixel_stride)

    reveal = staticmethod(dominant_label)

    def focus_results(self, units, ids, config, label_map):
        _, rows, cols = units.pixel_of(ids)
        points = [(int(y), int(x), max(int(label_map[y, x]), 0)) for y, x in zip(rows, cols, strict=True)]
        return points_to_results(points, config, *label_map.shape)
