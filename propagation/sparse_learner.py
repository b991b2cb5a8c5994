"""A learner for a few revealed pixels of one image: image-adaptive features, a small network, then
edge-aware spreading.

1. ``pixel_features``: per pixel of a working-resolution copy of the image, colour (Lab) at several
   blur scales, local texture (colour spread), edge strength and position. A convolutional network
   from scratch has to learn such features from a few hundred labels; here they are given.
2. A per-image MLP from scratch maps features to classes, trained on the revealed pixels only
   (seeded, feature noise as augmentation, weight decay: a few hundred labels must not be memorised).
3. ``spread_labels`` refines its probabilities with the image: revealed pixels as hard seeds, the
   MLP's belief as a prior weighted by its confidence, labels flowing along surfaces, stopping at edges.

Arrays in, arrays out; (C, H, W) probabilities at full resolution (bilinear from the working size).

    probs = learn_from_pixels(image, revealed, n_classes)          # revealed: UNKNOWN where not known
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .edge_aware import SpreadConfig, spread_labels
from .labels import UNKNOWN
from .sparse_labels import shrink_label_map


@dataclass(frozen=True)
class SparseLearnerConfig:
    """height, width: working resolution. scales: Gaussian sigmas (working px) of the colour features.
    hidden, steps, lr, weight_decay, noise: the MLP and its training (noise: std of the Gaussian added
    to the standardised features per step). spread: the edge-aware refinement; None skips it."""

    height: int = 180
    width: int = 240
    scales: tuple[float, ...] = (1.0, 3.0, 8.0)
    hidden: int = 64
    steps: int = 300
    lr: float = 1e-2
    weight_decay: float = 1e-3
    noise: float = 0.1
    spread: SpreadConfig | None = field(default_factory=SpreadConfig)
    seed: int = 0

    def validate(self) -> None:
        if self.height < 8 or self.width < 8:
            raise ValueError(f"working size must be at least 8x8, got {self.height}x{self.width}")
        if self.hidden < 1 or self.steps < 0 or self.lr <= 0 or self.noise < 0:
            raise ValueError("hidden must be >= 1, steps >= 0, lr > 0 and noise >= 0")
        if self.spread is not None:
            self.spread.validate()


def pixel_features(image: np.ndarray, size: tuple[int, int], scales=(1.0, 3.0, 8.0)) -> np.ndarray:
    """(F, h, w) float32 standardised features of an (H, W, 3) uint8 RGB image at ``size`` (h, w):
    Lab at each blur scale, per-scale colour spread (texture), gradient magnitude, and y, x in [-1, 1]."""
    h, w = size
    small = cv2.resize(np.ascontiguousarray(image), (w, h), interpolation=cv2.INTER_AREA)
    lab = cv2.cvtColor(small, cv2.COLOR_RGB2LAB).astype(np.float32)
    channels = [lab]
    for sigma in scales:
        mean = cv2.GaussianBlur(lab, (0, 0), sigma)
        spread = np.sqrt(np.maximum(cv2.GaussianBlur(lab * lab, (0, 0), sigma) - mean * mean, 0))
        channels += [mean, spread]
    grey = lab[..., 0]
    gradient = np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))
    ys, xs = np.meshgrid(np.linspace(-1, 1, h, dtype=np.float32), np.linspace(-1, 1, w, dtype=np.float32),
                         indexing="ij")
    stack = np.concatenate([c.reshape(h, w, -1) for c in (*channels, gradient, ys, xs)], axis=-1)
    stack = (stack - stack.mean((0, 1))) / (stack.std((0, 1)) + 1e-6)
    return np.ascontiguousarray(stack.transpose(2, 0, 1))


def fit_mlp(features: np.ndarray, labels: np.ndarray, n_classes: int, config: SparseLearnerConfig):
    """A two-hidden-layer MLP from scratch on the labelled pixels. features (F, h, w), labels (h, w)
    int with UNKNOWN where not known. Returns the model (eval mode)."""
    torch.manual_seed(config.seed)
    known = labels != UNKNOWN
    x = torch.from_numpy(features[:, known].T.copy())
    y = torch.from_numpy(labels[known].astype(np.int64))
    model = torch.nn.Sequential(
        torch.nn.Linear(x.shape[1], config.hidden), torch.nn.ReLU(),
        torch.nn.Linear(config.hidden, config.hidden), torch.nn.ReLU(),
        torch.nn.Linear(config.hidden, n_classes))
    if len(y) == 0:
        return model.eval()
    # Balance classes: a class with three revealed pixels matters as much as the road.
    counts = torch.bincount(y, minlength=n_classes).float()
    weight = torch.where(counts > 0, counts.sum() / (counts.clamp_min(1) * (counts > 0).sum()), 0.0)
    optim = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    generator = torch.Generator().manual_seed(config.seed)
    for step in range(config.steps):
        for group in optim.param_groups:
            group["lr"] = config.lr * 0.5 * (1 + np.cos(np.pi * step / max(config.steps, 1)))
        noisy = x + config.noise * torch.randn(x.shape, generator=generator)
        loss = F.cross_entropy(model(noisy), y, weight=weight)
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
    return model.eval()


def mlp_probabilities(features: np.ndarray, seeds: np.ndarray, n_classes: int,
                      config: SparseLearnerConfig) -> np.ndarray:
    """(C, h, w) float32: the per-image MLP (`fit_mlp`) fitted on ``seeds`` (h, w) and applied to every
    pixel of ``features`` (F, h, w)."""
    model = fit_mlp(features, seeds, n_classes, config)
    with torch.no_grad():
        logits = model(torch.from_numpy(features.reshape(len(features), -1).T.copy()))
    return logits.softmax(-1).T.reshape(n_classes, *features.shape[1:]).numpy()


def spread_and_enlarge(image: np.ndarray, seeds: np.ndarray, probs: np.ndarray, n_classes: int,
                       config: SparseLearnerConfig) -> np.ndarray:
    """Step 3 and the way back to full size: ``probs`` (C, h, w) at the working size, refined by the
    image (``image`` (H, W, 3) uint8 shrunk to (h, w)) around ``seeds`` (h, w) unless ``config.spread``
    is None, then bilinear to (C, H, W) float32."""
    if config.spread is not None:
        small = cv2.resize(np.ascontiguousarray(image), probs.shape[:0:-1], interpolation=cv2.INTER_AREA)
        probs = spread_labels(small, seeds, n_classes, prior=probs, confidence=probs.max(0), config=config.spread)
    full = F.interpolate(torch.from_numpy(probs)[None], size=image.shape[:2], mode="bilinear", align_corners=False)[0]
    return full.numpy()


def learn_from_pixels(image: np.ndarray, revealed: np.ndarray, n_classes: int,
                      config: SparseLearnerConfig | None = None) -> np.ndarray:
    """(C, H, W) float32 class probabilities of every pixel of ``image`` (H, W, 3) uint8 RGB, learnt
    from ``revealed`` (H, W) int (a class where revealed, UNKNOWN elsewhere)."""
    config = config or SparseLearnerConfig()
    config.validate()
    revealed = np.asarray(revealed)
    size = revealed.shape
    if np.shape(image) != (*size, 3):
        raise ValueError(f"image must be (H, W, 3) = {(*size, 3)} to match the labels, got {np.shape(image)}")
    work = (config.height, config.width)
    features = pixel_features(image, work, config.scales)
    seeds = shrink_label_map(revealed, work)
    return spread_and_enlarge(image, seeds, mlp_probabilities(features, seeds, n_classes, config), n_classes, config)
