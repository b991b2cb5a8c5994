"""Diversity: pick representative rows of an embedding matrix by k-means."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.exceptions import ConvergenceWarning

from .errors import SelectionError


def l2_normalise(embeddings: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32); all-zero rows stay zero."""
    x = np.asarray(embeddings, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


def nearest_to_centroids(embeddings: np.ndarray, k: int, seed: int = 0,
                         minibatch_above: int = 20000) -> np.ndarray:
    """Indices of ``min(k, N)`` distinct rows of (N, D) ``embeddings``, one nearest each k-means centroid.

    Rows are L2-normalised first (cosine geometry). KMeans, or MiniBatchKMeans when
    N > ``minibatch_above``, seeded by ``seed``. Each centroid takes the nearest member of its own
    cluster; a centroid whose cluster is empty (duplicate points) takes the nearest unused row, so
    exactly ``min(k, N)`` distinct indices come back, largest cluster first. Returns (min(k, N),) int64.
    """
    x = np.asarray(embeddings)
    if x.ndim != 2:
        raise SelectionError(f"embeddings must be (N, D), got shape {x.shape}")
    n = len(x)
    if k >= n:
        return np.arange(n, dtype=np.int64)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    x = l2_normalise(x)
    if not np.isfinite(x).all():
        raise SelectionError("embeddings contain NaN or infinite values")
    if n > minibatch_above:
        model = MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=3, batch_size=4096)
    else:
        model = KMeans(n_clusters=k, random_state=seed, n_init=1)
    with warnings.catch_warnings():
        # Fewer distinct points than k is expected (e.g. identical frames); handled below.
        warnings.simplefilter("ignore", ConvergenceWarning)
        distances = model.fit(x).transform(x)  # (N, k)
    labels = distances.argmin(axis=1)
    # Sort rows by (cluster, distance to own centroid): the first row of each cluster is its pick.
    order = np.lexsort((distances[np.arange(n), labels], labels))
    first = order[np.r_[True, labels[order][1:] != labels[order][:-1]]]
    picks = np.full(k, -1, dtype=np.int64)
    picks[labels[first]] = first
    used = np.zeros(n, dtype=bool)
    used[picks[picks >= 0]] = True
    for c in np.flatnonzero(picks < 0):
        free = np.flatnonzero(~used)
        picks[c] = free[np.argmin(distances[free, c])]
        used[picks[c]] = True
    # Largest clusters first: their representatives stand for the most rows.
    sizes = np.bincount(labels, minlength=k)
    return picks[np.argsort(-sizes, kind="stable")]


TIME_WEIGHT = 1.0
"""How much a sample's place in the video counts beside its content when clustering (1: as much)."""


def with_time(embeddings: np.ndarray, frame_of_sample: np.ndarray, n_frames: int,
              weight: float = TIME_WEIGHT) -> np.ndarray:
    """(N, D) embeddings plus where each sample lies in the video, for k-means in cosine geometry.

    Two samples of a video that look alike but lie far apart in time are not redundant: labels
    carried along the flow cover the neighbours of a labelled frame, not its look-alikes. Rows
    become ``[e / |e|, weight * (cos a, sin a)] / sqrt(1 + weight^2)`` with ``a = pi * t / (F - 1)``:
    every row keeps unit length (so the L2 normalisation before k-means changes nothing) and the
    chord between two times grows with their distance.
    """
    x = l2_normalise(embeddings)
    angle = np.pi * np.asarray(frame_of_sample, dtype=np.float32) / max(n_frames - 1, 1)
    time = weight * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    return (np.concatenate([x, time], axis=1) / np.sqrt(1.0 + weight**2)).astype(np.float32)
