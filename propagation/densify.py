"""Frames labelled by a few key points, densified before a round: the sparse-pixel learner
(`propagation.sparse_learner.learn_from_pixels`: image features, a per-image MLP, edge-aware spreading)
turns a frame's clicked pixels into a full label map, which then trains the video's network and is
carried along the flow like a brush mask would be.

Which frames (`is_keypoint_frame`): scattered points, not regions. All of
- fewer than ``max_known_fraction`` (1%) of the frame's pixels are known;
- most known pixels (over half) have no known 4-neighbour: a key point labels one pixel, while brush
  strokes, rectangles and superpixels label regions whose pixels touch;
- at least ``min_points`` known pixels of at least two classes: from fewer the learner is worse than
  the video's network (docs/pixel-annotation.md), and one class teaches no boundary (the learner
  would paint the whole frame with it).
Every other frame passes through unchanged.

A densified map is the argmax of the learner's probabilities with the revealed pixels kept exactly.
It costs about a second per frame on one thread at the default working size (180x240 = 43,200
pixels, the frame's aspect kept), so each is cached by a key of the frame's pixels, its revealed
labels and the learner's settings: `MemoryDensifyCache` here, the worker's on disk
(`vidseg.densify_cache`).

    human = densify_labels(frames, human, n_classes, DensifyConfig(), cache, progress)
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from .labels import UNKNOWN, overlay_known

if TYPE_CHECKING:
    from .sparse_labels import SparseLabels

PIXEL_LEARNERS = ("sparse", "off")
"""``sparse``: densify key-point frames with the sparse-pixel learner; ``off``: train on the points as they are."""

LEARNER_VERSION = 1
"""Part of every cache key: bump it when `densify_frame` would give other maps for the same input."""


@dataclass(frozen=True)
class DensifyConfig:
    """learner: one of PIXEL_LEARNERS. max_known_fraction, min_points: the key-point rule (module doc).
    work_pixels: the learner's working size in pixels (the frame's aspect kept, never above its own
    size). seed: the learner's."""

    learner: str = "off"
    max_known_fraction: float = 0.01
    min_points: int = 50
    work_pixels: int = 180 * 240
    seed: int = 0

    def validate(self) -> None:
        if self.learner not in PIXEL_LEARNERS:
            raise ValueError(f"pixel learner {self.learner!r}: choose one of {', '.join(PIXEL_LEARNERS)}")
        if not 0.0 < self.max_known_fraction <= 1.0:
            raise ValueError(f"max_known_fraction must be in (0, 1], got {self.max_known_fraction}")
        if self.min_points < 2 or self.work_pixels < 64:
            raise ValueError("min_points must be >= 2 and work_pixels >= 64")


class DensifyCache(Protocol):
    def get(self, frame: int, key: str) -> np.ndarray | None: ...
    def put(self, frame: int, key: str, label_map: np.ndarray) -> None: ...


class MemoryDensifyCache:
    """The latest densified map of each frame, in memory (the simulation's, kept across its rounds)."""

    def __init__(self):
        self._maps: dict[int, tuple[str, np.ndarray]] = {}

    def get(self, frame: int, key: str) -> np.ndarray | None:
        found = self._maps.get(int(frame))
        return found[1].copy() if found is not None and found[0] == key else None

    def put(self, frame: int, key: str, label_map: np.ndarray) -> None:
        self._maps[int(frame)] = (key, np.array(label_map))


def is_keypoint_frame(labels: np.ndarray, config: DensifyConfig) -> bool:
    """Whether one (H, W) label map (UNKNOWN where not known) is a few scattered key points."""
    known = labels != UNKNOWN
    count = int(known.sum())
    if count < config.min_points or count >= config.max_known_fraction * known.size:
        return False
    if len(np.unique(labels[known])) < 2:
        return False
    padded = np.pad(known, 1)
    touching = padded[:-2, 1:-1] | padded[2:, 1:-1] | padded[1:-1, :-2] | padded[1:-1, 2:]
    return int((known & ~touching).sum()) * 2 > count


def working_size(height: int, width: int, work_pixels: int) -> tuple[int, int]:
    """(h, w) with about ``work_pixels`` pixels and the frame's aspect, never larger than the frame, >= 8."""
    scale = min(1.0, math.sqrt(work_pixels / (height * width)))
    return max(8, min(height, round(height * scale))), max(8, min(width, round(width * scale)))


def densify_frame(image: np.ndarray, revealed: np.ndarray, n_classes: int, config: DensifyConfig) -> np.ndarray:
    """(H, W) labels of every pixel of ``image`` (H, W, 3) uint8 RGB, learnt from ``revealed`` (H, W)
    (UNKNOWN where not known), which it keeps exactly; dtype of ``revealed``."""
    h, w = working_size(*revealed.shape, config.work_pixels)
    from .sparse_learner import (  # torch: not at import (settings read this module)
        SparseLearnerConfig,
        learn_from_pixels,
    )

    probs = learn_from_pixels(image, revealed, n_classes, SparseLearnerConfig(height=h, width=w, seed=config.seed))
    return overlay_known(revealed, probs.argmax(0))


def frame_key(image: np.ndarray, revealed: np.ndarray, n_classes: int, config: DensifyConfig) -> str:
    """What a densified map depends on, hashed: the frame's pixels, its revealed labels, the learner."""
    digest = hashlib.sha1()
    for part in (np.ascontiguousarray(image), np.ascontiguousarray(revealed, dtype=np.int64)):
        digest.update(repr(part.shape).encode())
        digest.update(part.tobytes())
    digest.update(repr((n_classes, config.work_pixels, config.seed, LEARNER_VERSION)).encode())
    return digest.hexdigest()


def densify_labels(frames, human: SparseLabels, n_classes: int, config: DensifyConfig,
                   cache: DensifyCache | None = None,
                   progress: Callable[[str, int, int], None] | None = None) -> SparseLabels:
    """``human`` with each key-point frame (`is_keypoint_frame`) replaced by its densified map; the
    input is not changed (it is returned as is when no frame qualifies). frames: (F, H, W, 3) uint8 at
    the labels' resolution, read one frame at a time. progress("densify", done, total) per frame."""
    config.validate()
    if config.learner == "off":
        return human
    chosen = [int(t) for t in human.known_frames if is_keypoint_frame(human.maps[int(t)], config)]
    if not chosen:
        return human
    out = type(human)(len(human), human.size, dtype=human.dtype)  # a SparseLabels, imported lazily (torch)
    out.maps = dict(human.maps)
    for done, frame in enumerate(chosen, start=1):
        image, revealed = np.asarray(frames[frame]), human.maps[frame]
        key = frame_key(image, revealed, n_classes, config)
        dense = cache.get(frame, key) if cache is not None else None
        if dense is None:
            dense = densify_frame(image, revealed, n_classes, config)
            if cache is not None:
                cache.put(frame, key, dense)
        out[frame] = dense
        if progress is not None:
            progress("densify", done, len(chosen))
    return out
