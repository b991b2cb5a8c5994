"""Label fusion: soft labels carried along the optical flow from the labelled frames on *both* sides,
weighed by how reliable each carried label is, combined with the network's probabilities.

A carried label is a vote: one-hot at a human label (weight 1), warped bilinearly frame by frame (so
boundaries stay sub-pixel instead of snapping to the nearest label id), its weight halving every
``half_life`` frames travelled and cut by ``occlusion_factor`` at every pixel whose flow fails the
forward-backward check; a vote whose flow leaves the image is lost. The votes of both sides add up,
so a pixel between two labelled frames that agree is surer than one reached from one side only.

The network's probabilities join with weight ``network_weight``: a carried label whose weight is
above it outvotes even a confident network, a far or occluded one does not, and where nothing is
carried the network decides alone. Human labels win. The defaults come from the CamVid clip
(README, "Results"): a network trained for seconds on a CPU is far less accurate than labels carried
along the flow (35-50 against 87 mIoU), so it decides only where carried labels are weak: with a
half-life of 8 frames and weight 0.1, a label carried about 26 frames through consistent flow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from .flow import Flows, labels_matching_flows, lands_inside, resize_nearest, warp
from .inference import upsampled_argmax
from .labels import UNKNOWN, overlay_known
from .ondisk import Scratch, in_memory
from .sparse_labels import SparseLabels
from .upsampling import check_upsampling, frame_at, guided_argmax, guided_upsample


@dataclass(frozen=True)
class FusionConfig:
    half_life: float = 8.0
    """Frames a carried label travels before its weight halves."""
    occlusion_factor: float = 0.5
    """Weight a carried label keeps when it crosses a pixel failing the forward-backward check."""
    network_weight: float = 0.1
    """Weight of the network's probabilities beside carried votes (a human label weighs 1). Carried
    labels at least this reliable are also the network's pseudo-labels: it could not overrule them."""
    upsampling: str = "bilinear"
    """How delivered scores reach the frames' resolution: "bilinear", or "guided" by the frame
    (`propagation.upsampling`: thin structures survive)."""

    @property
    def decay_per_frame(self) -> float:
        """Share of a carried label's weight left after one frame through consistent flow."""
        return 0.5 ** (1.0 / self.half_life)

    def validate(self) -> None:
        check_upsampling(self.upsampling)
        if self.half_life <= 0:
            raise ValueError(f"half_life must be a positive number of frames, got {self.half_life}")
        if not 0.0 <= self.occlusion_factor <= 1.0:
            raise ValueError(f"occlusion_factor must be in [0, 1], got {self.occlusion_factor}")
        if self.network_weight < 0:
            raise ValueError(f"network_weight must be >= 0, got {self.network_weight}")


def _one_hot(labels: np.ndarray, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(h, w) labels -> ((1, C, h, w) one-hot float32, (h, w) bool known)."""
    known = torch.from_numpy(labels >= 0)
    hot = torch.zeros((1, num_classes, *labels.shape), dtype=torch.float32)
    index = torch.from_numpy(np.where(labels >= 0, labels, 0).astype(np.int64))[None, None]
    hot.scatter_(1, index, 1.0)
    return hot * known, known


def _carry_one_side(labels, pulls, valid, offset: int, order: range, num_classes: int, config: FusionConfig,
                    out, write_first: bool = True) -> None:
    """Add one direction's votes to ``out`` (F, C, h, w), visiting frames in ``order``: frame t pulls
    from the frame visited before it through ``pulls[t + offset]``, keeping ``valid[t + offset]``
    at full weight (``write_first=False``: the first frame only starts the chain). Only the carried
    state of one frame is in memory."""
    decay = config.decay_per_frame
    state = None
    for t in order:
        if not write_first and t == order[0]:
            state = _one_hot(labels[t], num_classes)[0]
            continue
        hot, known = _one_hot(labels[t], num_classes)
        if state is not None:
            pull = pulls[t + offset].astype(np.float32)
            state = warp(state, torch.from_numpy(pull)[None])
            kept = np.where(valid[t + offset], 1.0, config.occlusion_factor) * lands_inside(pull)
            keep = torch.from_numpy(kept.astype(np.float32))
            state = state * (keep * decay)
            state = torch.where(known, hot, state)
        elif known.any():
            state = hot
        if state is not None:
            out[t] = out[t] + state[0].numpy().astype(out.dtype)


def carry_votes(labels, flows: Flows, num_classes: int, config: FusionConfig = FusionConfig(),
                scratch: Scratch = in_memory):
    """Votes (F, C, h, w) float16 at the flows' resolution from human labels (F, h, w) at that
    resolution (an array or SparseLabels; UNKNOWN where none): per pixel and class, the summed
    weight of the labels carried there from both sides, in [0, 2]; a frame's human labels weigh 1
    from each side. The votes come from ``scratch`` ("votes"): a long video's are its largest array."""
    config.validate()
    labels = labels_matching_flows(labels, flows)
    high = max((labels[t].max() for t in SparseLabels.from_dense(labels).known_frames), default=UNKNOWN)
    if high >= num_classes:
        raise ValueError(f"labels hold class {high}, but there are only {num_classes} classes")
    n = len(labels)
    votes = scratch("votes", (n, num_classes, *labels.shape[1:]), np.float16)
    # Forward in time frame t pulls from t-1 through backward[t-1]; backward in time through forward[t].
    _carry_one_side(labels, flows.backward, flows.valid_backward, -1, range(n), num_classes, config, votes)
    _carry_one_side(labels, flows.forward, flows.valid_forward, 0, range(n - 1, -1, -1), num_classes, config, votes)
    return votes


def carried_share(flows: Flows, config: FusionConfig = FusionConfig()) -> np.ndarray:
    """(F-1,) the share of a carried label's weight that survives the step between frames t and t+1,
    as `carry_votes` weighs it, averaged over pixels and both directions: the decay per frame times
    1 where the flow passes the forward-backward check, ``occlusion_factor`` where it fails."""
    config.validate()
    consistent = np.array([(np.mean(flows.valid_forward[t]) + np.mean(flows.valid_backward[t])) / 2
                           for t in range(len(flows))], dtype=np.float64)
    return config.decay_per_frame * (config.occlusion_factor + (1.0 - config.occlusion_factor) * consistent)


def carry_votes_again(labels, flows: Flows, num_classes: int, config: FusionConfig, votes, changed) -> list[range]:
    """Update ``votes`` (from `carry_votes` with the same flows and config) after the labels of the
    frames ``changed`` changed: a frame whose every pixel is labelled stops both chains, so only the
    frames between the nearest such frames around each change are carried again. Returns the
    ranges of frames carried again."""
    config.validate()
    labels = labels_matching_flows(labels, flows)
    n = len(labels)
    stops = [t for t in SparseLabels.from_dense(labels).known_frames if (labels[t] != UNKNOWN).all()]
    ranges: list[range] = []
    for k in sorted(set(int(t) for t in changed)):
        before = max((t for t in stops if t < k), default=-1)
        after = min((t for t in stops if t > k), default=n)
        if ranges and before + 1 <= ranges[-1].stop:  # overlaps or touches the previous range: merge
            ranges[-1] = range(ranges[-1].start, max(ranges[-1].stop, after))
        else:
            ranges.append(range(before + 1, after))
    for span in ranges:
        for t in span:
            votes[t] = np.zeros(votes.shape[1:], votes.dtype)
        start, stop = span.start - 1, span.stop  # the stopping frames start the chains
        _carry_one_side(labels, flows.backward, flows.valid_backward, -1, range(max(start, 0), stop), num_classes,
                        config, votes, write_first=start < 0)
        _carry_one_side(labels, flows.forward, flows.valid_forward, 0, range(min(stop, n - 1), span.start - 1, -1),
                        num_classes, config, votes, write_first=stop >= n)
    return ranges


def _resized(values: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    """(C, h, w) -> (C, H, W) float32, bilinear."""
    tensor = torch.from_numpy(np.asarray(values, dtype=np.float32))[None]
    if tuple(tensor.shape[-2:]) != tuple(size):
        tensor = F.interpolate(tensor, size=tuple(size), mode="bilinear", align_corners=False)
    return tensor[0]


def _fused_frame(votes: np.ndarray | None, network: np.ndarray | None, size: tuple[int, int],
                 network_weight: float, frame: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One frame's fused labels at ``size`` (H, W): votes (C, h, w) and the network's probabilities
    (C, h', w'), either None, fused at the votes' resolution (the network's enlarged to it); where no
    vote reaches, the network decides alone whatever its weight. The fused distribution is brought
    to ``size`` before its argmax: bilinearly (`upsampled_argmax`), or, given the ``frame`` (H, W, 3)
    uint8, guided by it (`guided_argmax`, both steps). Returns (labels (H, W) int32, UNKNOWN where
    nothing decides; confidence (H, W) float32 in [0, 1], the winning share of the votes, interpolated)."""
    if votes is None and network is None:
        raise ValueError("fusion needs carried votes, the network's probabilities or both")
    low = tuple((votes if votes is not None else network).shape[-2:])
    total = _resized(votes, low) if votes is not None else None
    if network is not None:
        if frame is not None and tuple(network.shape[-2:]) != low:
            probs = torch.from_numpy(guided_upsample(network, frame_at(frame, low)))
        else:
            probs = _resized(network, low)
        total = probs if total is None else torch.where(total.sum(dim=0) > 0, total + probs * network_weight, probs)
    mass = total.sum(dim=0)
    confidence = torch.where(mass > 0, total.max(dim=0).values / mass.clamp_min(1e-12), 0.0)
    if frame is not None and low != tuple(size):
        labels = guided_argmax(total.numpy(), frame, UNKNOWN)
    else:
        labels = upsampled_argmax(total.numpy(), size, UNKNOWN)
    return labels, _resized(confidence[None].numpy(), size)[0].numpy()


class DeliveredFrame(NamedTuple):
    labels: np.ndarray
    """(H, W) int32, UNKNOWN where nothing decides."""
    confidence: float
    """The frame's mean winning share of the votes, a human label counting 1."""
    sources: dict[str, float]
    """Share of the frame's pixels labelled by a human, reached by carried labels (fused with the
    network) and decided by the network alone."""


class Delivery:
    """The labels a round delivers, fused one frame at a time when asked, so a long video's labels
    never sit in memory at full resolution: human labels (F, H, W) win, the fusion of carried votes
    (F, C, h, w) and the network's probabilities (F, C, h', w') fills the rest (either may be None;
    with neither, only the human labels are delivered). ``upsampling="guided"`` brings the fusion to
    full resolution guided by ``frames`` (F, H, W, 3) uint8, an array or a sequence read one frame
    at a time; "bilinear" needs no frames."""

    def __init__(self, human, votes, network, network_weight: float, frames=None, upsampling: str = "bilinear"):
        self.human, self.votes, self.network, self.network_weight = human, votes, network, network_weight
        if check_upsampling(upsampling) == "guided" and frames is None:
            raise ValueError("guided upsampling needs the video's frames")
        self.frames = frames if upsampling == "guided" else None

    def __len__(self) -> int:
        return len(self.human)

    @property
    def size(self) -> tuple[int, int]:
        return tuple(self.human.shape[1:])

    def frame(self, t: int) -> DeliveredFrame:
        """Frame ``t``'s delivered labels, their confidence and where they come from."""
        human = self.human[t]
        by_human = human != UNKNOWN
        if self.votes is None and self.network is None:
            return DeliveredFrame(human.astype(np.int32), float(by_human.mean()),
                                  {"human": float(by_human.mean()), "carried": 0.0, "network": 0.0})
        votes = None if self.votes is None else self.votes[t]
        fused, sure = _fused_frame(votes, None if self.network is None else self.network[t], self.size,
                                   self.network_weight, None if self.frames is None else self.frames[t])
        labels = overlay_known(human, fused).astype(np.int32)
        reached = np.zeros(self.size, bool) if votes is None else \
            resize_nearest(np.asarray(votes, np.float32).sum(axis=0) > 0, self.size)
        carried = ~by_human & reached
        network = ~by_human & ~carried & (labels != UNKNOWN)
        sources = {"human": float(by_human.mean()), "carried": float(carried.mean()), "network": float(network.mean())}
        return DeliveredFrame(labels, float(np.where(by_human, 1.0, sure).mean()), sources)

    def labels(self) -> np.ndarray:
        """(F, H, W) int32, every frame (short videos)."""
        return np.stack([self.frame(t).labels for t in range(len(self))])

    def confidences(self) -> np.ndarray:
        """(F,) float32 per-frame confidence."""
        return np.array([self.frame(t).confidence for t in range(len(self))], np.float32)


def fuse_labels(human, votes, network, network_weight: float) -> tuple[np.ndarray, np.ndarray]:
    """Every frame of a `Delivery` at once: (labels (F, H, W) int32, confidence (F,) float32)."""
    delivery = Delivery(human, votes, network, network_weight)
    frames = [delivery.frame(t) for t in range(len(delivery))]
    return np.stack([f.labels for f in frames]), np.array([f.confidence for f in frames], np.float32)


def reliable_label_map(votes: np.ndarray, min_weight: float) -> np.ndarray:
    """One frame's votes (C, h, w) -> (h, w) int32: the winning carried label where its weight is at
    least ``min_weight`` (and above every other class's), UNKNOWN elsewhere."""
    votes = np.asarray(votes, np.float32)
    best = votes.argmax(axis=0)
    weight = np.take_along_axis(votes, best[None], axis=0)[0]
    return np.where((weight >= min_weight) & (weight > 0), best, UNKNOWN).astype(np.int32)


def reliable_labels(votes, min_weight: float) -> np.ndarray:
    """(F, C, h, w) votes -> (F, h, w) int32, `reliable_label_map` of every frame."""
    return np.stack([reliable_label_map(votes[t], min_weight) for t in range(len(votes))])


def summarise_votes(votes, min_weight: float, size: tuple[int, int], scratch: Scratch = in_memory):
    """What training and selection need of the votes (F, C, H', W'), at ``size`` (h, w), in one pass:
    (reliable carried labels (F, h, w) int16, nearest from `reliable_label_map`; votes (F, C, h, w)
    float16 shrunk by area averaging), both from ``scratch``."""
    n, classes = len(votes), votes.shape[1]
    reliable = scratch("reliable", (n, *size), np.int16)
    shrunk = scratch("votes_small", (n, classes, *size), np.float16)
    for t in range(n):
        frame = votes[t]
        reliable[t] = resize_nearest(reliable_label_map(frame, min_weight), size)
        tensor = torch.from_numpy(frame.astype(np.float32))[None]
        if tuple(tensor.shape[-2:]) != tuple(size):
            tensor = F.interpolate(tensor, size=tuple(size), mode="area")
        shrunk[t] = tensor[0].numpy()
    return reliable, shrunk


def fused_probabilities(votes, network, network_weight: float, scratch: Scratch = in_memory):
    """The delivered labels' class distribution at the network's resolution, (F, C, h, w) float16
    summing to 1: votes (F, C, H', W') shrunk by area averaging plus the weighted network
    probabilities (F, C, h, w), normalised, from ``scratch`` ("fused"). Selection scores its
    uncertainty: high where carried labels are weak or disagree with the network, low where both agree."""
    out = scratch("fused", network.shape, np.float16)
    size = network.shape[2:]
    for t in range(len(network)):
        total = torch.from_numpy(network[t].astype(np.float32)) * network_weight
        if votes is not None:
            shrunk = torch.from_numpy(votes[t].astype(np.float32))[None]
            if tuple(shrunk.shape[-2:]) != tuple(size):
                shrunk = F.interpolate(shrunk, size=tuple(size), mode="area")
            total = total + shrunk[0]
        out[t] = (total / total.sum(dim=0, keepdim=True).clamp_min(1e-12)).numpy()
    return out
