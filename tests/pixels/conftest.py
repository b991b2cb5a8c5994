"""Fixtures of the pixel-annotation tests: one torch thread, a small synthetic labelled image."""

from __future__ import annotations

import cv2
import numpy as np
import pytest


def synthetic_image(size: tuple[int, int] = (64, 64), seed: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """(image (H, W, 3) uint8, labels (H, W) int64): three textured bands (sky, wall, road) and a post
    of the middle class standing in the bottom band. Colours separate the classes; texture does not."""
    h, w = size
    labels = np.zeros((h, w), dtype=np.int64)
    labels[int(0.34 * h):] = 1
    labels[int(0.69 * h):] = 2
    labels[int(0.69 * h):, int(0.62 * w):int(0.88 * w)] = 1
    colours = np.array([(90, 200, 90), (230, 60, 60), (60, 80, 240)], dtype=np.float32)
    noise = cv2.GaussianBlur(np.random.default_rng(seed).random((h, w)).astype(np.float32), (0, 0), 1.2)
    noise = (noise - noise.min()) / (np.ptp(noise) + 1e-6)
    return np.clip(colours[labels] * (0.6 + 0.4 * noise[..., None]), 0, 255).astype(np.uint8), labels


@pytest.fixture
def image_and_labels():
    return synthetic_image()


# A factory as a fixture: importing from a conftest clashes with the other packages' conftest modules.
@pytest.fixture
def make_image():
    """``make_image(size=(64, 64), seed=5)`` -> (image, labels), see ``synthetic_image``."""
    return synthetic_image
