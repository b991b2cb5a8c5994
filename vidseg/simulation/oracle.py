"""An oracle annotator: reveals ground truth inside selected samples and counts the clicks it cost.

What a human delivers for a sample and what it costs is the granularity's (`vidseg.granularities`):
frames and rectangles reveal the exact ground truth (polygon clicks, `costs.py`); superpixels and
pixels one class for the whole sample, the dominant non-void label (one click; a sample that is all
void reveals nothing but still costs its click).
"""

from __future__ import annotations

import numpy as np

from propagation import UNKNOWN
from vidseg.granularities import granularity_named
from vidseg.simulation.costs import FrameCostModel


class Oracle:
    def __init__(self, truth: np.ndarray, units, epsilon: float = 2.0):
        """truth: (F, H, W) ground truth with UNKNOWN for void; units: the sample units in use."""
        if truth.shape != (units.n_frames, units.height, units.width):
            raise ValueError(
                f"ground truth shape {truth.shape} does not match the sample units "
                f"({units.n_frames}, {units.height}, {units.width})"
            )
        self.truth = truth
        self.units = units
        self.granularity = granularity_named(units.kind)
        self.epsilon = epsilon
        self.revealed = np.full(truth.shape, UNKNOWN, dtype=truth.dtype)
        self.labelled = np.zeros(units.n_samples, dtype=bool)
        self.clicks = 0
        self._cost_models: dict[int, FrameCostModel] = {}

    def reveal(self, sample_ids: np.ndarray) -> int:
        """Label the given samples; returns the clicks this batch cost."""
        spent = 0
        for sample_id in np.asarray(sample_ids, dtype=np.int64):
            if self.labelled[sample_id]:
                continue
            frame, mask = self.units.mask(int(sample_id))
            spent += self._cost(frame, mask)
            self._write(frame, mask)
            self.labelled[sample_id] = True
        self.clicks += spent
        return spent

    def _cost(self, frame: int, mask: np.ndarray) -> int:
        def frame_costs() -> FrameCostModel:
            if frame not in self._cost_models:
                self._cost_models[frame] = FrameCostModel(self.truth[frame], self.epsilon)
            return self._cost_models[frame]

        return self.granularity.clicks(frame_costs, mask)

    def _write(self, frame: int, mask: np.ndarray) -> None:
        self.revealed[frame][mask] = self.granularity.reveal(self.truth[frame][mask])
