"""Pick single pixels to reveal: highest score first, never two picks closer than ``min_distance``.

Pure numpy. Scores are any per-pixel map where higher means "ask about this one" (an uncertainty
map from ``pixel_uncertainty``, or random numbers for a random baseline). Points are ``(y, x)``
int64 rows in the score map's pixel grid.

    >>> scores = pixel_uncertainty(probs[None], "margin")[0]           # (H, W)
    >>> picks = pick_pixels(scores, k=20, min_distance=12, taken=revealed_points)
"""

from __future__ import annotations

import numpy as np

from .errors import SelectionError


def check_points(points, shape: tuple[int, int], what: str = "points") -> np.ndarray:
    """``points`` as an (n, 2) int64 array of ``(y, x)``; SelectionError if any lies outside ``shape`` (H, W)."""
    array = np.asarray(points if points is not None else np.zeros((0, 2)))
    if array.size == 0:
        return np.zeros((0, 2), dtype=np.int64)
    if array.ndim != 2 or array.shape[1] != 2:
        raise SelectionError(f"{what} must be (n, 2) rows of (y, x), got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.integer):
        if not np.all(np.isfinite(array)) or np.any(array != np.round(array)):
            raise SelectionError(f"{what} must be whole pixel coordinates (y, x)")
    array = array.astype(np.int64)
    height, width = shape
    outside = (array[:, 0] < 0) | (array[:, 0] >= height) | (array[:, 1] < 0) | (array[:, 1] >= width)
    if outside.any():
        y, x = array[np.flatnonzero(outside)[0]]
        raise SelectionError(f"{what}: pixel (y={y}, x={x}) lies outside the {height}x{width} image "
                             f"(y must be 0..{height - 1}, x 0..{width - 1})")
    return array


def _block(work: np.ndarray, y: int, x: int, min_distance: float) -> None:
    """Remove (y, x) and every pixel closer than ``min_distance`` to it from the candidates."""
    work[y, x] = -np.inf
    reach = int(np.ceil(min_distance))
    if reach <= 0:
        return
    y0, y1 = max(y - reach, 0), min(y + reach + 1, work.shape[0])
    x0, x1 = max(x - reach, 0), min(x + reach + 1, work.shape[1])
    dy = (np.arange(y0, y1) - y)[:, None]
    dx = (np.arange(x0, x1) - x)[None, :]
    window = work[y0:y1, x0:x1]
    window[dy * dy + dx * dx < min_distance * min_distance] = -np.inf


def pick_pixels(scores, k: int, min_distance: float, taken=None, candidates=None) -> np.ndarray:
    """Greedy diverse top-k: ``(n, 2)`` int64 ``(y, x)`` of up to ``k`` pixels, highest score first.

    scores: (H, W) finite floats, higher = more wanted. min_distance: no two returned pixels, and no
    returned pixel and a ``taken`` one, are closer than this (Euclidean, in pixels; 0 = no rule).
    taken: (m, 2) ``(y, x)`` pixels already revealed (never picked again). candidates: optional
    (H, W) bool, False where a pixel may not be picked. Fewer than ``k`` rows come back when the
    rule leaves no candidate. Ties go to the first pixel in raster order (deterministic).
    """
    scores = np.asarray(scores)
    if scores.ndim != 2 or scores.size == 0:
        raise SelectionError(f"scores must be a non-empty (H, W) map, got shape {scores.shape}")
    if not np.issubdtype(scores.dtype, np.number) or not np.all(np.isfinite(scores)):
        raise SelectionError("scores must be finite numbers (no NaN or infinity)")
    if int(k) != k or k < 0:
        raise SelectionError(f"k must be a whole number >= 0, got {k}")
    if not np.isfinite(min_distance) or min_distance < 0:
        raise SelectionError(f"min_distance must be >= 0 pixels, got {min_distance}")
    work = scores.astype(np.float64, copy=True)
    if candidates is not None:
        candidates = np.asarray(candidates)
        if candidates.shape != scores.shape or candidates.dtype != bool:
            raise SelectionError(f"candidates must be a bool mask of shape {scores.shape}, "
                                 f"got {candidates.dtype} {candidates.shape}")
        work[~candidates] = -np.inf
    for y, x in check_points(taken, scores.shape, "taken"):
        _block(work, int(y), int(x), min_distance)
    picks = []
    flat = work.reshape(-1)
    while len(picks) < k:
        index = int(np.argmax(flat))
        if flat[index] == -np.inf:
            break
        y, x = divmod(index, scores.shape[1])
        picks.append((y, x))
        _block(work, y, x, min_distance)
    return np.asarray(picks, dtype=np.int64).reshape(-1, 2)


def min_pairwise_distance(points) -> float:
    """Smallest Euclidean distance between two of the (n, 2) points; ``inf`` for fewer than two."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(points) < 2:
        return float("inf")
    diff = points[:, None, :] - points[None, :, :]
    distances = np.sqrt((diff ** 2).sum(-1))
    distances[np.diag_indices(len(points))] = np.inf
    return float(distances.min())
