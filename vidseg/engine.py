"""One round of the per-video loop: the RQ worker and the oracle simulation both call `run_round`.

A round is: carry the known labels along the optical flow from both sides as weighted votes,
fine-tune the network on the human labels and the carried ones it could not overrule (warm start),
predict every frame, deliver the fusion of carried votes and the network's probabilities (human
labels win; the carried labels alone where the frames labelled since the model last trained say the
network made them worse), then choose the next samples for annotators by the uncertainty of what was delivered.
Arrays in, arrays out: callers own the I/O. Every stage streams over frames: per-frame arrays come
from the caller's scratch (memory or disk), training and inference run on the frames shrunk once to
the working resolution, and full resolution is reached only one delivered frame at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from propagation import (
    UNKNOWN,
    Delivery,
    FinetuneConfig,
    Flows,
    FusionConfig,
    NetworkSpec,
    SparseLabels,
    VideoPrediction,
    carried_share,
    carry_votes,
    downscale_labels,
    finetune,
    fused_probabilities,
    in_memory,
    overlay_known,
    predict_video,
    propagate_labels,
    resize_flows,
    resize_nearest,
    summarise_votes,
    working_frames,
)
from propagation.densify import DensifyConfig, densify_labels
from propagation.ondisk import Scratch
from propagation.weight_check import WeightCheck, check_network_weight
from selection import (
    STRATEGY_INPUTS,
    SampleUnits,
    carried_gain,
    image_features,
    pool_per_sample,
    sample_scores,
    select_samples,
    spaced_if_better,
    with_time,
)
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
    fusion: FusionConfig = field(default_factory=FusionConfig)
    """How carried labels are weighed against each other and against the network."""
    pseudo_labels: bool = True
    """Train on the carried labels the network could not overrule too, not only on human ones."""
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    predict_batch: int = 8
    densify: DensifyConfig = field(default_factory=DensifyConfig)
    """Frames labelled by a few key points are densified by the sparse-pixel learner first (`propagation.densify`)."""
    seed: int = 0

    def validate(self) -> None:
        strategy_named(self.strategy)
        self.fusion.validate()
        self.densify.validate()
        if self.budget <= 0:
            raise ValueError(f"budget must be a positive number of samples per round, got {self.budget}")


@dataclass(frozen=True)
class Selection:
    ids: np.ndarray
    """(b,) sample ids, most informative first."""
    scores: np.ndarray | None
    """(N,) per-sample priority after ``ids``, higher served sooner: the uncertainty; on a cold start,
    the rank of its follow-ups (`COLD_START_FOLLOW_UPS`), 0 for the rest. None: no order beyond ``ids``."""
    strategy: str
    """The selection strategy that actually ran ("cold_start" when no prediction existed yet)."""


@dataclass(frozen=True)
class RoundResult:
    selection: Selection
    delivered: Delivery | None
    """The labels this round delivers (F, H, W), fused a frame at a time on request with each
    frame's confidence; None when nothing is known and no network predicted."""
    prediction: VideoPrediction | None
    """The network's probabilities and embeddings at working resolution; None when it did not run."""
    trained: bool
    """The network was fine-tuned (the caller keeps its checkpoint)."""
    trained_on: tuple[int, ...] | None = None
    """The labelled frames it was fine-tuned on (the next round's ``trained_on``); None when not trained."""
    weight_check: WeightCheck | None = None
    """How the network's weight beside the carried labels was chosen for this round's delivery, from
    the frames labelled since the model last trained (None: the configured weight, unchecked)."""


def flow_size(height: int, width: int, max_side: int) -> tuple[int, int]:
    """Resolution to compute optical flow at: the frames' own, shrunk so the long side <= max_side."""
    scale = min(1.0, max_side / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def labelled_samples(units: SampleUnits, human) -> np.ndarray:
    """(N,) bool: the samples whose pixels are mostly labelled by a human (never selected again);
    human: (F, H, W) labels, an array or SparseLabels, read a frame at a time."""
    return pool_per_sample(units, frame_values=lambda t: human[t] != UNKNOWN) > 0.5


def nearest_carried_labels(human, flows: Flows | None) -> np.ndarray:
    """Human labels (F, H, W) plus labels carried along the optical flow, the nearest labelled frame
    winning everywhere it reaches: the old no-learning baseline (`warp`), kept for comparison. It
    holds the video's label maps in memory.

    Flows at a lower resolution than the labels carry labels at theirs, enlarged back (nearest);
    human labels always keep their own pixels. No flows returns the human labels.
    """
    human = SparseLabels.from_dense(human).dense()
    if flows is None or len(human) < 2:
        return human
    warped, _ = propagate_labels(downscale_labels(human, flows.size), flows)
    return overlay_known(human, resize_nearest(warped, human.shape[1:]))


def carried_votes(human, flows: Flows | None, num_classes: int, config: FusionConfig,
                  scratch: Scratch = in_memory, cache=None):
    """Votes (F, C, h, w) at the flows' resolution of labels carried from both sides (see
    `propagation.carry_votes`); None without flows or labels. ``cache`` (a `vidseg.vote_cache.VoteCache`)
    keeps them between rounds and carries again only where labels changed."""
    human = SparseLabels.from_dense(human)
    if flows is None or len(human) < 2 or not human.any_known():
        return None
    if cache is not None:
        return cache.votes(human.resized(flows.size), flows, num_classes, config)
    return carry_votes(human.resized(flows.size), flows, num_classes, config, scratch)


def run_round(
    model: torch.nn.Module,
    frames,
    labels,
    units: SampleUnits,
    labelled: np.ndarray,
    flows: Flows | None,
    spec: NetworkSpec,
    config: RoundConfig,
    *,
    scratch: Scratch = in_memory,
    vote_cache=None,
    densify_cache=None,
    predict_untrained: bool = False,
    trained_on=None,
    progress: Progress | None = None,
) -> RoundResult:
    """One round on one video.

    frames: (F, H, W, 3) uint8 at full resolution, an array or a sequence read one frame at a time;
    labels: (F, H, W) human labels, UNKNOWN where none (an array or `SparseLabels`); labelled: (N,)
    bool, the samples already annotated (never selected again); flows: at the resolution labels are
    carried at, or None. Every per-frame array the round makes comes from ``scratch`` (on disk in
    the worker, so memory does not grow with the video), the carried votes from ``vote_cache`` where
    one is given (kept between rounds); full resolution is reached only when a frame of
    `RoundResult.delivered` is asked for. `model` is fine-tuned in place.
    predict_untrained: with no label yet, still predict (the model comes from a pretrained
    checkpoint), so the first selection can use it.
    densify_cache: keeps the key-point frames densified first (`propagation.densify`) between rounds.
    trained_on: the labelled frames ``model`` has trained on (empty for a model trained elsewhere),
    or None when it has learnt nothing yet (fresh weights). The labelled frames it has not seen
    check, before fine-tuning, whether the network improves on the carried labels alone
    (`propagation.weight_check`); where it did not, the round delivers those (its selection is unchanged).
    """
    strategy = strategy_named(config.strategy)
    human = densify_labels(frames, SparseLabels.from_dense(labels), spec.num_classes, config.densify,
                           densify_cache, progress)
    known = human.any_known()
    small = working_frames(frames, spec, scratch)
    if strategy.carries == "nearest":
        return _nearest_round(human, flows, units, labelled, small, strategy.picks, config, known)
    weight = config.fusion.network_weight if strategy.learns else 0.0
    votes = carried_votes(human, flows, spec.num_classes, config.fusion, scratch, vote_cache)
    human_small = training = downscale_labels(human, spec.size)
    votes_small = None
    if votes is not None:
        reliable, votes_small = summarise_votes(votes, weight, spec.size, scratch)
        if config.pseudo_labels:
            training = _overlaid(human_small, reliable, scratch)
    prediction, trained = None, False
    check = None
    if strategy.learns and known and trained_on is not None and flows is not None:
        held_out = sorted(set(int(t) for t in human.known_frames) - set(trained_on))
        check = _check_weight(model, small, human, flows, held_out, spec, config)
    if strategy.learns and known:
        work_flows = resize_flows(flows, spec.size, scratch) if flows is not None else None
        prediction = _fit_and_predict(model, small, training, work_flows, spec, config, progress, scratch)
        trained = True
    elif strategy.learns and predict_untrained:
        prediction = predict_video(model, small, spec, batch_size=config.predict_batch,
                                   device=config.finetune.device, scratch=scratch)
    network = prediction.probs if prediction is not None else None
    delivered = None
    if votes is not None or network is not None or known:
        delivered = Delivery(human, votes, network, weight if check is None else check.chosen, frames,
                             config.fusion.upsampling)
    # Selection keeps the configured weight: where the network disagrees with weak carried labels is
    # worth a look even in a round whose delivery leaves the network out.
    probs = fused_probabilities(votes_small, network, weight, scratch) if network is not None else None
    selection = select_next(units, labelled, strategy.picks, config, probs, prediction, small, flows)
    return RoundResult(selection=selection, delivered=delivered, prediction=prediction, trained=trained,
                       trained_on=tuple(int(t) for t in human.known_frames) if trained else None,
                       weight_check=check)


def _check_weight(model, small, human: SparseLabels, flows: Flows, held_out, spec: NetworkSpec,
                  config: RoundConfig) -> WeightCheck | None:
    """`check_network_weight` on the held-out frames, with the model's probabilities there from before
    it trains on them."""
    if not held_out:
        return None
    probs = predict_video(model, np.stack([small[t] for t in held_out]), spec, batch_size=config.predict_batch,
                          device=config.finetune.device, with_embeddings=False).probs
    return check_network_weight(human.resized(flows.size), flows, dict(zip(held_out, probs, strict=True)), held_out,
                                spec.num_classes, config.fusion)


def _overlaid(human: SparseLabels, reliable, scratch: Scratch):
    """Human labels over the reliable carried ones, (F, h, w) int16 from ``scratch`` ("training")."""
    out = scratch("training", (len(human), *human.size), np.int16)
    for t in range(len(human)):
        out[t] = overlay_known(human[t], reliable[t])
    return out


def _nearest_round(human, flows, units, labelled, frames, picks, config, known) -> RoundResult:
    """The `warp` baseline: nearest-wins carried labels are the delivered ones; nothing learns."""
    selection = select_next(units, labelled, picks, config, None, None, frames)
    delivered = Delivery(nearest_carried_labels(human, flows), None, None, 0.0) if known else None
    return RoundResult(selection=selection, delivered=delivered, prediction=None, trained=False)


def _fit_and_predict(model, frames, labels, flows, spec, config: RoundConfig, progress, scratch) -> VideoPrediction:
    def on_step(step: int, total: int, _stats: dict) -> None:
        if progress:
            progress("finetune", step, total)

    def on_batch(done: int, total: int) -> None:
        if progress:
            progress("predict", done, total)

    finetune(model, frames, labels, flows, spec, config.finetune, progress=on_step)
    return predict_video(model, frames, spec, batch_size=config.predict_batch, device=config.finetune.device,
                         progress=on_batch, scratch=scratch)


def select_next(
    units: SampleUnits,
    labelled: np.ndarray,
    picks: str,
    config: RoundConfig,
    probs: np.ndarray | None,
    prediction: VideoPrediction | None,
    frames,
    flows: Flows | None = None,
) -> Selection:
    """Choose the next samples with the selection core's `picks`; strategies that need a prediction
    fall back to a cold start (diversity of image features) before the network has run. On frames,
    picks made by content diversity give way to evenly spaced frames where those would leave less
    uncertainty uncarried (`selection.spaced_if_better`); until the video has a label, every frame
    counts as equally uncertain there.

    probs: (F, C, h, w) class distribution of the delivered labels (`fused_probabilities`, None
    before the network has run), whose uncertainty scores the samples; prediction: the network's,
    whose embeddings diversify them; frames: (F, h, w, 3) at any resolution, for the cold start;
    flows: what carries a labelled frame's labels to its neighbours (None: nothing is carried).
    """
    seed = config.seed + 1
    carried = units.kind == "frame" and flows is not None
    keep = carried_share(flows, config.fusion) if carried else 0.0
    alike = np.ones(units.n_samples)  # every sample equally uncertain: nothing to tell them apart yet
    own = alike  # each sample's uncertainty, once the network has scored them
    if probs is None and "scores" in STRATEGY_INPUTS.get(picks, ()):
        embeddings = _placed(units, image_features(units, frames))
        ids = select_samples("cold_start", budget=config.budget, units=units, labelled=labelled,
                             embeddings=embeddings, seed=seed)
        ids, ran = spaced_if_better(units, labelled, ids, "cold_start", alike, keep)
        follow_ups = _follow_up_priority(units, labelled, ids, embeddings, config.budget, seed)
        return Selection(ids=ids, scores=follow_ups, strategy=ran)
    scores = embeddings = None
    if probs is not None:
        scores = own = sample_scores(units, probs, method=config.uncertainty)
        if units.kind == "frame":
            # A frame's labels are carried to its neighbours: score what labelling it would reach.
            scores = carried_gain(own, labelled, keep)
        if "embeddings" in STRATEGY_INPUTS.get(picks, ()) and prediction.embeddings is not None:
            embeddings = _placed(units, pool_per_sample(units, prediction.embeddings))
    ids = select_samples(picks, budget=config.budget, units=units, labelled=labelled, scores=scores,
                         embeddings=embeddings, uncertain_fraction=config.uncertain_fraction, seed=seed)
    ran = picks
    if "embeddings" in STRATEGY_INPUTS.get(picks, ()):
        # Before this video has a label, the network's uncertainty (a pretrained model's) is untested on
        # it: the picks face spacing as at a cold start, every frame alike.
        tested = own if np.asarray(labelled, dtype=bool).any() else alike
        ids, ran = spaced_if_better(units, labelled, ids, picks, tested, keep)
    return Selection(ids=ids, scores=scores, strategy=ran)


COLD_START_FOLLOW_UPS = 4
"""A cold start ranks this many times ``budget`` samples after its selection. Annotators who go on
while the next round trains get them in this order (Label Studio serves by score), not in an
arbitrary one: without an uncertainty every other unlabelled frame would score the same."""


def _follow_up_priority(units: SampleUnits, labelled: np.ndarray, selected: np.ndarray, embeddings: np.ndarray,
                        budget: int, seed: int) -> np.ndarray:
    """(N,) priority of a cold start's follow-ups: the representatives of a finer k-means over the
    samples left (`COLD_START_FOLLOW_UPS` x ``budget`` clusters, largest first) score 1 down to 1/R,
    every other sample 0. A finer k-means, not a second coarse one: that would pick the selected
    samples' neighbours, the look-alikes the carried labels cover anyway."""
    left = np.asarray(labelled, dtype=bool).copy()
    left[selected] = True
    ranked = select_samples("cold_start", budget=COLD_START_FOLLOW_UPS * budget, units=units, labelled=left,
                            embeddings=embeddings, seed=seed)
    priority = np.zeros(units.n_samples, dtype=np.float64)
    priority[ranked] = (len(ranked) - np.arange(len(ranked))) / max(len(ranked), 1)
    return priority


def _placed(units: SampleUnits, embeddings: np.ndarray) -> np.ndarray:
    """Embeddings that also say where in the video each sample lies (`selection.with_time`)."""
    return with_time(embeddings, units.frame_of(np.arange(units.n_samples)), units.n_frames)
