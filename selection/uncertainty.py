"""Uncertainty heuristics: small pure functions over class probabilities (class axis 1).

Each maps ``(N, C, ...)`` probabilities to ``(N, ...)`` float32 scores where higher means more
uncertain. Inputs may be float16 (as stored); arithmetic is done in float32.
"""

from __future__ import annotations

import numpy as np

from .errors import SelectionError
from .units import SampleUnits, pool_per_sample


def _as_float32(probs) -> np.ndarray:
    probs = np.asarray(probs)
    if probs.ndim < 2:
        raise SelectionError(f"probabilities need shape (N, C, ...), got {probs.shape}")
    return probs.astype(np.float32, copy=False)


def entropy(probs) -> np.ndarray:
    """Shannon entropy in nats, ``-sum_c p log p``: 0 for one-hot, log C for uniform."""
    p = _as_float32(probs)
    # Clipping keeps 0 * log 0 at 0 and absorbs tiny negative float16 round-off.
    return -np.sum(p * np.log(np.clip(p, 1e-12, None)), axis=1)


def margin(probs) -> np.ndarray:
    """``1 - (p_top1 - p_top2)``: 1 when the two best classes tie, 0 for one-hot."""
    p = _as_float32(probs)
    if p.shape[1] == 1:
        return 1.0 - p[:, 0]
    top2 = np.partition(p, p.shape[1] - 2, axis=1)[:, -2:]
    return 1.0 - (top2[:, 1] - top2[:, 0])


def least_confidence(probs) -> np.ndarray:
    """``1 - p_max``: 0 for one-hot, 1 - 1/C for uniform."""
    return 1.0 - _as_float32(probs).max(axis=1)


UNCERTAINTY_METHODS = {"entropy": entropy, "margin": margin, "least_confidence": least_confidence}


def pixel_uncertainty(probs, method: str = "entropy") -> np.ndarray:
    """Per-pixel uncertainty: (N, C, h, w) -> (N, h, w) float32 with one of ``UNCERTAINTY_METHODS``."""
    if method not in UNCERTAINTY_METHODS:
        names = ", ".join(UNCERTAINTY_METHODS)
        raise SelectionError(f"unknown uncertainty method {method!r}; use one of {names}")
    return UNCERTAINTY_METHODS[method](probs)


def sample_scores(units: SampleUnits, probs, method: str = "entropy") -> np.ndarray:
    """Mean pixel uncertainty of each sample: probs (F, C, h, w) -> (N,) float32.

    Computed one frame at a time, so only one frame's float32 copy is ever in memory.
    """
    probs = probs if hasattr(probs, "shape") else np.asarray(probs)  # arrays read per frame stay unread
    if len(probs.shape) != 4 or len(probs) != units.n_frames:
        raise SelectionError(f"probs must be (F, C, h, w) with F={units.n_frames}, got shape {probs.shape}")
    pixel_uncertainty(probs[:1, :, :1, :1], method)  # fail fast on a bad method name
    return pool_per_sample(units, frame_values=lambda f: pixel_uncertainty(probs[f : f + 1], method)[0])
