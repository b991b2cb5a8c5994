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


def delivered_uncertainty(probs, carried: np.ndarray | None, method: str = "entropy") -> np.ndarray:
    """Uncertainty of the labels a round delivers, per pixel: probs (C, h, w) -> (h, w) in [0, 1].

    Where a label is known without the network (a human's, or one carried along reliable optical
    flow; ``carried`` (h, w), UNKNOWN = -1 elsewhere) the delivered label is that one, so the pixel
    is uncertain only if the network disagrees with it (1) and certain if it agrees (0). Elsewhere
    the network's own uncertainty, scaled to [0, 1] (entropy by log C).
    """
    probs = _as_float32(probs)
    own = pixel_uncertainty(probs[None], method)[0]
    if method == "entropy":
        own = own / max(np.log(probs.shape[0]), 1e-12)
    if carried is None:
        return own
    known = carried >= 0
    disagree = (probs.argmax(axis=0) != carried).astype(np.float32)
    return np.where(known, disagree, own).astype(np.float32)


def sample_scores(units: SampleUnits, probs, method: str = "entropy", carried: np.ndarray | None = None) -> np.ndarray:
    """Mean pixel uncertainty of each sample: probs (F, C, h, w) -> (N,) float32.

    With ``carried`` (F, H, W) labels known without the network (any resolution, UNKNOWN = -1),
    the score is the uncertainty of the delivered labels (see ``delivered_uncertainty``).
    Computed one frame at a time, so only one frame's float32 copy is ever in memory.
    """
    probs = np.asarray(probs)
    if probs.ndim != 4 or len(probs) != units.n_frames:
        raise SelectionError(f"probs must be (F, C, h, w) with F={units.n_frames}, got shape {probs.shape}")
    pixel_uncertainty(probs[:1, :, :1, :1], method)  # fail fast on a bad method name
    if carried is None:
        return pool_per_sample(units, frame_values=lambda f: pixel_uncertainty(probs[f : f + 1], method)[0])
    if carried.ndim != 3 or len(carried) != units.n_frames:
        raise SelectionError(f"carried must be (F, H, W) with F={units.n_frames}, got shape {carried.shape}")
    h, w = probs.shape[2:]
    rows = np.minimum(((np.arange(h) + 0.5) * carried.shape[1] / h).astype(np.int64), carried.shape[1] - 1)
    cols = np.minimum(((np.arange(w) + 0.5) * carried.shape[2] / w).astype(np.int64), carried.shape[2] - 1)
    return pool_per_sample(units, frame_values=lambda f: delivered_uncertainty(
        probs[f], carried[f][rows[:, None], cols[None, :]], method))
