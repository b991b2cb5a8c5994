"""One round of the per-video loop: the RQ worker and the oracle simulation both call `run_round`.

A round is: carry the known labels along the optical flow, fine-tune the network on them (warm
start), predict every frame, deliver labels (known and carried labels win, the network fills the
rest), then choose the next samples for annotators. Arrays in, arrays out: callers own the I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from propagation import (
    UNKNOWN,
    FinetuneConfig,
    Flows,
    NetworkSpec,
    VideoPrediction,
    downscale_labels,
    finetune,
    overlay_known,
    predict_video,
    propagate_labels,
    resize_flows,
    resize_nearest,
    upsample_labels,
)
from selection import STRATEGY_INPUTS, SampleUnits, image_features, pool_per_sample, sample_scores, select_samples
from vidseg.strategies import DEFAULT_STRATEGY, strategy_named

Progress = Callable[[str, int, int], None]
"""progress(stage, done, total): stage is "finetune" or "predict"."""


@dataclass(frozen=True)
class RoundConfig:
    """Everything a round needs besides its arrays. Fine-tuning runs with ``seed``, selection with
    ``seed + 1``, so round r of a series (seed = first seed + r) never repeats another round's draws."""

    strategy: str = DEFAULT_STRATEGY
    budget: int = 5
    uncertainty: str = "entropy"
    uncertain_fraction: float = 0.5
    warp_trust: int = 100
    """Carried labels up to this many frames from a human label win over the network's (0: off)."""
    pseudo_labels: bool = True
    """Train on those carried labels too, not only on human ones."""
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    predict_batch: int = 8
    seed: int = 0

    def validate(self) -> None:
        strategy_named(self.strategy)
        if self.budget <= 0:
            raise ValueError(f"budget must be a positive number of samples per round, got {self.budget}")


@dataclass(frozen=True)
class Selection:
    ids: np.ndarray
    """(b,) sample ids, most informative first."""
    scores: np.ndarray | None
    """(N,) per-sample uncertainty, None on a cold start."""
    strategy: str
    """The selection strategy that actually ran ("cold_start" when no prediction existed yet)."""


@dataclass(frozen=True)
class RoundResult:
    selection: Selection
    carried: np.ndarray
    """(F, H, W) human labels plus those carried along the flow (UNKNOWN elsewhere)."""
    delivered: np.ndarray | None
    """(F, H, W) the labels this round delivers; None when nothing is known and no network predicted."""
    prediction: VideoPrediction | None
    """The network's probabilities and embeddings at working resolution; None when it did not run."""
    trained: bool
    """The network was fine-tuned (the caller keeps its checkpoint)."""


def flow_size(height: int, width: int, max_side: int) -> tuple[int, int]:
    """Resolution to compute optical flow at: the frames' own, shrunk so the long side <= max_side."""
    scale = min(1.0, max_side / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def carried_labels(human: np.ndarray, flows: Flows | None, trust: int | None) -> np.ndarray:
    """Human labels (F, H, W) plus labels carried along the optical flow up to `trust` frames away
    (None: no limit, the nearest labelled frame wins everywhere it reaches).

    Labels are carried through pixels that fail the forward-backward check too: on the CamVid clip
    those carried labels were still right more often than the network's (README, "Results"), so
    stopping chains at occlusions and letting the network fill in lost label quality.
    Flows at a lower resolution than the labels carry labels at theirs, enlarged back (nearest);
    human labels always keep their own pixels. trust <= 0 (or no flows) returns the human labels.
    """
    if (trust is not None and trust <= 0) or flows is None or len(human) < 2:
        return human
    warped, distance = propagate_labels(downscale_labels(human, flows.size), flows)
    reached = warped != UNKNOWN if trust is None else (distance <= trust) & (warped != UNKNOWN)
    carried = resize_nearest(np.where(reached, warped, UNKNOWN), human.shape[1:])
    return overlay_known(human, carried)


def run_round(
    model: torch.nn.Module,
    frames: np.ndarray,
    labels: np.ndarray,
    units: SampleUnits,
    labelled: np.ndarray,
    flows: Flows | None,
    spec: NetworkSpec,
    config: RoundConfig,
    *,
    predict_untrained: bool = False,
    progress: Progress | None = None,
) -> RoundResult:
    """One round on one video.

    frames: (F, H, W, 3) uint8 at full resolution; labels: (F, H, W) human labels, UNKNOWN where
    none; labelled: (N,) bool, the samples already annotated (never selected again); flows: at the
    resolution labels are carried at (resized here to the working resolution for the temporal
    term), or None. `model` is fine-tuned in place. predict_untrained: with no label yet, still
    predict (the model comes from a pretrained checkpoint), so the first selection can use it.
    """
    strategy = strategy_named(config.strategy)
    known = bool((labels != UNKNOWN).any())
    trust = config.warp_trust if strategy.learns else None
    carried = carried_labels(labels, flows, trust) if known else labels
    prediction, trained = None, False
    if strategy.learns and known:
        work_flows = resize_flows(flows, (spec.height, spec.width)) if flows is not None else None
        prediction = _fit_and_predict(model, frames, carried if config.pseudo_labels else labels, work_flows,
                                      spec, config, progress)
        trained = True
    elif strategy.learns and predict_untrained:
        prediction = predict_video(model, frames, spec, batch_size=config.predict_batch,
                                   device=config.finetune.device)
    delivered = None
    if prediction is not None:
        delivered = overlay_known(carried, upsample_labels(prediction.probs, frames.shape[1:3]))
    elif known:
        delivered = carried
    selection = select_next(units, labelled, strategy.picks, config, prediction, frames, carried if known else None)
    return RoundResult(selection=selection, carried=carried, delivered=delivered, prediction=prediction,
                       trained=trained)


def _fit_and_predict(model, frames, labels, flows, spec, config: RoundConfig, progress) -> VideoPrediction:
    def on_step(step: int, total: int, _stats: dict) -> None:
        if progress:
            progress("finetune", step, total)

    def on_batch(done: int, total: int) -> None:
        if progress:
            progress("predict", done, total)

    finetune(model, frames, labels, flows, spec, config.finetune, progress=on_step)
    return predict_video(model, frames, spec, batch_size=config.predict_batch, device=config.finetune.device,
                         progress=on_batch)


def select_next(
    units: SampleUnits,
    labelled: np.ndarray,
    picks: str,
    config: RoundConfig,
    prediction: VideoPrediction | None,
    frames: np.ndarray,
    carried: np.ndarray | None = None,
) -> Selection:
    """Choose the next samples with the selection core's `picks`; strategies that need a prediction
    fall back to a cold start (diversity of image features) before the network has run.

    carried: (F, H, W) labels known without the network (human or carried); uncertainty is then
    that of the delivered labels, not the network's alone.
    """
    seed = config.seed + 1
    if prediction is None and "scores" in STRATEGY_INPUTS.get(picks, ()):
        ids = select_samples("cold_start", budget=config.budget, units=units, labelled=labelled,
                             embeddings=image_features(units, frames), seed=seed)
        return Selection(ids=ids, scores=None, strategy="cold_start")
    scores = embeddings = None
    if prediction is not None:
        scores = sample_scores(units, prediction.probs, method=config.uncertainty, carried=carried)
        if "embeddings" in STRATEGY_INPUTS.get(picks, ()) and prediction.embeddings is not None:
            embeddings = pool_per_sample(units, prediction.embeddings)
    ids = select_samples(picks, budget=config.budget, units=units, labelled=labelled, scores=scores,
                         embeddings=embeddings, uncertain_fraction=config.uncertain_fraction, seed=seed)
    return Selection(ids=ids, scores=scores, strategy=picks)
