"""What labelling a frame is worth once its labels are carried along the optical flow.

A frame's own uncertainty undersells it: its labels also travel to its neighbours, as far as the
nearest labelled frame on each side (whose own labels win from there on), keeping at each step
between two frames a share ``keep`` of their weight (`propagation.carried_share`: the fusion's
decay with frames travelled and its cut at pixels failing the flow's forward-backward check). So
the worth of labelling frame t is the uncertainty its carried labels reach::

    gain[t] = sum over unlabelled s between the labelled frames around t of u[s] * (product of keep between t and s)

A frame in a long stretch of uncertain frames is worth more than an equally uncertain one beside a
labelled frame, which is what even spacing gets right and a frame's own uncertainty does not see;
where the flow breaks (fast motion, a cut), labels travel little and a frame is worth about its own
uncertainty.

`uncertainty_left` weighs a whole set of picks the same way, so two candidate sets (content-diverse
picks and even spacing) can be compared by what they would leave unlabelled and uncarried
(`spaced_if_better`).
"""

from __future__ import annotations

import numpy as np

from .errors import SelectionError
from .strategies import select_samples
from .units import SampleUnits


def _carried_one_way(values: np.ndarray, stops: np.ndarray, keep: np.ndarray, order: range, step) -> np.ndarray:
    """Sum of ``values`` reaching each frame from one side, times ``keep[step(t)]`` per step, cut at ``stops``."""
    out = np.zeros_like(values)
    total = 0.0
    for t in order:
        total = 0.0 if stops[t] else values[t] + keep[step(t)] * total
        out[t] = total
    return out


def _checked_keep(u: np.ndarray, stops: np.ndarray, keep) -> np.ndarray:
    """``keep`` as (F,) shares per step (the last one, past the last frame, never read), or a message."""
    if u.ndim != 1 or stops.shape != u.shape:
        raise SelectionError(f"uncertainty and labelled must both be (F,), got {u.shape} and {stops.shape}")
    keep = np.asarray(keep, dtype=np.float64)
    steps = max(len(u) - 1, 0)
    if keep.shape not in ((), (steps,)) or not ((keep >= 0) & (keep <= 1)).all():
        raise SelectionError(f"keep must be one share of weight in [0, 1] or one per step between frames "
                             f"({steps}), got shape {keep.shape}")
    return np.concatenate([np.broadcast_to(keep, (steps,)), [0.0]])


def carried_gain(uncertainty, labelled, keep) -> np.ndarray:
    """(F,) float64 worth of labelling each frame: its uncertainty plus that of the unlabelled frames
    its labels would be carried to (see the module). ``keep``: the share of a carried label's weight
    that survives the step from frame t to t+1, one number or (F-1,) in [0, 1] (0: nothing is
    carried). Labelled frames are worth 0. Two sweeps, O(F)."""
    u = np.asarray(uncertainty, dtype=np.float64)
    stops = np.asarray(labelled, dtype=bool)
    keep = _checked_keep(u, stops, keep)
    u = np.where(stops, 0.0, u)
    ahead = _carried_one_way(u, stops, keep, range(len(u)), lambda t: t - 1)
    behind = _carried_one_way(u, stops, keep, range(len(u) - 1, -1, -1), lambda t: t)
    return ahead + behind - u


def _reach_one_way(picks: np.ndarray, stops: np.ndarray, keep: np.ndarray, order: range, step) -> np.ndarray:
    """Share of weight reaching each frame from the nearest pick on one side, 0 past a labelled frame."""
    out = np.zeros(len(picks))
    share = 0.0
    for t in order:
        share = 1.0 if picks[t] else 0.0 if stops[t] else keep[step(t)] * share
        out[t] = share
    return out


def uncertainty_left(uncertainty, labelled, picks, keep) -> float:
    """The uncertainty labelling the frames ``picks`` would leave: the sum over frames neither labelled
    nor picked of ``u[s] * (1 - a) * (1 - b)``, with a and b the shares of weight (products of ``keep``
    as in `carried_gain`) reaching s from the nearest pick before and after it; 0 past an already
    labelled frame, whose carried labels ``uncertainty`` already reflects."""
    u = np.asarray(uncertainty, dtype=np.float64)
    stops = np.asarray(labelled, dtype=bool)
    keep = _checked_keep(u, stops, keep)
    picks = np.asarray(picks, dtype=np.int64).reshape(-1)
    if ((picks < 0) | (picks >= len(u))).any():
        raise SelectionError(f"picks must be frame indices in 0..{len(u) - 1}, got {picks.min()}..{picks.max()}")
    chosen = np.zeros(len(u), dtype=bool)
    chosen[picks] = True
    ahead = _reach_one_way(chosen, stops, keep, range(len(u)), lambda t: t - 1)
    behind = _reach_one_way(chosen, stops, keep, range(len(u) - 1, -1, -1), lambda t: t)
    left = u * (1.0 - ahead) * (1.0 - behind)
    return float(left[~stops & ~chosen].sum())


def spaced_if_better(units: SampleUnits, labelled, ids, picked_by: str, uncertainty, keep) -> tuple[np.ndarray, str]:
    """Frames ``ids`` picked by content diversity (by ``picked_by``), or as many evenly spaced frames
    (the `uniform` strategy's) where those would leave less uncertainty (`uncertainty_left`), and the
    strategy whose frames these are. Where labels carry far and the uncertainty is spread evenly,
    spacing covers more than content diversity; where labels carry little or the uncertainty is
    concentrated, the content picks are kept (ties too). Other sample kinds pass through."""
    if units.kind != "frame" or len(ids) == 0:
        return ids, picked_by
    spaced = select_samples("uniform", budget=len(ids), units=units, labelled=labelled)
    if uncertainty_left(uncertainty, labelled, spaced, keep) < uncertainty_left(uncertainty, labelled, ids, keep):
        return spaced, "uniform"
    return ids, picked_by
