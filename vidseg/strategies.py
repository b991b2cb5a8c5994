"""The strategies a team (or the simulation) can choose: one registry, read by settings, CLI and README.

A strategy says which samples the selection core picks, whether the round learns and how labels
are carried: a learning strategy fine-tunes the video's network and delivers the fusion of its
predictions with the labels carried from both sides; `fusion` is the best no-learning baseline
(the same carried votes, no network) and `warp` the old one (nearest labelled frame wins).
"""

from __future__ import annotations

from dataclasses import dataclass

from vidseg.registry import look_up


@dataclass(frozen=True)
class Strategy:
    name: str
    picks: str
    """The selection core's strategy (`selection.STRATEGIES`) that chooses the samples."""
    learns: bool
    """Fine-tune the network and fuse its predictions with carried labels; False: carried labels only."""
    summary: str
    carries: str = "fused"
    """"fused": votes from both sides weighed by reliability; "nearest": the nearest labelled frame wins."""


STRATEGIES: dict[str, Strategy] = {s.name: s for s in (
    Strategy("hvsa", "hvsa", True, "the most uncertain half of the samples, k-means in the network's embedding "
             "space, the sample nearest each centroid (Qiao et al. 2023); a frame's uncertainty counts that of the "
             "frames its labels would be carried to, and evenly spaced frames are taken instead where they would leave "
             "less of it; the default"),
    Strategy("uncertainty", "uncertainty", True, "the most uncertain samples, no diversity"),
    Strategy("random", "random", True, "samples drawn at random (seeded)"),
    Strategy("uniform", "uniform", True, "evenly spaced samples (frames: farthest from every labelled frame)"),
    Strategy("fusion", "uniform", False, "no learning: evenly spaced samples, soft labels carried along the "
             "optical flow from both sides, weighed by distance and flow consistency"),
    Strategy("warp", "uniform", False, "no learning: evenly spaced samples, labels carried along the optical "
             "flow, nearest labelled frame wins", carries="nearest"),
)}
DEFAULT_STRATEGY = "hvsa"


def strategy_named(name: str) -> Strategy:
    """The registered strategy; a ValueError that lists the choices otherwise."""
    return look_up(STRATEGIES, "strategy", name)
