"""Whole frames: the annotator draws every region of the frame (the default granularity)."""

from __future__ import annotations

from propagation import in_memory
from selection import FrameUnits

from .base import Granularity


class Frames(Granularity):
    name = "frame"
    simulation_budget = 2
    config_hint = "an <Image> and a <BrushLabels> with one label per class, and no focus control"

    def units(self, n_frames, height, width, frames, params, scratch=in_memory):
        return FrameUnits(n_frames, height, width)

    def clicks(self, frame_costs, mask):
        return frame_costs().frame_cost()
