"""Label-map conventions of the cores: the unknown label and the rule that known labels win."""

from __future__ import annotations

import numpy as np

UNKNOWN = -1
"""Label value of a pixel with no label: not revealed, void, or outside a selected region."""


def overlay_known(known: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """``known`` where it holds a label, ``fallback`` elsewhere (same shape; dtype of ``known``).

    The one rule for merging label maps: human labels win over carried ones, and carried or human
    labels win over the network's.
    """
    return np.where(known != UNKNOWN, known, fallback).astype(known.dtype, copy=False)
