"""What every granularity answers: how its sample units are made, what an annotator reveals and pays
for one sample, how a selected sample shows in Label Studio, and what the label config needs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from propagation import UNKNOWN, in_memory
from propagation.ondisk import Scratch
from selection import SampleUnits
from vidseg.labelstudio.config import LabelConfig, LabelConfigError

if TYPE_CHECKING:
    from vidseg.simulation.costs import FrameCostModel


@dataclass(frozen=True)
class UnitParams:
    """Sizes of the sub-frame units (settings RECTANGLE_SIZE, SUPERPIXELS_PER_FRAME, PIXEL_STRIDE)."""

    rectangle_size: int = 16
    superpixels_per_frame: int = 600
    pixel_stride: int = 8


class Granularity:
    name: str = ""
    simulation_budget: int = 1
    """Samples per round in the simulation when none is given."""
    focus_type: str | None = None
    """The label config's focus control that shows selected samples (a ``<RectangleLabels>`` or a
    second ``<BrushLabels>``), None when the whole frame is the sample."""
    uses_keypoints: bool = False
    config_hint: str = ""
    """What the label config needs, said to a user whose config does not fit."""

    def units(self, n_frames: int, height: int, width: int, frames: np.ndarray | None,
              params: UnitParams, scratch: Scratch = in_memory) -> SampleUnits:
        """The video's samples; ``frames``: an array or a sequence read a frame at a time; per-frame
        maps a granularity computes (superpixels) come from ``scratch`` ("units")."""
        raise NotImplementedError

    def reveal(self, truth: np.ndarray) -> np.ndarray:
        """What an annotator labels the pixels of one sample (``truth``: their ground truth, 1-D)."""
        return truth

    def clicks(self, frame_costs: Callable[[], FrameCostModel], mask: np.ndarray) -> int:
        """Clicks for one sample (``mask``: its pixels); ``frame_costs()`` gives its frame's cost model."""
        return 1

    def focus_results(self, units: SampleUnits, ids: np.ndarray, config: LabelConfig,
                      label_map: np.ndarray) -> list[dict]:
        """Label Studio results that show annotators the selected samples ``ids`` of one frame."""
        return []

    def fits(self, config: LabelConfig) -> bool:
        return config.focus_type == self.focus_type and (bool(config.keypoint_name) or not self.uses_keypoints)


def dominant_label(truth: np.ndarray) -> np.ndarray:
    """One click names the sample's most frequent non-void label; an all-void sample reveals nothing."""
    known = truth[truth != UNKNOWN]
    if known.size == 0:
        return truth
    return np.full_like(truth, np.bincount(known).argmax())


def check_config(granularity: Granularity, config: LabelConfig) -> None:
    """Raise LabelConfigError saying what to change when ``config`` is not laid out for ``granularity``."""
    if not granularity.fits(config):
        raise LabelConfigError(
            f"GRANULARITY={granularity.name} needs {granularity.config_hint}; this label config has "
            f"{_describe(config)}: change the label config or set GRANULARITY to match it")


def _describe(config: LabelConfig) -> str:
    parts = [{"rectanglelabels": "a <RectangleLabels> focus control",
              "brushlabels": "a second <BrushLabels> focus control"}.get(config.focus_type or "", "no focus control")]
    parts.append("key points" if config.keypoint_name else "no <KeyPointLabels>")
    return " and ".join(parts)
