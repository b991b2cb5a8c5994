"""Loss functions: pure tensor math over logits, probabilities and flows."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .flow import warp
from .labels import UNKNOWN


def masked_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, ignore_index: int = UNKNOWN) -> torch.Tensor:
    """Cross-entropy averaged over labelled pixels only.

    logits ``(N, C, H, W)``, labels ``(N, H, W)`` long with ``ignore_index`` for unlabelled pixels.
    Returns a scalar; exactly 0 (still attached to the graph) when no pixel is labelled.
    """
    labelled = labels != ignore_index
    count = labelled.sum()
    total = F.cross_entropy(logits, labels, ignore_index=ignore_index, reduction="sum")
    # sum / count instead of reduction="mean": the latter is NaN when nothing is labelled.
    return total / count.clamp(min=1).to(total.dtype)


def temporal_consistency(
    probs_t: torch.Tensor, probs_next: torch.Tensor, forward_flow: torch.Tensor, valid: torch.Tensor
) -> torch.Tensor:
    """Mean over valid pixels of the L1 distance between ``probs_t`` and ``probs_next`` warped into frame t.

    probs_t, probs_next ``(N, C, H, W)`` (softmax outputs of frames t and t+1), forward_flow
    ``(N, 2, H, W)`` (frame t -> t+1), valid ``(N, H, W)`` bool. The per-pixel distance is
    ``sum_c |p - q| / 2``, the total variation, so it lies in [0, 1]. Returns 0 when no pixel is valid.
    """
    warped = warp(probs_next, forward_flow)
    distance = (probs_t - warped).abs().sum(dim=1) * 0.5
    valid = valid.to(device=distance.device, dtype=distance.dtype)
    return (distance * valid).sum() / valid.sum().clamp(min=1.0)
