"""No-learning baseline: carry annotated labels along the optical-flow chain, nearest annotation wins."""

from __future__ import annotations

import numpy as np

from .flow import Flows, labels_matching_flows, warp_labels
from .labels import UNKNOWN

UNREACHABLE = np.iinfo(np.int32).max
"""Distance of a pixel that no annotated frame reaches."""


def _carry(labels: np.ndarray, flows: np.ndarray, valid: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """One direction: frame t pulls from frame t-1 through ``flows[t-1]`` (t maps into t-1)."""
    out = np.full(labels.shape, UNKNOWN, np.int32)
    dist = np.full(labels.shape, UNREACHABLE, np.int32)
    for t in range(len(labels)):
        if t > 0:
            out[t] = warp_labels(out[t - 1], flows[t - 1])
            pulled = warp_labels(dist[t - 1], flows[t - 1], fill=UNREACHABLE).astype(np.int64)
            lost = out[t] == UNKNOWN
            if valid is not None:
                lost |= ~valid[t - 1]
            out[t][lost] = UNKNOWN
            dist[t] = np.where(lost, UNREACHABLE, np.minimum(pulled + 1, UNREACHABLE))
        known = labels[t] != UNKNOWN
        out[t][known] = labels[t][known]  # a human label overrides anything carried
        dist[t][known] = 0
    return out, dist


def propagate_labels(
    labels: np.ndarray, flows: Flows, drop_occluded: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Fill UNKNOWN pixels of ``labels`` ``(F, H, W)`` from annotated pixels of other frames.

    Labels are carried forward (frame t pulls from t-1 with ``flows.backward[t-1]``) and backward
    (t pulls from t+1 with ``flows.forward[t]``); per pixel the nearer annotated frame wins, the
    earlier one on a tie. ``flows`` must be at the labels' resolution. ``drop_occluded`` stops a
    chain where the flow fails its forward-backward check (fewer but more reliable labels).
    Returns ``(labels (F, H, W) int32, distance (F, H, W) int32)``: distance in frames to the
    annotation a label came from, 0 for human labels, :data:`UNREACHABLE` where still UNKNOWN.
    """
    labels = labels_matching_flows(labels, flows)
    fwd, dist_f = _carry(labels, flows.backward, flows.valid_backward if drop_occluded else None)
    rev = slice(None, None, -1)
    bwd, dist_b = _carry(labels[rev], flows.forward[rev], flows.valid_forward[rev] if drop_occluded else None)
    bwd, dist_b = bwd[rev], dist_b[rev]
    take_forward = dist_f <= dist_b
    out = np.where(take_forward, fwd, bwd).astype(np.int32)
    return out, np.where(take_forward, dist_f, dist_b).astype(np.int32)
