"""The strategies a team (or the simulation) can choose: one registry, read by settings, CLI and README.

A strategy says which samples the selection core picks and whether the round learns: a learning
strategy fine-tunes the video's network and delivers its predictions where no label is carried;
`warp` is the no-learning baseline, labels carried along the optical flow only.
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
    """Fine-tune the network and deliver its predictions; False: carried labels only."""
    summary: str


STRATEGIES: dict[str, Strategy] = {s.name: s for s in (
    Strategy("hvsa", "hvsa", True, "the most uncertain half of the samples, k-means in the network's embedding "
             "space, the sample nearest each centroid (Qiao et al. 2023); the default"),
    Strategy("uncertainty", "uncertainty", True, "the most uncertain samples, no diversity"),
    Strategy("random", "random", True, "samples drawn at random (seeded)"),
    Strategy("uniform", "uniform", True, "evenly spaced samples (frames: farthest from every labelled frame)"),
    Strategy("warp", "uniform", False, "no learning: evenly spaced samples, labels carried along the optical "
             "flow, nearest labelled frame wins"),
)}
DEFAULT_STRATEGY = "hvsa"


def strategy_named(name: str) -> Strategy:
    """The registered strategy; a ValueError that lists the choices otherwise."""
    return look_up(STRATEGIES, "strategy", name)
