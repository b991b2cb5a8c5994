"""An oracle annotator: reveals ground truth inside selected samples and counts the clicks it cost.

What a human delivers for a sample and what it costs is the granularity's (`vidseg.granularities`):
frames and rectangles reveal the exact ground truth (polygon clicks, `costs.py`); superpixels and
pixels one class for the whole sample, the dominant non-void label (one click; a sample that is all
void reveals nothing but still costs its click).

Every reveal is priced twice: from scratch (the paper's cost) and as a correction of the labels the
backend delivered for that sample (`costs.correction_map`). ``cost_model="correction"`` also
reveals what a correcting annotator leaves: the small wrong regions not worth fixing stay wrong.
"""

from __future__ import annotations

import numpy as np

from propagation import UNKNOWN
from vidseg.granularities import granularity_named
from vidseg.simulation.costs import MIN_FIX_REGION, FrameCostModel, corrected_labels, correction_map

COST_MODELS = ("scratch", "correction")


def check_cost_model(name: str) -> None:
    if name not in COST_MODELS:
        raise ValueError(f"unknown cost model {name!r}; choose one of {', '.join(COST_MODELS)}")


class Oracle:
    def __init__(self, truth: np.ndarray, units, epsilon: float = 2.0, cost_model: str = "scratch",
                 min_fix_region: int = MIN_FIX_REGION):
        """truth: (F, H, W) ground truth with UNKNOWN for void; units: the sample units in use."""
        if truth.shape != (units.n_frames, units.height, units.width):
            raise ValueError(
                f"ground truth shape {truth.shape} does not match the sample units "
                f"({units.n_frames}, {units.height}, {units.width})"
            )
        check_cost_model(cost_model)
        self.truth = truth
        self.units = units
        self.granularity = granularity_named(units.kind)
        self.epsilon = epsilon
        self.cost_model = cost_model
        self.min_fix_region = min_fix_region
        self.revealed = np.full(truth.shape, UNKNOWN, dtype=truth.dtype)
        self.labelled = np.zeros(units.n_samples, dtype=bool)
        self.clicks = 0
        """From-scratch clicks spent so far."""
        self.correction_clicks = 0
        """Clicks spent so far correcting the delivered labels instead."""
        self._scratch_models: dict[int, FrameCostModel] = {}

    def reveal(self, sample_ids: np.ndarray, delivered: np.ndarray | None = None) -> int:
        """Label the given samples, pre-annotated with ``delivered`` (F, H, W) or None; returns the
        clicks this batch cost under the oracle's cost model."""
        spent = {"scratch": 0, "correction": 0}
        fixes: dict[int, np.ndarray] = {}  # per frame: what must be fixed (UNKNOWN: nothing)
        fix_models: dict[int, FrameCostModel] = {}
        for sample_id in np.asarray(sample_ids, dtype=np.int64):
            if self.labelled[sample_id]:
                continue
            frame, mask = self.units.mask(int(sample_id))
            spent["scratch"] += self.granularity.clicks(lambda f=frame: self._scratch_model(f), mask)
            if frame not in fixes:
                pre = None if delivered is None else delivered[frame]
                fixes[frame] = correction_map(self.truth[frame], pre, self.min_fix_region)
            fix = fixes[frame]
            if (fix[mask] != UNKNOWN).any():
                def fix_model(f: int = frame) -> FrameCostModel:  # built only if the granularity prices outlines
                    if f not in fix_models:
                        fix_models[f] = FrameCostModel(fixes[f], self.epsilon)
                    return fix_models[f]

                spent["correction"] += self.granularity.clicks(fix_model, mask)
            source = self.truth[frame]
            if self.cost_model == "correction" and delivered is not None:
                source = corrected_labels(self.truth[frame], delivered[frame], fix)
            self.revealed[frame][mask] = self.granularity.reveal(source[mask])
            self.labelled[sample_id] = True
        self.clicks += spent["scratch"]
        self.correction_clicks += spent["correction"]
        return spent[self.cost_model]

    def _scratch_model(self, frame: int) -> FrameCostModel:
        if frame not in self._scratch_models:
            self._scratch_models[frame] = FrameCostModel(self.truth[frame], self.epsilon)
        return self._scratch_models[frame]
