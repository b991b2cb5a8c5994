"""Test-time fine-tuning on one video: supervised loss on human labels + temporal consistency via flow."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from .flow import Flows, resize_flow, resize_nearest
from .labels import UNKNOWN
from .losses import masked_cross_entropy, temporal_consistency
from .network import NetworkSpec, normalise
from .sparse_labels import SparseLabels, shrink_label_map

Progress = Callable[[int, int, dict], None]


@dataclass
class FinetuneConfig:
    """Options of :func:`finetune`.

    steps: optimiser steps. lr: AdamW peak learning rate, cosine-decayed to ``lr * final_lr_ratio``
    (a decaying rate settles the few-label fit instead of oscillating at the end). batch_size:
    labelled frames per step, drawn with replacement, weighted by sqrt(labelled pixels).
    pairs_per_step: consecutive frame pairs per step for the temporal term (weight
    ``temporal_weight``; 0 disables it). augment: random horizontal flips (frames, labels and flow
    flipped together). history: how many recent per-step losses the stats keep.
    """

    steps: int = 100
    lr: float = 1e-3
    batch_size: int = 4
    pairs_per_step: int = 2
    temporal_weight: float = 1.0
    weight_decay: float = 1e-4
    final_lr_ratio: float = 0.1
    seed: int = 0
    device: str = "cpu"
    augment: bool = True
    history: int = 20


def downscale_labels(labels, size: tuple[int, int]):
    """Label maps ``(F, H, W)`` at ``(F, h, w)``, no labelled pixel lost (`shrink_label_map`): a
    SparseLabels stays sparse, an array becomes a new array."""
    if isinstance(labels, SparseLabels):
        return labels.resized(size)
    labels = np.asarray(labels)
    out = np.empty((len(labels), *size), labels.dtype)
    for t in range(len(labels)):
        out[t] = shrink_label_map(labels[t], size)
    return out


def _frame_weights(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices of frames with labels and their sampling probabilities.

    sqrt(labelled pixels): uniform would spend as many steps on a frame with one 16x16 rectangle
    as on a fully drawn frame; proportional would almost never show the sparsely labelled frames
    (single clicked pixels), which carry the informative samples. sqrt sits between the two.
    """
    counts = np.array([np.count_nonzero(labels[t] != UNKNOWN) for t in range(len(labels))])
    frames = np.flatnonzero(counts)
    weights = np.sqrt(counts[frames].astype(np.float64))
    return frames, weights / weights.sum()


def _validate(frames, labels, flows: Flows | None, spec: NetworkSpec) -> None:
    """frames and labels: arrays or per-frame arrays (DiskArray, SparseLabels), read a frame at a time."""
    if len(frames.shape) != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 (F, H, W, 3), got {frames.dtype} {frames.shape}")
    if len(labels.shape) != 3 or len(labels) != len(frames):
        raise ValueError(f"labels must be (F, H, W) with F={len(frames)}, got {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers (UNKNOWN={UNKNOWN}), got {labels.dtype}")
    low, high, found = None, None, False
    for t in range(len(labels)):
        frame = labels[t]
        known = frame[frame != UNKNOWN]
        if known.size:
            found = True
            low = known.min() if low is None else min(low, known.min())
            high = known.max() if high is None else max(high, known.max())
    if not found:
        raise ValueError("no labelled pixel: every label is UNKNOWN, so there is nothing to fine-tune on")
    if low < 0 or high >= spec.num_classes:
        raise ValueError(f"label values must be UNKNOWN or 0..{spec.num_classes - 1}, found {low}..{high}")
    if flows is not None and len(frames) > 1 and len(flows) != len(frames) - 1:
        raise ValueError(f"flows cover {len(flows) + 1} frames, the video has {len(frames)}")


def finetune(
    model: torch.nn.Module,
    frames: np.ndarray,
    labels: np.ndarray,
    flows: Flows | None,
    spec: NetworkSpec,
    config: FinetuneConfig | None = None,
    progress: Progress | None = None,
) -> dict:
    """Continue training ``model`` on one video; returns stats and leaves the model in eval mode.

    frames ``(F, H, W, 3)`` uint8 (resized to ``spec.size`` per batch when needed), labels ``(F, H, W)``
    or ``(F, h, w)`` int with UNKNOWN for unlabelled pixels, flows at any resolution (rescaled to
    ``spec.size``) or None (no temporal term). Warm start = pass the previous round's model.
    Only the current batch is moved to ``config.device``. progress(step, steps, losses) runs after
    every step. Stats: steps, seconds, final losses, loss/ce/temporal histories (last ``history``).
    """
    config = config or FinetuneConfig()
    if isinstance(frames, list | tuple):
        frames = np.asarray(frames)
    if isinstance(labels, list | tuple):
        labels = np.asarray(labels)
    _validate(frames, labels, flows, spec)
    if tuple(labels.shape[1:]) != spec.size:
        labels = downscale_labels(labels, spec.size)
    labelled, weights = _frame_weights(labels)
    use_pairs = flows is not None and len(frames) > 1 and config.pairs_per_step > 0 and config.temporal_weight > 0

    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    device = torch.device(config.device)
    model.to(device).train()
    optim = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    history: dict[str, list[float]] = {"loss": [], "ce": [], "temporal": []}
    start = time.perf_counter()
    for step in range(config.steps):
        for group in optim.param_groups:
            group["lr"] = _cosine_lr(config, step)
        idx = rng.choice(labelled, size=config.batch_size, p=weights)
        flip = rng.random(config.batch_size) < 0.5 if config.augment else np.zeros(config.batch_size, bool)
        x = normalise(frames[idx], spec, device)
        y = torch.as_tensor(labels[idx].astype(np.int64)).to(device)
        if flip.any():
            f = torch.as_tensor(flip, device=device)
            x[f], y[f] = x[f].flip(-1), y[f].flip(-1)
        if use_pairs:
            starts = rng.integers(0, len(frames) - 1, size=config.pairs_per_step)
            pair_flip = rng.random(len(starts)) < 0.5 if config.augment else np.zeros(len(starts), bool)
            xp, flow, valid = _pair_batch(frames, flows, starts, pair_flip, spec, device)
            x = torch.cat([x, xp])
        logits = model(x)
        ce = masked_cross_entropy(logits[: len(idx)], y)
        temporal = torch.zeros((), device=device)
        if use_pairs:
            probs = logits[len(idx):].softmax(dim=1)
            temporal = temporal_consistency(probs[0::2], probs[1::2], flow, valid)
        loss = ce + config.temporal_weight * temporal
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        values = {"loss": loss.item(), "ce": ce.item(), "temporal": temporal.item()}
        for key, value in values.items():
            history[key] = (history[key] + [value])[-config.history:]
        if progress is not None:
            progress(step + 1, config.steps, values)
    model.eval()
    return {
        "steps": config.steps,
        "seconds": time.perf_counter() - start,
        "labelled_frames": len(labelled),
        "labelled_pixels": int(sum(np.count_nonzero(labels[t] != UNKNOWN) for t in labelled)),
        "final": {k: v[-1] for k, v in history.items() if v},
        **history,
    }


def _cosine_lr(config: FinetuneConfig, step: int) -> float:
    ratio = config.final_lr_ratio
    progress = step / max(config.steps - 1, 1)
    return config.lr * (ratio + (1 - ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def _pair_batch(frames, flows: Flows, starts, flip, spec: NetworkSpec, device):
    """Frames t, t+1 interleaved ``(2P, 3, h, w)``, forward flows ``(P, 2, h, w)``, validity ``(P, h, w)``."""
    order = np.stack([starts, starts + 1], axis=1).reshape(-1)
    x = normalise(frames[order], spec, device)
    flow = resize_flow(flows.forward[starts].astype(np.float32), spec.size)
    valid = resize_nearest(flows.valid_forward[starts], spec.size)
    flow, valid = torch.as_tensor(flow).to(device), torch.as_tensor(valid).to(device)
    if flip.any():
        f = torch.as_tensor(flip, device=device)
        x[f.repeat_interleave(2)] = x[f.repeat_interleave(2)].flip(-1)
        # Mirroring the image mirrors the field and negates its horizontal component.
        flow[f] = flow[f].flip(-1) * torch.tensor([-1.0, 1.0], device=device).view(1, 2, 1, 1)
        valid[f] = valid[f].flip(-1)
    return x, flow, valid
