"""Human label maps from a video's Label Studio annotations.

Rules (documented in the README):
- per task the latest submitted, non-cancelled annotation counts (by `updated_at`, then id);
- brush regions give class pixels (a later region wins where strokes overlap);
- key points label single pixels and win over brush strokes under them (a click is deliberate);
- with a focus control in the config, an annotation that keeps focus regions counts only inside
  them (rectangle and superpixel granularity); without focus regions the whole mask counts.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

from propagation import UNKNOWN, SparseLabels, overlay_known
from vidseg.labelstudio.brush import results_to_label_map
from vidseg.labelstudio.config import LabelConfig
from vidseg.labelstudio.points import keypoints_to_sparse_labels, rectangle_results_to_mask


def latest_annotation(task: dict) -> dict | None:
    annotations = [a for a in task.get("annotations") or [] if isinstance(a, dict) and not a.get("was_cancelled")]
    if not annotations:
        return None
    return max(annotations, key=lambda a: (str(a.get("updated_at") or ""), a.get("id") or 0))


def annotation_fingerprint(tasks: list[dict]) -> str:
    """Changes whenever an annotation of these tasks is created, updated or deleted."""
    seen = sorted(
        (task.get("id"), a.get("id"), str(a.get("updated_at")))
        for task in tasks for a in task.get("annotations") or [] if isinstance(a, dict)
    )
    return hashlib.sha1(json.dumps(seen).encode()).hexdigest()


def human_labels(tasks: list[dict], config: LabelConfig, height: int, width: int) -> SparseLabels:
    """(F, H, W) int16 label maps of the tasks in order, UNKNOWN where no human label applies; only
    the annotated frames are held."""
    labels = SparseLabels(len(tasks), (height, width), dtype=np.int16)
    for index, task in enumerate(tasks):
        annotation = latest_annotation(task)
        if annotation is None:
            continue
        results = annotation.get("result") or []
        frame = results_to_label_map(results, config, height, width)
        if config.keypoint_name:
            points = keypoints_to_sparse_labels(results, config, height, width)
            frame = overlay_known(points, frame)
        if config.focus_name and any(r.get("from_name") == config.focus_name for r in results):
            focus = rectangle_results_to_mask(results, config, height, width)
            frame = np.where(focus, frame, UNKNOWN)
        labels[index] = frame
    return labels
