"""Prediction scores and clusters that make Label Studio's uncertainty sampling serve our order.

Label Studio serves the lowest `score` first among tasks whose prediction carries the project's
model_version, and spreads annotators over `cluster` values. So:
- selected frames score in [0, 0.1): their rank in the selection, most informative first;
  each selected sample is the centre of its own k-means cluster, so its rank is its cluster;
- other unlabelled frames score in [0.5, 1): a higher ``frame_uncertainty`` lower (served earlier).
  It is the uncertainty after a trained round; on a cold start, the rank of the selection's
  follow-ups (`vidseg.engine.COLD_START_FOLLOW_UPS`), so annotators who go on while the next round
  trains get them in that order. Only strategies that give no order at all leave these frames tied;
- labelled frames score 1.0 (Label Studio does not serve them again anyway).
"""

from __future__ import annotations

import numpy as np


def frame_priorities(
    n_frames: int,
    selected_frames: np.ndarray,
    frame_uncertainty: np.ndarray | None,
    labelled_frames: np.ndarray,
) -> tuple[np.ndarray, list[int | None]]:
    """Scores (F,) and clusters (F,) for the frames of one video.

    selected_frames: frame of each selected sample, in priority order (repeats allowed: a frame
    holding several selected rectangles takes the rank of its best one).
    """
    scores = np.ones(n_frames, dtype=np.float64)
    unlabelled = ~np.asarray(labelled_frames, dtype=bool)
    if frame_uncertainty is not None and np.any(unlabelled):
        uncertainty = np.asarray(frame_uncertainty, dtype=np.float64)
        top = uncertainty[unlabelled].max()
        relative = uncertainty / top if top > 0 else np.zeros(n_frames)
        scores[unlabelled] = 0.5 + 0.4999 * (1.0 - relative[unlabelled])
    else:
        scores[unlabelled] = 0.75
    clusters: list[int | None] = [None] * n_frames
    ranked: list[int] = []
    for frame in np.asarray(selected_frames, dtype=np.int64).tolist():
        if frame not in ranked:
            ranked.append(frame)
    for rank, frame in enumerate(ranked):
        scores[frame] = 0.1 * rank / max(len(ranked), 1)
        clusters[frame] = rank
    return scores, clusters
