"""Per-frame Label Studio predictions of one round: brush masks, focus regions, score and cluster."""

from __future__ import annotations

import numpy as np

from vidseg.jobs.priorities import frame_priorities
from vidseg.labels import UNKNOWN
from vidseg.labelstudio.brush import focus_mask_to_results, label_map_to_results
from vidseg.labelstudio.config import LabelConfig
from vidseg.labelstudio.points import points_to_results, rectangles_to_results


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
    before the first training; confidence: (F,) mean top-class probability of the network per frame.
    Human labels always win over predicted ones.
    """
    n_frames, height, width = human.shape
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
        label_map = human[frame]
        if predicted is not None:
            label_map = np.where(label_map != UNKNOWN, label_map, predicted[frame])
        result = label_map_to_results(label_map, config)
        chosen = selection.ids[selected_frames == frame]
        if len(chosen):
            result += _focus_results(units, chosen, config, label_map, height, width)
        entries.append({"task_id": task["id"], "result": result, "score": float(scores[frame]),
                        "cluster": clusters[frame],
                        "confidence": None if confidence is None else round(float(confidence[frame]), 4)})
    return entries


def _focus_results(units, ids: np.ndarray, config: LabelConfig, label_map: np.ndarray,
                   height: int, width: int) -> list[dict]:
    """Show annotators which regions of the frame were selected, in the config's own controls."""
    if units.kind == "rectangle" and config.focus_type == "rectanglelabels":
        boxes = [units.box(int(i))[1:] for i in ids]
        return rectangles_to_results(boxes, config, height, width)
    if units.kind == "superpixel" and config.focus_type == "brushlabels":
        mask = np.zeros((height, width), dtype=bool)
        for sample_id in ids:
            mask |= units.mask(int(sample_id))[1]
        return focus_mask_to_results(mask, config)
    if units.kind == "pixel" and config.keypoint_name:
        _, rows, cols = units.pixel_of(ids)
        points = [(int(y), int(x), max(int(label_map[y, x]), 0)) for y, x in zip(rows, cols, strict=True)]
        return points_to_results(points, config, height, width)
    return []
