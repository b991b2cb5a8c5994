"""Per-frame Label Studio predictions of one round: brush masks, focus regions, score and cluster."""

from __future__ import annotations

import numpy as np

from propagation import UNKNOWN, overlay_known
from vidseg.granularities import granularity_named
from vidseg.labelstudio.brush import label_map_to_results
from vidseg.labelstudio.config import LabelConfig
from vidseg.labelstudio.priorities import frame_priorities


def frame_results(
    tasks: list[dict],
    config: LabelConfig,
    units,
    selection,
    human: np.ndarray,
    predicted: np.ndarray | None,
    confidence: np.ndarray | None = None,
) -> list[dict]:
    """One entry per task: {"task_id", "result", "score", "cluster", "confidence"}.

    human: (F, H, W) human labels (UNKNOWN where none); predicted: (F, H, W) delivered labels or None
    before the first training; confidence: (F,) mean confidence of the delivered labels per frame.
    Human labels always win over predicted ones.
    """
    n_frames = len(human)
    granularity = granularity_named(units.kind)
    selected_frames = units.frame_of(selection.ids) if len(selection.ids) else np.zeros(0, dtype=np.int64)
    frame_uncertainty = None
    if selection.scores is not None:
        sample_frames = units.frame_of(np.arange(units.n_samples))
        totals = np.bincount(sample_frames, weights=selection.scores, minlength=n_frames)
        frame_uncertainty = totals / np.maximum(np.bincount(sample_frames, minlength=n_frames), 1)
    labelled_frames = (human != UNKNOWN).any(axis=(1, 2))
    scores, clusters = frame_priorities(n_frames, selected_frames, frame_uncertainty, labelled_frames)
    entries = []
    for frame, task in enumerate(tasks):
        label_map = human[frame] if predicted is None else overlay_known(human[frame], predicted[frame])
        result = label_map_to_results(label_map, config)
        chosen = selection.ids[selected_frames == frame]
        if len(chosen):
            result += granularity.focus_results(units, chosen, config, label_map)
        entries.append({"task_id": task["id"], "result": result, "score": float(scores[frame]),
                        "cluster": clusters[frame],
                        "confidence": None if confidence is None else round(float(confidence[frame]), 4)})
    return entries
