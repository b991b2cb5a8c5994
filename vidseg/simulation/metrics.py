"""Label quality of delivered label maps against ground truth: confusion, mIoU, pixel accuracy.

Conventions: ground truth ``UNKNOWN`` (void) pixels are skipped everywhere. A prediction of
``UNKNOWN`` (or any value outside ``0..C-1``) on a labelled pixel is wrong: it lands in an extra
"no label" column, so it counts as a miss of its true class without being a hit of any class.
mIoU averages over the classes present in the ground truth only.
"""

from __future__ import annotations

import numpy as np

from propagation.labels import UNKNOWN


def confusion_matrix(pred: np.ndarray, truth: np.ndarray, n_classes: int,
                     keep_unknown: bool = False) -> np.ndarray:
    """Pixel counts ``[true class, predicted class]`` over the pixels where ``truth != UNKNOWN``.

    ``pred``, ``truth``: integer arrays of one shape (any, e.g. (H, W) or (F, H, W)).
    Returns (C, C) int64, or (C, C+1) with ``keep_unknown``: the last column counts labelled
    pixels predicted ``UNKNOWN`` or out of range (needed for IoU denominators; the (C, C) matrix
    drops it).
    """
    pred, truth = np.asarray(pred), np.asarray(truth)
    if pred.shape != truth.shape:
        raise ValueError(f"prediction shape {pred.shape} does not match ground truth shape {truth.shape}")
    if n_classes < 1:
        raise ValueError(f"n_classes must be >= 1, got {n_classes}")
    labelled = truth != UNKNOWN
    t = truth[labelled].astype(np.int64)
    if t.size and (t.min() < 0 or t.max() >= n_classes):
        bad = t[(t < 0) | (t >= n_classes)][0]
        raise ValueError(f"ground truth holds class {bad}, outside 0..{n_classes - 1} "
                         f"(void must be {UNKNOWN})")
    p = pred[labelled].astype(np.int64)
    p[(p < 0) | (p >= n_classes)] = n_classes  # the "no label" bin
    counts = np.bincount(t * (n_classes + 1) + p, minlength=n_classes * (n_classes + 1))
    matrix = counts.reshape(n_classes, n_classes + 1)
    return matrix if keep_unknown else matrix[:, :n_classes].copy()


def quality_from_confusion(confusion: np.ndarray) -> dict:
    """``dict(miou, pixel_accuracy, per_class_iou)`` from a (C, C+1) (or (C, C)) confusion matrix.

    Values are fractions in [0, 1]; ``per_class_iou`` is (C,) float64 with NaN for classes absent
    from the ground truth (they do not enter the mean). With no labelled pixel at all, miou and
    pixel_accuracy are NaN.
    """
    confusion = np.asarray(confusion, dtype=np.int64)
    n_classes = confusion.shape[0]
    hits = np.diag(confusion[:, :n_classes]).astype(np.float64)
    true_totals = confusion.sum(axis=1).astype(np.float64)  # includes the "no label" column
    pred_totals = confusion[:, :n_classes].sum(axis=0).astype(np.float64)
    present = true_totals > 0
    per_class = np.full(n_classes, np.nan)
    per_class[present] = hits[present] / (true_totals + pred_totals - hits)[present]
    total = true_totals.sum()
    return {
        "miou": float(per_class[present].mean()) if present.any() else float("nan"),
        "pixel_accuracy": float(hits.sum() / total) if total else float("nan"),
        "per_class_iou": per_class,
    }


def label_quality(pred: np.ndarray, truth: np.ndarray, n_classes: int) -> dict:
    """Quality of a delivered (F, H, W) label video against the (F, H, W) ground truth.

    Accumulates the confusion frame by frame (no full-video temporaries). Returns
    ``dict(miou, pixel_accuracy, per_class_iou)`` as in ``quality_from_confusion``.
    """
    pred, truth = np.asarray(pred), np.asarray(truth)
    if pred.shape != truth.shape:
        raise ValueError(f"prediction shape {pred.shape} does not match ground truth shape {truth.shape}")
    if truth.ndim == 2:
        pred, truth = pred[None], truth[None]
    confusion = np.zeros((n_classes, n_classes + 1), dtype=np.int64)
    for frame_pred, frame_truth in zip(pred, truth, strict=True):
        confusion += confusion_matrix(frame_pred, frame_truth, n_classes, keep_unknown=True)
    return quality_from_confusion(confusion)
