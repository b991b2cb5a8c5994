"""An oracle annotator: reveals ground truth inside selected samples and counts the clicks it cost.

What a human would deliver per sample kind (and what it costs, see `costs.py`):
- frame, rectangle: the exact ground truth inside the sample (polygon clicks);
- superpixel, pixel: one class for the whole sample, the dominant non-void ground-truth label
  (one click); a sample that is all void reveals nothing but still costs its click.
"""

from __future__ import annotations

import numpy as np

from vidseg.labels import UNKNOWN
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
        kind = self.units.kind
        if kind in ("superpixel", "pixel"):
            return 1
        model = self._cost_models.get(frame)
        if model is None:
            model = self._cost_models[frame] = FrameCostModel(self.truth[frame], self.epsilon)
        if kind == "frame":
            return model.frame_cost()
        rows, cols = np.nonzero(mask)
        return model.rectangle_cost(rows.min(), cols.min(), rows.max() + 1, cols.max() + 1)

    def _write(self, frame: int, mask: np.ndarray) -> None:
        truth = self.truth[frame][mask]
        if self.units.kind in ("frame", "rectangle"):
            self.revealed[frame][mask] = truth
            return
        known = truth[truth != UNKNOWN]
        if known.size:
            self.revealed[frame][mask] = np.bincount(known).argmax()
