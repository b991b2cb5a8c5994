"""SLIC superpixels: one click names a selected superpixel's class; shown as a focus brush mask."""

from __future__ import annotations

import numpy as np

from propagation import in_memory
from selection import SelectionError, SuperpixelUnits
from selection.superpixels import slic_superpixels
from vidseg.labelstudio.brush import focus_mask_to_results

from .base import Granularity, dominant_label


class Superpixels(Granularity):
    name = "superpixel"
    simulation_budget = 300
    focus_type = "brushlabels"
    config_hint = "a second <BrushLabels> focus control with one label (README, label configs)"

    def units(self, n_frames, height, width, frames, params, scratch=in_memory):
        if frames is None or np.shape(frames)[:3] != (n_frames, height, width):
            raise SelectionError(f"superpixel units need frames of shape ({n_frames}, {height}, {width}, 3)")
        segments = scratch("units", (n_frames, height, width), np.int32)
        return SuperpixelUnits(slic_superpixels(frames, n_segments=params.superpixels_per_frame, out=segments))

    reveal = staticmethod(dominant_label)

    def focus_results(self, units, ids, config, label_map):
        mask = np.zeros(label_map.shape, dtype=bool)
        for sample_id in ids:
            mask |= units.mask(int(sample_id))[1]
        return focus_mask_to_results(mask, config)
