"""Which delivery a video's own new labels support: the network fused with the carried labels, or
the carried labels alone (the no-learning fusion).

A network fine-tuned for seconds on a few frames can overrule carried labels it should not. Each
round checks it on the frames labelled since the model last trained, which it has never seen: at
each such frame, the votes carried from the *other* labelled frames and the model's probabilities
are fused at every candidate network weight and compared with the human labels. The configured
weight delivers the round unless the carried labels alone got clearly more pixels right
(`FALLBACK_MARGIN`): the fallback is for a network that hurts, not for a coin toss between two
deliveries that differ on a few hundred pixels. Frames the model trained on are never used: it
would be judged on what it memorised.

    check = check_network_weight(human_small, flows, probs, held_out, num_classes, config)
    weight = check.chosen if check is not None else config.network_weight
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .flow import Flows
from .fusion import FusionConfig, _carry_one_side, _fused_frame
from .labels import UNKNOWN
from .sparse_labels import SparseLabels

FALLBACK_MARGIN = 0.001
"""Share of the checked pixels (0.1 points of accuracy) by which another weight must beat the
configured one to replace it."""


@dataclass(frozen=True)
class WeightCheck:
    frames: tuple[int, ...]
    """The held-out frames checked (labelled, unseen by the model, reached by other labels' votes)."""
    weights: tuple[float, ...]
    """The candidate network weights: the configured one first, then 0 (no learning)."""
    correct: tuple[int, ...]
    """Pixels of the held-out frames each weight's fusion got right."""
    pixels: int
    """Labelled pixels checked."""

    @property
    def chosen(self) -> float:
        best = int(np.argmax(self.correct))
        clearly = self.correct[best] - self.correct[0] > FALLBACK_MARGIN * self.pixels
        return self.weights[best] if clearly else self.weights[0]

    def describe(self) -> dict:
        """For logs and status: each weight's accuracy on the held-out frames, in %."""
        return {"frames": list(self.frames), "chosen": self.chosen,
                "accuracy": {str(w): round(100.0 * c / max(self.pixels, 1), 2)
                             for w, c in zip(self.weights, self.correct, strict=True)}}


class _OneFrame:
    """The ``out`` of a carrying chain that keeps only frame ``t``'s votes."""

    dtype = np.float32

    def __init__(self, t: int, shape: tuple[int, ...]):
        self.t, self.votes = t, np.zeros(shape, self.dtype)

    def __getitem__(self, t: int) -> np.ndarray:
        return self.votes if t == self.t else np.zeros_like(self.votes)

    def __setitem__(self, t: int, value: np.ndarray) -> None:
        if t == self.t:
            self.votes = value


def votes_at(labels: SparseLabels, flows: Flows, t: int, num_classes: int, config: FusionConfig) -> np.ndarray | None:
    """Frame ``t``'s votes (C, h, w) carried from ``labels`` (at the flows' resolution) as
    `carry_votes` carries them, walking only the chains from the nearest labelled frame on each side
    (the same votes where that frame is fully labelled; a partly labelled one also passes on what
    reached it, which this leaves out); None when no labelled frame is on either side."""
    known = [k for k in labels.known_frames if k != t]
    before = max((k for k in known if k < t), default=None)
    after = min((k for k in known if k > t), default=None)
    if before is None and after is None:
        return None
    out = _OneFrame(t, (num_classes, *labels.size))
    if before is not None:
        _carry_one_side(labels, flows.backward, flows.valid_backward, -1, range(before, t + 1), num_classes,
                        config, out)
    if after is not None:
        _carry_one_side(labels, flows.forward, flows.valid_forward, 0, range(after, t - 1, -1), num_classes,
                        config, out)
    return out.votes


def check_network_weight(human: SparseLabels, flows: Flows, network, held_out, num_classes: int,
                         config: FusionConfig) -> WeightCheck | None:
    """Compare delivering at ``config.network_weight`` with delivering the carried labels alone on
    the ``held_out`` frames. human: labels at the flows' resolution; network: {frame: (C, h', w')}
    the model's probabilities at the held-out frames, predicted before it saw their labels. None
    when there is nothing to compare (no held-out frame reached by another frame's labels, or a
    configured weight of 0)."""
    weights = (float(config.network_weight), 0.0)
    if weights[0] == 0.0:
        return None
    others = SparseLabels(len(human), human.size,
                          {t: m for t, m in human.maps.items() if t not in set(held_out)}, dtype=human.dtype)
    frames, correct, pixels = [], np.zeros(len(weights), np.int64), 0
    for t in sorted(set(held_out)):
        votes = votes_at(others, flows, t, num_classes, config) if len(others.known_frames) else None
        if votes is None or not votes.any():
            continue
        truth = human[t]
        known = truth != UNKNOWN
        for i, weight in enumerate(weights):
            labels, _ = _fused_frame(votes, network[t], human.size, weight)
            correct[i] += int((labels[known] == truth[known]).sum())
        frames.append(t)
        pixels += int(known.sum())
    if not frames:
        return None
    return WeightCheck(tuple(frames), weights, tuple(int(c) for c in correct), pixels)
