"""What labelling a frame is worth once its labels are carried along the optical flow.

A frame's own uncertainty undersells it: its labels also travel to its neighbours, as far as the
nearest labelled frame on each side (whose own labels win from there on), their weight halving every
``half_life`` frames (`propagation.FusionConfig`). So the worth of labelling frame t is the
uncertainty its carried labels reach::

    gain[t] = sum over unlabelled s between the labelled frames around t of u[s] * 0.5 ** (|t - s| / half_life)

A frame in a long stretch of uncertain frames is worth more than an equally uncertain one beside a
labelled frame, which is what even spacing gets right and a frame's own uncertainty does not see.
"""

from __future__ import annotations

import numpy as np

from .errors import SelectionError


def _carried_one_way(values: np.ndarray, stops: np.ndarray, decay: float, order: range) -> np.ndarray:
    """Sum of ``values`` reaching each frame from one side, decaying per frame, cut at ``stops``."""
    out = np.zeros_like(values)
    total = 0.0
    for t in order:
        total = 0.0 if stops[t] else values[t] + decay * total
        out[t] = total
    return out


def carried_gain(uncertainty, labelled, half_life: float) -> np.ndarray:
    """(F,) float64 worth of labelling each frame: its uncertainty plus that of the unlabelled frames
    its labels would be carried to, weighed as the carried labels are (see the module). Labelled
    frames are worth 0. Two exponential sweeps, O(F)."""
    u = np.asarray(uncertainty, dtype=np.float64)
    stops = np.asarray(labelled, dtype=bool)
    if u.ndim != 1 or stops.shape != u.shape:
        raise SelectionError(f"uncertainty and labelled must both be (F,), got {u.shape} and {stops.shape}")
    if not half_life > 0:
        raise SelectionError(f"half_life must be a positive number of frames, got {half_life}")
    decay = 0.5 ** (1.0 / half_life)
    u = np.where(stops, 0.0, u)
    ahead = _carried_one_way(u, stops, decay, range(len(u)))
    behind = _carried_one_way(u, stops, decay, range(len(u) - 1, -1, -1))
    return ahead + behind - u
