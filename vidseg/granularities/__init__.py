"""The granularities a team can label at: one registry. Adding one means a module here (a
``Granularity`` subclass) and a line below; settings, simulation, oracle, Label Studio predictions and
config checks all read this registry."""

from __future__ import annotations

from vidseg.labelstudio.config import LabelConfig
from vidseg.registry import look_up

from .base import Granularity, UnitParams, check_config, dominant_label
from .frame import Frames
from .pixel import Pixels
from .rectangle import Rectangles
from .superpixel import Superpixels

GRANULARITIES: dict[str, Granularity] = {g.name: g for g in (Frames(), Rectangles(), Superpixels(), Pixels())}


def granularity_named(name: str) -> Granularity:
    """The registered granularity; a ValueError that lists the choices otherwise."""
    return look_up(GRANULARITIES, "granularity", name)


def granularity_of(config: LabelConfig) -> Granularity | None:
    """The granularity a label config is laid out for (focus control first, then key points)."""
    for granularity in GRANULARITIES.values():
        if config.focus_type == granularity.focus_type and bool(config.keypoint_name) == granularity.uses_keypoints:
            return granularity
    return next((g for g in GRANULARITIES.values() if g.fits(config)), None)


__all__ = ["GRANULARITIES", "Granularity", "UnitParams", "check_config", "dominant_label",
           "granularity_named", "granularity_of"]
