"""Per-frame Label Studio predictions of one round: brush masks, focus regions, score and cluster."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from propagation import SparseLabels, overlay_known
from vidseg.granularities import granularity_named
from vidseg.labelstudio.brush import label_map_to_results
from vidseg.labelstudio.config import LabelConfig
from vidseg.labelstudio.priorities import frame_priorities


def frame_results(
    tasks: list[dict],
    config: LabelConfig,
    units,
    selection,
    human,
    delivered=None,
) -> Iterator[dict]:
    """One entry per task, in order, made one frame at a time: {"task_id", "result", "score",
    "cluster", "confidence", "sources"} (sources: share of the frame's pixels labelled by a human,
    reached by carried labels, decided by the network alone).

    human: (F, H, W) human labels (an array or SparseLabels; UNKNOWN where none); delivered: the
    round's `Delivery` (labels and confidence a frame at a time) or None before the first training.
    Human labels always win over delivered ones.
    """
    n_frames = len(human)
    granularity = granularity_named(units.kind)
    selected_frames = units.frame_of(selection.ids) if len(selection.ids) else np.zeros(0, dtype=np.int64)
    frame_uncertainty = None
    if selection.scores is not None:
        sample_frames = units.frame_of(np.arange(units.n_samples))
        totals = np.bincount(sample_frames, weights=selection.scores, minlength=n_frames)
        frame_uncertainty = totals / np.maximum(np.bincount(sample_frames, minlength=n_frames), 1)
    labelled_frames = SparseLabels.from_dense(human).labelled_frames()
    scores, clusters = frame_priorities(n_frames, selected_frames, frame_uncertainty, labelled_frames)
    for frame, task in enumerate(tasks):
        confidence = sources = None
        label_map = human[frame]
        if delivered is not None:
            fused, confidence, sources = delivered.frame(frame)
            label_map = overlay_known(label_map, fused)
        result = label_map_to_results(label_map, config)
        chosen = selection.ids[selected_frames == frame]
        if len(chosen):
            # First: Label Studio 1.23 paints a task's earlier brush regions over later ones, and the
            # class masks cover the whole frame, so a focus brush after them would hardly show.
            result = granularity.focus_results(units, chosen, config, label_map) + result
        yield {"task_id": task["id"], "result": result, "score": float(scores[frame]), "cluster": clusters[frame],
               "confidence": None if confidence is None else round(float(confidence), 4),
               "sources": None if sources is None else {name: round(share, 4) for name, share in sources.items()}}
