"""One round of the per-video loop, shared unchanged by the RQ worker and the oracle simulation.

A round is: fine-tune the video's network on every label known so far (warm start), predict every
frame, then choose the next samples for annotators. Arrays in, arrays out: callers own the I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from vidseg.labels import UNKNOWN
from vidseg.propagation import (
    FinetuneConfig,
    Flows,
    NetworkSpec,
    VideoPrediction,
    downscale_labels,
    finetune,
    predict_video,
    propagate_labels,
    resize_nearest,
)
from vidseg.selection import image_features, pool_per_sample, sample_scores, select_samples

Progress = Callable[[str, int, int], None]
"""progress(stage, done, total): stage is "finetune" or "predict"."""

NEEDS_PREDICTIONS = ("hvsa", "uncertainty")


@dataclass(frozen=True)
class SelectionConfig:
    strategy: str = "hvsa"
    budget: int = 5
    uncertainty: str = "entropy"
    uncertain_fraction: float = 0.5
    seed: int = 0


@dataclass(frozen=True)
class Selection:
    ids: np.ndarray
    """(b,) sample ids, most informative first."""
    scores: np.ndarray | None
    """(N,) per-sample uncertainty, None on a cold start."""
    strategy: str
    """The strategy that actually ran ("cold_start" when no prediction existed yet)."""


def flow_size(height: int, width: int, max_side: int) -> tuple[int, int]:
    """Resolution to compute optical flow at: the frames' own, shrunk so the long side <= max_side."""
    scale = min(1.0, max_side / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def propagated_labels(human: np.ndarray, flows: Flows | None, trust: int) -> np.ndarray:
    """Human labels (F, H, W) plus labels carried along the optical flow up to `trust` frames away.

    Labels are carried through pixels that fail the forward-backward check too: on the CamVid clip
    those carried labels were still right more often than the network's (README, "Results"), so
    stopping chains at occlusions and letting the network fill in lost label quality.
    Flows at a lower resolution than the labels carry labels at theirs, enlarged back (nearest);
    human labels always keep their own pixels. trust <= 0 (or no flows) returns the human labels.
    """
    if trust <= 0 or flows is None or len(human) < 2:
        return human
    small = downscale_labels(human, flows.size)
    warped, distance = propagate_labels(small, flows)
    carried = np.where((distance <= trust) & (warped != UNKNOWN), warped, UNKNOWN)
    carried = resize_nearest(carried, human.shape[1:])
    return np.where(human != UNKNOWN, human, carried).astype(human.dtype)


def deliver(propagated: np.ndarray, network: np.ndarray | None) -> np.ndarray:
    """The labels a round delivers: human and reliably propagated labels win, the network fills the rest."""
    if network is None:
        return propagated
    return np.where(propagated != UNKNOWN, propagated, network)


def fit_and_predict(
    model,
    frames: np.ndarray,
    labels: np.ndarray,
    flows: Flows | None,
    spec: NetworkSpec,
    config: FinetuneConfig,
    batch_size: int = 8,
    progress: Progress | None = None,
) -> tuple[VideoPrediction, dict]:
    """Fine-tune `model` in place on the known labels, then predict the whole video.

    frames: (F, H, W, 3) uint8 at full resolution; labels: (F, H, W) with UNKNOWN; flows at the
    working resolution (or None to train without the temporal term).
    """
    def on_step(step: int, total: int, _stats: dict) -> None:
        if progress:
            progress("finetune", step, total)

    stats = finetune(model, frames, labels, flows, spec, config, progress=on_step)

    def on_batch(done: int, total: int) -> None:
        if progress:
            progress("predict", done, total)

    prediction = predict_video(
        model, frames, spec, batch_size=batch_size, device=config.device, progress=on_batch
    )
    return prediction, stats


def select_next(
    units,
    labelled: np.ndarray,
    config: SelectionConfig,
    prediction: VideoPrediction | None,
    frames: np.ndarray,
    carried: np.ndarray | None = None,
) -> Selection:
    """Choose the next samples; strategies that need a prediction fall back to a cold start.

    carried: (F, H, W) labels known without the network (human or propagated), when the round
    delivers them; uncertainty is then that of the delivered labels, not the network's alone.
    """
    if prediction is None and config.strategy in NEEDS_PREDICTIONS:
        features = image_features(units, frames)
        ids = select_samples(
            "cold_start", budget=config.budget, units=units, labelled=labelled,
            embeddings=features, seed=config.seed,
        )
        return Selection(ids=ids, scores=None, strategy="cold_start")
    scores = embeddings = None
    if prediction is not None:
        scores = sample_scores(units, prediction.probs, method=config.uncertainty, carried=carried)
        if config.strategy == "hvsa" and prediction.embeddings is not None:
            embeddings = pool_per_sample(units, prediction.embeddings)
    ids = select_samples(
        config.strategy, budget=config.budget, units=units, labelled=labelled, scores=scores,
        embeddings=embeddings, uncertain_fraction=config.uncertain_fraction, seed=config.seed,
    )
    return Selection(ids=ids, scores=scores, strategy=config.strategy)
