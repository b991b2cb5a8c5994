"""Synthetic videos with known motion: textured shapes translating over a textured background."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import pytest


@dataclass
class SyntheticVideo:
    """frames (F, H, W, 3) uint8; labels (F, H, W) int64 (0 = background, k+1 = shape k);
    velocities (K, 2) float (dx, dy) px/frame of each shape; flow (F-1, 2, H, W) float32, the true
    forward flow of every pixel visible in frame t (background static)."""

    frames: np.ndarray
    labels: np.ndarray
    velocities: np.ndarray
    flow: np.ndarray


def texture(rng: np.random.Generator, h: int, w: int, tint, sigma: float = 1.2) -> np.ndarray:
    """Smoothed noise (trackable by DIS) tinted with an RGB colour (learnable by a network)."""
    noise = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), sigma)
    noise = (noise - noise.min()) / (np.ptp(noise) + 1e-6)
    rgb = np.asarray(tint, np.float32)[None, None] * (0.45 + 0.55 * noise[..., None])
    return np.clip(rgb, 0, 255).astype(np.uint8)


def make_video(
    num_frames: int = 8,
    size: tuple[int, int] = (64, 64),
    velocities=((1.5, 0.5), (0.5, 1.5)),
    seed: int = 0,
) -> SyntheticVideo:
    """Background (class 0) plus len(velocities) shapes (a disc, a square, ...) moving at constant velocity."""
    rng = np.random.default_rng(seed)
    h, w = size
    tints = [(90, 200, 90), (230, 60, 60), (60, 80, 240), (230, 220, 40)]
    background = texture(rng, h, w, tints[0])
    s = max(h, w) // 3
    yy, xx = np.mgrid[:s, :s]
    shapes = []
    for k, _ in enumerate(velocities):
        mask = ((yy - s / 2 + 0.5) ** 2 + (xx - s / 2 + 0.5) ** 2 <= (s / 2) ** 2) if k % 2 == 0 else \
            np.ones((s, s), bool)
        shapes.append((texture(rng, s, s, tints[k + 1]), mask.astype(np.float32)))
    starts = [(w * 0.1, h * 0.15), (w * 0.55, h * 0.3), (w * 0.3, h * 0.55)]
    frames = np.empty((num_frames, h, w, 3), np.uint8)
    labels = np.zeros((num_frames, h, w), np.int64)
    for t in range(num_frames):
        frame, lab = background.copy(), np.zeros((h, w), np.int64)
        for k, ((tex, mask), (vx, vy)) in enumerate(zip(shapes, velocities, strict=True)):
            px, py = starts[k][0] + vx * t, starts[k][1] + vy * t
            m = np.float32([[1, 0, px], [0, 1, py]])
            tex_w = cv2.warpAffine(tex, m, (w, h), flags=cv2.INTER_LINEAR)
            inside = cv2.warpAffine(mask, m, (w, h), flags=cv2.INTER_LINEAR) > 0.5
            frame[inside], lab[inside] = tex_w[inside], k + 1
        frames[t], labels[t] = frame, lab
    vel = np.asarray(velocities, np.float32)
    flow = np.zeros((max(num_frames - 1, 0), 2, h, w), np.float32)
    for t in range(num_frames - 1):
        for k in range(len(vel)):
            flow[t, :, labels[t] == k + 1] = vel[k]
    return SyntheticVideo(frames, labels, vel, flow)


def shifted_pair(shift=(3, 0), size=(64, 64), seed=1):
    """Two crops of one textured canvas: content moves by ``shift`` (dx, dy) from frame 0 to frame 1.

    Returns frames (2, H, W, 3) uint8 and labels (2, H, W) int64 (3 blob classes moving with it).
    """
    rng = np.random.default_rng(seed)
    h, w = size
    m = 8
    big = texture(rng, h + 2 * m, w + 2 * m, (255, 255, 255), sigma=1.0)
    blobs = cv2.GaussianBlur(rng.random((h + 2 * m, w + 2 * m)).astype(np.float32), (0, 0), 6)
    big_labels = np.digitize(blobs, np.quantile(blobs, [1 / 3, 2 / 3])).astype(np.int64)
    dx, dy = shift
    crops = [(m, m), (m - dy, m - dx)]
    frames = np.stack([big[r : r + h, c : c + w] for r, c in crops])
    labels = np.stack([big_labels[r : r + h, c : c + w] for r, c in crops])
    return frames, labels


def _miou(pred: np.ndarray, truth: np.ndarray, num_classes: int) -> float:
    """Mean IoU over classes present in ``truth`` or ``pred``."""
    ious = []
    for c in range(num_classes):
        p, t = pred == c, truth == c
        union = (p | t).sum()
        if union:
            ious.append((p & t).sum() / union)
    return float(np.mean(ious))


# Factories as fixtures: importing from a conftest clashes with the other packages' conftest modules.
@pytest.fixture
def synthetic_video():
    """``make_video(num_frames=8, size=(64, 64), velocities=((1.5, 0.5), (0.5, 1.5)), seed=0)``."""
    return make_video


@pytest.fixture
def translated_pair():
    """``shifted_pair(shift=(3, 0), size=(64, 64), seed=1) -> frames (2, H, W, 3), labels (2, H, W)``."""
    return shifted_pair


@pytest.fixture
def miou():
    """``miou(pred, truth, num_classes) -> float``."""
    return _miou
