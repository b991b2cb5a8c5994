"""Image features for the cold start, when no network embeddings exist yet (pure numpy)."""

from __future__ import annotations

import numpy as np

from .errors import SelectionError
from .units import SampleUnits, pool_per_sample

THUMBNAIL = (6, 8)
"""Rows x columns of the colour thumbnail that describes a whole frame."""


def opponent_colour(frame: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (3, H, W) float32 intensity, red-green, yellow-blue in about [-1, 1].

    A cheap, decorrelated stand-in for a perceptual space: brightness changes move one channel,
    hue changes the other two, so Euclidean distances track visual differences better than in RGB.
    """
    rgb = np.moveaxis(frame, -1, 0).astype(np.float32) / 255.0
    r, g, b = rgb
    return np.stack([(r + g + b) / 3.0, r - g, (r + g) / 2.0 - b])


def _thumbnail(frame: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> (3 * rows * cols,) block means of opponent colour."""
    colour = opponent_colour(frame)
    _, H, W = colour.shape
    rows, cols = min(THUMBNAIL[0], H), min(THUMBNAIL[1], W)
    ys, xs = np.arange(rows) * H // rows, np.arange(cols) * W // cols
    sums = np.add.reduceat(np.add.reduceat(colour, ys, axis=1), xs, axis=2)
    counts = np.outer(np.diff(np.r_[ys, H]), np.diff(np.r_[xs, W]))
    return (sums / counts).ravel()


def _centre_and_scale(features: np.ndarray, groups: list[slice]) -> np.ndarray:
    """Centre each column (cosine distances then compare deviations from the video's average) and
    divide each group of columns by its RMS, so groups weigh alike. One scale per group, not per
    column: a column that only holds noise must not be blown up to unit variance."""
    out = (features - features.mean(axis=0)).astype(np.float32)
    for group in groups:
        rms = np.sqrt(np.mean(out[:, group] ** 2))
        out[:, group] /= rms if rms > 0 else 1.0
    return out


def image_features(units: SampleUnits, frames) -> np.ndarray:
    """Colour features of each sample: frames (F, h, w, 3) uint8 at any resolution (an array or one
    read per frame) -> (N, D) float32, centred and scaled.

    Frame units: a 6x8 thumbnail of opponent colour (D = 144). Sub-frame units: mean and standard
    deviation of opponent colour plus the normalised centre (y, x) in [0, 1] (D = 8).
    """
    frames = frames if hasattr(frames, "shape") else np.asarray(frames)
    if len(frames.shape) != 4 or len(frames) != units.n_frames or frames.shape[-1] != 3:
        raise SelectionError(f"frames must be ({units.n_frames}, h, w, 3) to match the units, got {frames.shape}")
    if units.kind == "frame":
        return _centre_and_scale(np.stack([_thumbnail(frames[f]) for f in range(len(frames))]), [slice(None)])
    H, W = frames.shape[1:3]
    y = np.broadcast_to(((np.arange(H, dtype=np.float32) + 0.5) / H)[:, None], (H, W))
    x = np.broadcast_to(((np.arange(W, dtype=np.float32) + 0.5) / W)[None, :], (H, W))

    def frame_channels(f: int) -> np.ndarray:
        colour = opponent_colour(frames[f])
        return np.concatenate([colour, colour**2, y[None], x[None]])  # (8, h, w)

    pooled = pool_per_sample(units, frame_values=frame_channels)
    mean, mean_sq, centre = pooled[:, :3], pooled[:, 3:6], pooled[:, 6:]
    std = np.sqrt(np.clip(mean_sq - mean**2, 0.0, None))
    features = np.concatenate([mean, std, centre], axis=1)
    return _centre_and_scale(features, [slice(0, 3), slice(3, 6), slice(6, 8)])
