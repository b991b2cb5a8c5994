"""Named optical flow settings (OpenCV DIS), light to import: settings validate against them."""

from __future__ import annotations

import cv2

PRESETS = {
    "ultrafast": (cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, None),
    "fast": (cv2.DISOPTICAL_FLOW_PRESET_FAST, None),
    "medium": (cv2.DISOPTICAL_FLOW_PRESET_MEDIUM, None),
    "fine": (cv2.DISOPTICAL_FLOW_PRESET_MEDIUM, 0),
}
"""DIS settings by name: (OpenCV preset, finest pyramid level, None for the preset's own).

OpenCV's presets stop refining at a coarser level (medium: level 1, half the resolution asked for)
and enlarge from there; "fine" is medium refined down to level 0, so thin structures (poles, signs,
a pedestrian's legs) move with their own flow instead of their background's, and labels carried
along it keep them (README, "Optical flow": about 2.6x the time of "medium")."""
DEFAULT_PRESET = "fine"


def check_preset(preset: str) -> str:
    if preset not in PRESETS:
        raise ValueError(f"unknown optical flow preset {preset!r}; choose one of {', '.join(PRESETS)}")
    return preset
