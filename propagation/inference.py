"""Inference over a whole video: class probabilities and embeddings, and full-resolution labels."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .network import NetworkSpec, embedding_dim, forward_with_embeddings, normalise
from .ondisk import Scratch, in_memory


@dataclass
class VideoPrediction:
    """probs ``(F, C, h, w)`` float16 at the working resolution; embeddings ``(F, D, h/p, w/p)``
    float16 (average-pooled by ``p = embedding_pool``) or None. Numpy arrays or DiskArrays."""

    probs: np.ndarray
    embeddings: np.ndarray | None


def working_frames(frames, spec: NetworkSpec, scratch: Scratch = in_memory):
    """Frames (F, H, W, 3) uint8 at the network's working resolution (F, h, w, 3) uint8, resized as
    `normalise` does (bilinear, antialiased when shrinking), one frame at a time into ``scratch``
    ("frames_small"): a float copy of one full-resolution frame is the most this holds (a batch of
    16 720p frames would be 177 MB). Training and inference then never read a full-resolution frame
    again; frames already at that size are returned as they are."""
    if tuple(frames.shape[1:3]) == spec.size:
        return frames
    out = scratch("frames_small", (len(frames), *spec.size, 3), np.uint8)
    shrink = frames.shape[1] > spec.height or frames.shape[2] > spec.width
    for t in range(len(frames)):
        x = torch.as_tensor(np.asarray(frames[t]))[None].permute(0, 3, 1, 2).float()
        x = F.interpolate(x, size=spec.size, mode="bilinear", align_corners=False, antialias=shrink)
        out[t] = x.round_().clamp_(0, 255).byte()[0].permute(1, 2, 0).numpy()
    return out


def predict_video(
    model: torch.nn.Module,
    frames: np.ndarray,
    spec: NetworkSpec,
    batch_size: int = 8,
    device: str | torch.device = "cpu",
    with_embeddings: bool = True,
    progress: Callable[[int, int], None] | None = None,
    embedding_pool: int = 2,
    scratch: Scratch = in_memory,
) -> VideoPrediction:
    """Run ``model`` (moved to ``device``, eval mode) on frames ``(F, H, W, 3)`` uint8 in batches.

    Embeddings are the decoder features feeding the segmentation head, average-pooled
    ``embedding_pool`` x ``embedding_pool`` (default 2: a quarter of the memory; selection works on
    samples of 16x16 px or larger, so nothing it needs is lost). progress(done, total) after each batch.
    frames: an array or DiskArray; the outputs come from ``scratch`` ("probs", "embeddings").
    """
    if len(frames.shape) != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be (F, H, W, 3), got {frames.shape}")
    n, (h, w) = len(frames), spec.size
    model.to(device).eval()
    probs = scratch("probs", (n, spec.num_classes, h, w), np.float16)
    embeddings = None
    if with_embeddings:
        d = embedding_dim(spec, model)
        embeddings = scratch("embeddings", (n, d, h // embedding_pool, w // embedding_pool), np.float16)
    with torch.inference_mode():
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            logits, emb = forward_with_embeddings(model, normalise(frames[start:stop], spec, device))
            probs[start:stop] = logits.float().softmax(dim=1).half().cpu().numpy()
            if embeddings is not None:
                if embedding_pool > 1:
                    emb = F.avg_pool2d(emb.float(), embedding_pool)
                embeddings[start:stop] = emb.half().cpu().numpy()
            if progress is not None:
                progress(stop, n)
    return VideoPrediction(probs=probs, embeddings=embeddings)


def upsample_labels(probs: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Argmax labels at ``size`` (H, W) from probabilities ``(C, h, w)`` -> ``(H, W)`` or ``(F, C, h, w)`` ->
    ``(F, H, W)``, int32 (`upsampled_argmax` of each frame: smooth class boundaries at full
    resolution, where an upsampled label map would be blocky). One frame at a time bounds memory.
    """
    single = probs.ndim == 3
    stack = probs[None] if single else probs
    if stack.ndim != 4:
        raise ValueError(f"probs must be (C, h, w) or (F, C, h, w), got {probs.shape}")
    out = np.stack([upsampled_argmax(np.asarray(frame, np.float32), size) for frame in stack])
    return out[0] if single else out


def upsampled_argmax(values: np.ndarray, size: tuple[int, int], unknown: int = -1) -> np.ndarray:
    """Per pixel of ``size`` (H, W), the largest class of ``values`` (C, h, w) >= 0 interpolated
    bilinearly (as ``F.interpolate(..., align_corners=False)``), ``unknown`` where all are 0; int32.

    Only pixels between low-resolution pixels of different winners are interpolated: a convex
    combination of vectors that share their largest class keeps it, so everywhere else the winner
    is known without building the (C, H, W) interpolation (a 720p frame of 12 classes is 44 MB).
    """
    values = np.asarray(values, np.float32)
    low = np.where(values.sum(axis=0) > 0, values.argmax(axis=0), unknown)
    if low.shape == tuple(size):
        return low.astype(np.int32)
    (y0, y1, wy), (x0, x1, wx) = _taps(size[0], low.shape[0]), _taps(size[1], low.shape[1])
    out = low[y0][:, x0]
    mixed = (out != low[y0][:, x1]) | (out != low[y1][:, x0]) | (out != low[y1][:, x1])
    ys, xs = np.nonzero(mixed)
    if len(ys):
        vy, vx = wy[ys], wx[xs]
        blend = (values[:, y0[ys], x0[xs]] * ((1 - vy) * (1 - vx)) + values[:, y0[ys], x1[xs]] * ((1 - vy) * vx)
                 + values[:, y1[ys], x0[xs]] * (vy * (1 - vx)) + values[:, y1[ys], x1[xs]] * (vy * vx))
        out[ys, xs] = np.where(blend.sum(axis=0) > 0, blend.argmax(axis=0), unknown)
    return out.astype(np.int32)


def _taps(out_size: int, in_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bilinear taps of each output index, as torch computes them with align_corners=False: the two
    input indices and the weight of the second."""
    source = np.maximum((np.arange(out_size) + 0.5) * (in_size / out_size) - 0.5, 0.0)
    first = np.minimum(np.floor(source).astype(np.int64), in_size - 1)
    return first, np.minimum(first + 1, in_size - 1), (source - first).astype(np.float32)
