"""Selection strategies: which unlabelled samples annotators should see next.

``select_samples`` is the one entry point and validates every input in one place. The strategies
are plain functions with one signature, ``fn(candidates, budget, *, units, scores, embeddings,
uncertain_fraction, seed)``, that trust their inputs: ``candidates`` are the unlabelled sample ids
in ascending order and ``0 < budget <= len(candidates)``. Each returns int64 ids, most informative first.
"""

from __future__ import annotations

import math

import numpy as np

from .diversity import nearest_to_centroids
from .errors import SelectionError
from .units import SampleUnits


def _by_score(ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """``ids`` ordered by descending score (ties keep their order)."""
    return ids[np.argsort(-scores[ids], kind="stable")]


def hvsa_sampling(candidates, budget, *, scores, embeddings, uncertain_fraction=0.5, seed=0, **_):
    """HVSA (Qiao et al. 2023): keep the most uncertain fraction (at least ``budget``), k-means it into
    ``budget`` clusters in embedding space, return the sample nearest each centroid, by score."""
    s = scores[candidates]
    n_keep = min(len(candidates), max(budget, math.ceil(uncertain_fraction * len(candidates))))
    threshold = np.partition(s, len(s) - n_keep)[len(s) - n_keep]
    # Samples tied with the threshold stay in, so equal scores (one class, no signal) cluster the whole pool.
    kept = candidates[s >= threshold]
    picks = kept[nearest_to_centroids(embeddings[kept], budget, seed=seed)]
    return _by_score(picks, scores)


def uncertainty_sampling(candidates, budget, *, scores, seed=0, **_):
    """The ``budget`` most uncertain samples; ties broken at random (seeded) rather than by position."""
    shuffled = np.random.default_rng(seed).permutation(candidates)
    return _by_score(shuffled, scores)[:budget]


def random_sampling(candidates, budget, *, seed=0, **_):
    """A seeded uniform draw without replacement."""
    return np.random.default_rng(seed).choice(candidates, size=budget, replace=False)


def uniform_sampling(candidates, budget, *, units, **_):
    """Evenly spaced samples.

    Frame units: on a video with nothing labelled, frames at ``floor((i + 0.5) * F / budget)``;
    once frames are labelled, each pick is the free frame farthest from every labelled or already
    picked frame (earliest on a tie), so round after round the labelled frames stay evenly spread.
    Sub-frame units: evenly spaced positions in the frame-major order of the unlabelled ids.
    """
    if units.kind != "frame":
        positions = np.floor((np.arange(budget) + 0.5) * len(candidates) / budget).astype(np.int64)
        return candidates[positions]
    if len(candidates) == units.n_frames:
        return np.floor((np.arange(budget) + 0.5) * units.n_frames / budget).astype(np.int64)
    taken = np.setdiff1d(np.arange(units.n_frames), candidates)
    distance = np.abs(np.arange(units.n_frames)[:, None] - taken[None, :]).min(axis=1).astype(np.float64)
    distance[taken] = -1
    picks = np.empty(budget, dtype=np.int64)
    for i in range(budget):
        picks[i] = int(np.argmax(distance))
        distance = np.minimum(distance, np.abs(np.arange(units.n_frames) - picks[i]))
        distance[picks[i]] = -1
    return picks


def cold_start_sampling(candidates, budget, *, embeddings, seed=0, **_):
    """Diversity alone (no network yet): the samples nearest k-means centroids of image features,
    largest cluster first."""
    return candidates[nearest_to_centroids(embeddings[candidates], budget, seed=seed)]


STRATEGIES = {
    "hvsa": hvsa_sampling,
    "uncertainty": uncertainty_sampling,
    "random": random_sampling,
    "uniform": uniform_sampling,
    "cold_start": cold_start_sampling,
}

STRATEGY_INPUTS = {"hvsa": ("scores", "embeddings"), "uncertainty": ("scores",), "cold_start": ("embeddings",)}
"""What each strategy needs besides the units; a strategy not listed needs nothing more."""
_HINTS = {
    "scores": "(N,) per-sample uncertainty, e.g. sample_scores(units, probs)",
    "embeddings": "(N, D) per-sample features, e.g. pool_per_sample(units, embeddings) "
    "or image_features(units, frames)",
}


def _check_array(name: str, value, n: int, ndim: int) -> np.ndarray:
    value = np.asarray(value)
    if value.ndim != ndim or len(value) != n:
        shape = "(N,)" if ndim == 1 else "(N, D)"
        raise SelectionError(f"{name} must have shape {shape} with N={n} samples, got {value.shape}")
    if not np.issubdtype(value.dtype, np.number) or not np.isfinite(value).all():
        raise SelectionError(f"{name} must be finite numbers (no NaN or inf)")
    return value


def select_samples(strategy: str, *, budget: int, units: SampleUnits, labelled, scores=None, embeddings=None,
                   uncertain_fraction: float = 0.5, seed: int = 0) -> np.ndarray:
    """Ids of the next samples to annotate: (<= budget,) int64, most informative first.

    ``labelled`` (N,) bool marks samples already annotated (never chosen); ``scores`` (N,) are
    uncertainties (higher = more uncertain) and ``embeddings`` (N, D) features, required by the
    strategies that use them (see ``STRATEGIES``). A budget above the pool returns the whole pool;
    an empty pool returns an empty array. Same inputs and ``seed`` give the same answer.
    """
    if strategy not in STRATEGIES:
        raise SelectionError(f"unknown strategy {strategy!r}; use one of {', '.join(STRATEGIES)}")
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget <= 0:
        raise SelectionError(f"budget must be a positive whole number of samples per round, got {budget!r}")
    if not 0.0 < uncertain_fraction <= 1.0:
        raise SelectionError(f"uncertain_fraction must be in (0, 1], got {uncertain_fraction}")
    n = units.n_samples
    labelled = np.asarray(labelled)
    if labelled.shape != (n,):
        raise SelectionError(f"labelled must be a (N,) bool array with N={n} samples, "
                             f"got shape {labelled.shape}")
    arrays = {"scores": scores, "embeddings": embeddings}
    for name in STRATEGY_INPUTS.get(strategy, ()):
        if arrays[name] is None:
            raise SelectionError(f"strategy {strategy!r} needs {name}: {_HINTS[name]}")
    if scores is not None:
        scores = _check_array("scores", scores, n, 1).astype(np.float64)
    if embeddings is not None:
        embeddings = _check_array("embeddings", embeddings, n, 2)
    candidates = np.flatnonzero(~labelled.astype(bool)).astype(np.int64)
    if candidates.size == 0:
        return candidates
    picks = STRATEGIES[strategy](candidates, min(int(budget), len(candidates)), units=units, scores=scores,
                                 embeddings=embeddings, uncertain_fraction=uncertain_fraction, seed=seed)
    return np.asarray(picks, dtype=np.int64)
