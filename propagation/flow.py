"""Optical flow (OpenCV DIS) with forward-backward occlusion masks, caching, and warping.

Conventions (docs/architecture.md): ``forward[t]`` maps frame t to t+1, ``backward[t]`` maps t+1
to t, channel 0 = dx, 1 = dy, in pixels of the map it belongs to. Warping pulls:
``warp(v, flow)(x) = v(x + flow(x))``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .flow_presets import DEFAULT_PRESET, PRESETS, check_preset
from .labels import UNKNOWN
from .ondisk import DiskArray, Scratch, in_memory

# Forward-backward consistency (Sundaram, Brox, Keutzer 2010): consistent when
# |f(x) + b(x + f(x))|^2 < ALPHA (|f(x)|^2 + |b(x + f(x))|^2) + BETA.
ALPHA, BETA = 0.01, 0.5


@dataclass
class Flows:
    """Flows of one video at resolution ``(h, w)``.

    forward, backward: ``(F-1, 2, h, w)`` float16. valid_forward, valid_backward: ``(F-1, h, w)``
    bool, True where the flow lands inside the image and passes the forward-backward check
    (False at occlusions and at borders the motion uncovers). Numpy arrays or DiskArrays.
    """

    forward: np.ndarray
    backward: np.ndarray
    valid_forward: np.ndarray
    valid_backward: np.ndarray

    def __post_init__(self) -> None:
        n, _, h, w = self.forward.shape
        if self.backward.shape != self.forward.shape or self.forward.shape[1] != 2:
            raise ValueError(f"flows must both be (F-1, 2, h, w), got {self.forward.shape}, {self.backward.shape}")
        for name in ("valid_forward", "valid_backward"):
            if getattr(self, name).shape != (n, h, w):
                raise ValueError(f"{name} must be {(n, h, w)}, got {getattr(self, name).shape}")

    def __len__(self) -> int:
        return self.forward.shape[0]

    @property
    def size(self) -> tuple[int, int]:
        """``(h, w)``."""
        return tuple(self.forward.shape[-2:])


def _gray(frame: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    gray = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)
    if size is not None and gray.shape != tuple(size):
        h, w = size
        shrink = h < gray.shape[0] or w < gray.shape[1]
        gray = cv2.resize(gray, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return gray


def _pixel_grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    return np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))


def consistency_mask(flow: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Validity ``(h, w)`` bool of ``flow`` ``(2, h, w)`` given the reverse flow ``other`` ``(2, h, w)``."""
    _, h, w = flow.shape
    gx, gy = _pixel_grid(h, w)
    tx, ty = gx + flow[0], gy + flow[1]
    back = cv2.remap(np.ascontiguousarray(other.transpose(1, 2, 0)), tx, ty, cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)
    bx, by = back[..., 0], back[..., 1]
    err = (flow[0] + bx) ** 2 + (flow[1] + by) ** 2
    bound = ALPHA * (flow[0] ** 2 + flow[1] ** 2 + bx**2 + by**2) + BETA
    return lands_inside(flow) & (err < bound)


def lands_inside(flow: np.ndarray) -> np.ndarray:
    """``(h, w)`` bool: where the pull flow ``(2, h, w)`` points at a pixel inside the image."""
    _, h, w = flow.shape
    gx, gy = _pixel_grid(h, w)
    tx, ty = gx + flow[0], gy + flow[1]
    return (tx >= 0) & (tx <= w - 1) & (ty >= 0) & (ty <= h - 1)


FLOW_FIELDS = ("forward", "backward", "valid_forward", "valid_backward")


def _dis(preset: str):
    base, finest = PRESETS[check_preset(preset)]
    dis = cv2.DISOpticalFlow_create(base)
    if finest is not None:
        dis.setFinestScale(finest)
    return dis


def compute_flows(frames, size: tuple[int, int] | None = None, preset: str = DEFAULT_PRESET,
                  scratch: Scratch = in_memory, progress: Callable[[int, int], None] | None = None,
                  reuse: tuple[Flows, dict[int, int]] | None = None) -> Flows:
    """DIS flow between consecutive frames ``(F, H, W, 3)`` uint8, on grayscale at ``size`` (h, w),
    with the settings named ``preset`` (`PRESETS`).

    frames: an array or any per-frame sequence with ``shape`` (read one frame at a time). The four
    arrays come from ``scratch`` (named as `FLOW_FIELDS`), so on disk a long video's flows never sit
    in memory. ``size=None`` keeps the frame resolution. A single frame gives empty flows
    ``(0, 2, h, w)``. progress(done, total) after each frame pair. reuse: ``(flows, {t: j})``, pair
    t of these frames is pair j of ``flows`` (the same two frames, at ``size``): copied, not computed.
    """
    if len(frames.shape) != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be (F, H, W, 3), got {frames.shape}")
    dis = _dis(preset)
    h, w = size if size is not None else frames.shape[1:3]
    n = max(len(frames) - 1, 0)
    shapes = {"forward": ((n, 2, h, w), np.float16), "backward": ((n, 2, h, w), np.float16),
              "valid_forward": ((n, h, w), bool), "valid_backward": ((n, h, w), bool)}
    out = Flows(**{name: scratch(name, *shapes[name]) for name in FLOW_FIELDS})
    known, same = reuse if reuse is not None else (None, {})
    prev = None  # frame t in grey, read only when pair t is computed
    for t in range(n):
        if t in same:
            for name in FLOW_FIELDS:
                getattr(out, name)[t] = getattr(known, name)[same[t]]
            prev = None
        else:
            prev = _gray(frames[t], (h, w)) if prev is None else prev
            nxt = _gray(frames[t + 1], (h, w))
            fwd = dis.calc(prev, nxt, None).transpose(2, 0, 1)
            bwd = dis.calc(nxt, prev, None).transpose(2, 0, 1)
            out.forward[t], out.backward[t] = fwd, bwd
            out.valid_forward[t] = consistency_mask(fwd, bwd)
            out.valid_backward[t] = consistency_mask(bwd, fwd)
            prev = nxt
        if progress is not None:
            progress(t + 1, n)
    return out


def open_flows(folder: str | os.PathLike) -> Flows:
    """Flows computed with ``scratch=on_disk(folder)``, read a frame at a time. Missing:
    FileNotFoundError; torn or inconsistent: ValueError."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"flows {folder} not found")
    return Flows(**{name: DiskArray.open(folder / f"{name}.npy") for name in FLOW_FIELDS})


def labels_matching_flows(labels, flows: Flows):
    """``labels`` checked to be a video (F, h, w) that ``flows`` can carry (F-1 flows at the labels'
    resolution); a ValueError that says what to fix otherwise. Arrays and SparseLabels pass as they are."""
    if isinstance(labels, list | tuple):
        labels = np.asarray(labels)
    if len(labels.shape) != 3:
        raise ValueError(f"labels must be (F, h, w), got {labels.shape}")
    if len(labels) > 1 and (len(flows) != len(labels) - 1 or flows.size != tuple(labels.shape[1:])):
        raise ValueError(f"flows {flows.forward.shape} do not match labels {labels.shape} "
                         "(need F-1 flows at the labels' resolution; see resize_flows)")
    return labels


def warp(values: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Bilinear pull warp: ``out[n, :, y, x] = values[n, :, y + dy, x + dx]``.

    values ``(N, C, H, W)``, flow ``(N, 2, H, W)`` in pixels -> ``(N, C, H, W)``. Samples outside the
    image take the border value (mask them with the flow's validity).
    """
    n, _, h, w = values.shape
    flow = flow.to(dtype=values.dtype, device=values.device)
    ys = torch.arange(h, dtype=values.dtype, device=values.device).view(1, h, 1)
    xs = torch.arange(w, dtype=values.dtype, device=values.device).view(1, 1, w)
    # align_corners=True maps -1/+1 to the centres of the corner pixels, i.e. pixel coordinates 0 and W-1.
    gx = (xs + flow[:, 0]) * (2.0 / max(w - 1, 1)) - 1.0
    gy = (ys + flow[:, 1]) * (2.0 / max(h - 1, 1)) - 1.0
    grid = torch.stack((gx, gy), dim=-1)
    return F.grid_sample(values, grid, mode="bilinear", padding_mode="border", align_corners=True)


def warp_labels(labels: np.ndarray, flow: np.ndarray, fill: int = UNKNOWN) -> np.ndarray:
    """Nearest pull warp of an integer map ``(H, W)`` by ``flow`` ``(2, H, W)``; outside -> ``fill``."""
    h, w = labels.shape
    gx, gy = _pixel_grid(h, w)
    mx = (gx + flow[0]).astype(np.float32)
    my = (gy + flow[1]).astype(np.float32)
    out = cv2.remap(labels.astype(np.int32), mx, my, cv2.INTER_NEAREST,
                    borderMode=cv2.BORDER_CONSTANT, borderValue=int(fill))
    return out.astype(labels.dtype if np.issubdtype(labels.dtype, np.signedinteger) else np.int32)


def resize_flow(flow: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize flow ``(..., 2, H, W)`` to ``(..., 2, h, w)``, scaling dx by w/W and dy by h/H."""
    h, w = size
    H, W = flow.shape[-2:]
    if (H, W) == (h, w):
        return flow
    flat = flow.reshape(-1, H, W).astype(np.float32)
    interp = cv2.INTER_AREA if h < H or w < W else cv2.INTER_LINEAR
    out = np.stack([cv2.resize(c, (w, h), interpolation=interp) for c in flat]) if len(flat) else \
        np.zeros((0, h, w), np.float32)
    out = out.reshape(*flow.shape[:-2], h, w)
    out[..., 0, :, :] *= w / W
    out[..., 1, :, :] *= h / H
    return out.astype(flow.dtype)


def resize_nearest(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest resize of any map ``(..., H, W)`` (labels, masks) to ``(..., h, w)``; keeps values exactly."""
    h, w = size
    H, W = array.shape[-2:]
    if (H, W) == (h, w):
        return array
    rows = np.minimum(((np.arange(h) + 0.5) * H / h).astype(int), H - 1)
    cols = np.minimum(((np.arange(w) + 0.5) * W / w).astype(int), W - 1)
    return array[..., rows[:, None], cols[None, :]]


def resize_flows(flows: Flows, size: tuple[int, int], scratch: Scratch = in_memory) -> Flows:
    """All of ``flows`` at ``size`` ``(h, w)`` (vectors rescaled, masks nearest), a frame at a time
    into arrays from ``scratch``."""
    if flows.size == tuple(size):
        return flows
    n, (h, w) = len(flows), size
    out = Flows(scratch("forward", (n, 2, h, w), np.float16), scratch("backward", (n, 2, h, w), np.float16),
                scratch("valid_forward", (n, h, w), bool), scratch("valid_backward", (n, h, w), bool))
    for t in range(n):
        out.forward[t] = resize_flow(flows.forward[t], size)
        out.backward[t] = resize_flow(flows.backward[t], size)
        out.valid_forward[t] = resize_nearest(flows.valid_forward[t], size)
        out.valid_backward[t] = resize_nearest(flows.valid_backward[t], size)
    return out
