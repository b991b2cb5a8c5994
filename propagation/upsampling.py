"""Edge-aware upsampling of class scores, guided by the full-resolution frame: the guided filter's
local linear model (He et al. 2010; fitted at low resolution as in the fast guided filter, He & Sun
2015), applied to the detail the frame holds beyond its low-resolution copy.

Bilinear upsampling of (C, h, w) scores loses what is thinner than a low-resolution pixel: a pole two
pixels wide in a 360x480 frame holds half a 96x128 pixel, so its class rarely wins there. In every
small low-resolution window each class's score is modelled as a linear function of the guide's
intensity, ``p ~ a * I + b``; the slope ``a`` (averaged over the windows covering a pixel) is
enlarged bilinearly and multiplies the guide's full-resolution detail:

    q = bilinear(p) + bilinear(a) * (I - bilinear(I_low))

A dark pole on a bright sky makes its class's score fall with intensity around it, so at the pole's
own pixels q rises again: thin structures and boundaries come back where the frame shows them.
Where a window holds one class (a = 0) or the frame has no detail, q is exactly the bilinear score:
unlike the plain guided filter's ``A * I + B``, nothing is smoothed where the guide gives no reason.
The filter is linear, so scores summing to one still do. Full-resolution work is a class at a time
(a few (H, W) arrays), never the (C, H, W) stack: a 720p frame of 12 classes would be 44 MB.

Radius and eps were chosen on CamVid train (every 6th frame), not on the clip the README reports:
grey and colour guides tie there, grey is a third of the cost (benchmarks/bench_resolution_ceiling.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

UPSAMPLINGS = ("bilinear", "guided")
"""How delivered scores reach full resolution: bilinear, or guided by the frame."""


@dataclass(frozen=True)
class GuidedFilter:
    radius: int = 1
    """Window radius at the scores' resolution (1: 3x3 windows)."""
    eps: float = 0.01
    """Regularisation of the fit, in squared guide units (guide in [0, 1]): detail whose variance in
    a window is well below it moves no class score, so noise and texture do not make labels."""

    def validate(self) -> None:
        if self.radius < 1:
            raise ValueError(f"radius must be >= 1 low-resolution pixel, got {self.radius}")
        if self.eps <= 0:
            raise ValueError(f"eps must be > 0, got {self.eps}")


def check_upsampling(name: str) -> str:
    if name not in UPSAMPLINGS:
        raise ValueError(f"upsampling must be one of {', '.join(UPSAMPLINGS)}, got {name!r}")
    return name


def grey_guide(frame: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H, W) float32 intensity in [0, 1]."""
    frame = np.ascontiguousarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"a guide frame must be (H, W, 3), got {frame.shape}")
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0


def _resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear to (H, W) as torch's align_corners=False, area-averaged when shrinking."""
    if image.shape[:2] == tuple(size):
        return image
    shrink = size[0] < image.shape[0] or size[1] < image.shape[1]
    return cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def frame_at(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A frame (H, W, 3) uint8 at ``size`` (h, w), area-averaged: the guide of an intermediate resolution."""
    return _resize(np.ascontiguousarray(frame), size)


def _box(image: np.ndarray, radius: int) -> np.ndarray:
    """Mean over (2r+1)^2 windows, per channel; mirrored at the border."""
    return cv2.boxFilter(image, -1, (2 * radius + 1, 2 * radius + 1), borderType=cv2.BORDER_REFLECT)


def guided_slopes(values: np.ndarray, guide_low: np.ndarray, config: GuidedFilter = GuidedFilter()) -> np.ndarray:
    """(C, h, w) float32: per class, the slope ``a`` of its scores ``values`` (C, h, w) against the guide
    ``guide_low`` (h, w) float32 (the guide at the scores' resolution), fitted in every window and
    averaged over the windows covering each pixel (He et al.). 0 where a window holds one class."""
    config.validate()
    p = np.ascontiguousarray(np.moveaxis(np.asarray(values, np.float32), 0, -1))  # (h, w, C): OpenCV channels
    if p.shape[:2] != guide_low.shape:
        raise ValueError(f"scores {p.shape[:2]} and low-resolution guide {guide_low.shape} differ in size")
    r = config.radius
    guide = guide_low.astype(np.float32)
    mean_i, mean_ii = _box(guide, r), _box(guide * guide, r)
    mean_p, mean_ip = _box(p, r).reshape(p.shape), _box(p * guide[..., None], r).reshape(p.shape)
    variance = (mean_ii - mean_i * mean_i)[..., None]
    a = (mean_ip - mean_i[..., None] * mean_p) / (variance + config.eps)
    return np.ascontiguousarray(np.moveaxis(_box(a, r).reshape(p.shape), -1, 0))


def _guided_scores(values: np.ndarray, frame: np.ndarray, config: GuidedFilter):
    """(scores(c) -> (H, W) float32, the guide (H, W)): class c's scores bilinearly enlarged plus its
    slope times the detail the full-resolution guide holds beyond its own bilinear enlargement."""
    values = np.asarray(values, np.float32)
    guide = grey_guide(frame)
    size = guide.shape
    guide_low = _resize(guide, values.shape[1:])
    slopes = guided_slopes(values, guide_low, config)
    detail = guide - _resize(guide_low, size)

    def score(c: int) -> np.ndarray:
        slope = slopes[c]
        out = _resize(slope, size)
        if out is slope:  # already at the guide's size: do not overwrite the slopes
            out = out.copy()
        np.multiply(out, detail, out=out)
        return np.add(out, _resize(values[c], size), out=out)

    return score, size


def guided_upsample(values: np.ndarray, frame: np.ndarray, config: GuidedFilter = GuidedFilter()) -> np.ndarray:
    """Scores (C, h, w) brought to ``frame``'s resolution (H, W, 3) uint8, guided by it: (C, H, W) float32.
    For intermediate resolutions (the whole stack is returned); see `guided_argmax` for labels."""
    score, _ = _guided_scores(values, frame, config)
    return np.stack([score(c) for c in range(len(values))])


def guided_argmax(values: np.ndarray, frame: np.ndarray, unknown: int = -1,
                  config: GuidedFilter = GuidedFilter()) -> np.ndarray:
    """Per pixel of ``frame`` (H, W, 3) uint8, the largest class of scores ``values`` (C, h, w) >= 0
    upsampled guided by the frame; ``unknown`` where no score reaches (all four bilinear taps 0), as
    `inference.upsampled_argmax`. (H, W) int32; memory: a few (H, W) arrays whatever C is."""
    values = np.asarray(values, np.float32)
    score, size = _guided_scores(values, frame, config)
    best = np.full(size, -np.inf, np.float32)
    out = np.zeros(size, np.int32)
    for c in range(values.shape[0]):
        current = score(c)
        out[current > best] = c
        np.maximum(best, current, out=best)
    reached = _resize((values.sum(axis=0) > 0).astype(np.float32), size) > 0
    return np.where(reached, out, unknown).astype(np.int32)
