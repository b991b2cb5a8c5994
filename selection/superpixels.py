"""Per-frame superpixels for superpixel sample units.

Why SLIC from scikit-image (``skimage.segmentation.slic``):
- maintained and BSD-licensed, already a dependency of the project, nothing compiled to add;
- deterministic for a given image and settings (no random seeding), so units are reproducible;
- fast enough: about 0.17 s per 360x480 CamVid frame with n_segments=300 (measured on the
  shared 2-core development machine), i.e. ~17 s for a 101-frame clip, done once per video;
- SLIC's compact, roughly equal-sized regions suit annotation costs better than Felzenszwalb or
  watershed segments, whose sizes vary by orders of magnitude.
scikit-image is imported lazily so the rest of ``selection`` needs only numpy + scikit-learn.
"""

from __future__ import annotations

import numpy as np

from .errors import SelectionError


def slic_superpixels(frames, n_segments: int = 300, compactness: float = 10.0, out=None):
    """SLIC superpixels of each frame: (F, H, W, 3) uint8 RGB -> (F, H, W) int32 local labels from 0.

    ``frames``: an array or a sequence read one frame at a time (the worker's frame files); ``out``:
    where the labels go, e.g. an on-disk array, so a long HD video's maps are never all in memory
    (a new array when None). ``n_segments`` is the approximate number of superpixels per frame; a
    higher ``compactness`` gives squarer regions, a lower one follows colour edges more closely.
    """
    from skimage.segmentation import slic

    shape = tuple(frames.shape) if hasattr(frames, "shape") else np.shape(frames)
    if len(shape) != 4 or shape[-1] != 3:
        raise SelectionError(f"frames must be (F, H, W, 3) RGB, got shape {shape}")
    if n_segments < 1:
        raise SelectionError(f"n_segments must be >= 1, got {n_segments}")
    out = np.empty(shape[:3], dtype=np.int32) if out is None else out
    for f in range(shape[0]):
        out[f] = slic(np.asarray(frames[f]), n_segments=n_segments, compactness=compactness, start_label=0,
                      channel_axis=-1)
    return out
