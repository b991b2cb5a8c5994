"""Fixtures of the pixel-annotation tests: one torch thread, a small synthetic labelled image."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Two shared cores: one thread keeps torch from oversubscribing them (and timings stable)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def synthetic_image(size: tuple[int, int] = (64, 64), seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(image (H, W, 3) uint8, labels (H, W) int64): a textured background (0), a disc (1), a square (2)."""
    rng = np.random.default_rng(seed)
    h, w = size
    labels = np.zeros((h, w), dtype=np.int64)
    yy, xx = np.mgrid[:h, :w]
    labels[(yy - 0.3 * h) ** 2 + (xx - 0.3 * w) ** 2 <= (0.2 * min(h, w)) ** 2] = 1
    labels[int(0.55 * h):int(0.9 * h), int(0.5 * w):int(0.85 * w)] = 2
    colours = np.array([(90, 200, 90), (230, 60, 60), (60, 80, 240)], dtype=np.float32)
    noise = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 1.2)
    noise = (noise - noise.min()) / (np.ptp(noise) + 1e-6)
    image = colours[labels] * (0.55 + 0.45 * noise[..., None])
    return np.clip(image, 0, 255).astype(np.uint8), labels


@pytest.fixture
def image_and_labels():
    return synthetic_image()
