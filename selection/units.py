"""Sample units: the pieces of a video an annotator labels (frames, rectangles, superpixels, pixels).

A video has F frames of H x W pixels (full image resolution). A sample is a set of pixels of one
frame; its id is global over the video, int64, frame-major: the ids of frame f are
``offsets[f] .. offsets[f+1]-1``. Every unit kind answers the same questions (``segment_map``,
``frame_of``, ``sample_ids``, ``mask``), and ``pool_per_sample`` reduces any per-pixel map, at any
resolution, to one value per sample.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .errors import SelectionError


class SampleUnits:
    """Common behaviour; subclasses define ``kind``, ``offsets`` and ``local_map``."""

    kind: str = ""
    static_layout: bool = False  # True when every frame has the same local map (pooling can be cached)

    def __init__(self, n_frames: int, height: int, width: int, per_frame_counts):
        """``per_frame_counts``: number of samples in each frame, (F,) or one int for all frames."""
        if n_frames < 1 or height < 1 or width < 1:
            raise SelectionError(f"a video needs n_frames, height, width >= 1, "
                                 f"got {n_frames}, {height}, {width}")
        self.n_frames, self.height, self.width = int(n_frames), int(height), int(width)
        counts = np.broadcast_to(np.asarray(per_frame_counts, dtype=np.int64), (self.n_frames,))
        self.offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        """(F+1,) int64: first sample id of each frame; offsets[-1] == n_samples."""

    @property
    def n_samples(self) -> int:
        return int(self.offsets[-1])

    def __repr__(self) -> str:
        size = f"{self.n_frames} frames of {self.height}x{self.width}"
        return f"{type(self).__name__}({size}, {self.n_samples} samples)"

    def _check_frame(self, frame: int) -> int:
        if not 0 <= frame < self.n_frames:
            raise SelectionError(f"frame {frame} is outside 0..{self.n_frames - 1}")
        return int(frame)

    def local_map(self, frame: int) -> np.ndarray:
        """(H, W) int64 ids local to ``frame`` (0-based), -1 where no sample."""
        raise NotImplementedError

    def grid_axes(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``(row_of_y (H,), col_of_x (W,))`` when every pixel lies in a grid cell (local id =
        row * n_cols + col), so pooling is two small matrix products; None otherwise."""
        return None

    def segment_map(self, frame: int) -> np.ndarray:
        """(H, W) int64 global sample ids of ``frame``, -1 where no sample."""
        local = self.local_map(self._check_frame(frame))
        return np.where(local >= 0, local + self.offsets[frame], -1)

    def frame_of(self, ids) -> np.ndarray:
        """Frame index (int64) of each sample id; same shape as ``ids``."""
        ids = np.asarray(ids, dtype=np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= self.n_samples):
            raise SelectionError(f"sample ids must lie in 0..{self.n_samples - 1}")
        return np.searchsorted(self.offsets, ids, side="right") - 1

    def sample_ids(self, frame: int) -> np.ndarray:
        """(n,) int64 ids of the samples that live in ``frame``."""
        frame = self._check_frame(frame)
        return np.arange(self.offsets[frame], self.offsets[frame + 1], dtype=np.int64)

    def mask(self, sample_id: int) -> tuple[int, np.ndarray]:
        """``(frame, (H, W) bool)``: the pixels of one sample."""
        frame = int(self.frame_of(sample_id))
        return frame, self.local_map(frame) == sample_id - self.offsets[frame]


class FrameUnits(SampleUnits):
    """One sample per frame; sample id == frame index."""

    kind = "frame"
    static_layout = True

    def __init__(self, n_frames: int, height: int, width: int):
        super().__init__(n_frames, height, width, 1)

    def local_map(self, frame: int) -> np.ndarray:
        return np.zeros((self.height, self.width), dtype=np.int64)

    def grid_axes(self) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(self.height, dtype=np.int64), np.zeros(self.width, dtype=np.int64)

    def mask(self, sample_id: int) -> tuple[int, np.ndarray]:
        return int(self.frame_of(sample_id)), np.ones((self.height, self.width), dtype=bool)


class RectangleUnits(SampleUnits):
    """A grid of ``size`` x ``size`` px cells per frame (partial cells at the right and bottom edges).

    Ids are frame-major, then raster order over cells; maps are computed, not stored.
    """

    kind = "rectangle"
    static_layout = True

    def __init__(self, n_frames: int, height: int, width: int, size: int = 16):
        if size < 1:
            raise SelectionError(f"rectangle size must be >= 1 px, got {size}")
        self.size = int(size)
        self.n_rows, self.n_cols = -(-height // size), -(-width // size)
        super().__init__(n_frames, height, width, self.n_rows * self.n_cols)

    def grid_axes(self) -> tuple[np.ndarray, np.ndarray]:
        return np.arange(self.height) // self.size, np.arange(self.width) // self.size

    def local_map(self, frame: int) -> np.ndarray:
        rows, cols = self.grid_axes()
        return rows[:, None] * self.n_cols + cols[None, :]

    def box(self, sample_id: int) -> tuple[int, int, int, int, int]:
        """``(frame, y0, x0, y1, x1)`` of one cell, end-exclusive."""
        frame = int(self.frame_of(sample_id))
        row, col = divmod(int(sample_id - self.offsets[frame]), self.n_cols)
        y0, x0 = row * self.size, col * self.size
        return frame, y0, x0, min(y0 + self.size, self.height), min(x0 + self.size, self.width)

    def mask(self, sample_id: int) -> tuple[int, np.ndarray]:
        frame, y0, x0, y1, x1 = self.box(sample_id)
        out = np.zeros((self.height, self.width), dtype=bool)
        out[y0:y1, x0:x1] = True
        return frame, out


class SuperpixelUnits(SampleUnits):
    """Per-frame superpixels from (F, H, W) integer local labels (negative = no sample): an array, or
    one read a frame at a time (e.g. on disk), kept by reference so its maps are never all in memory.

    Local labels are relabelled to be contiguous per frame (a small lookup table per frame), then
    offset to global ids.
    """

    kind = "superpixel"

    def __init__(self, segments):
        shape, dtype = tuple(segments.shape), np.dtype(segments.dtype)
        if len(shape) != 3 or not np.issubdtype(dtype, np.integer):
            raise SelectionError(f"segments must be an integer (F, H, W) array, got {dtype} {shape}")
        self._segments = segments
        self._lookup = []  # per frame: old label -> rank among the labels present
        for f in range(shape[0]):
            seg = np.asarray(segments[f])
            labels = seg[seg >= 0].astype(np.int64)
            present = np.bincount(labels) > 0 if labels.size else np.zeros(0, bool)
            self._lookup.append(np.cumsum(present) - 1)
        super().__init__(*shape, [int(lut[-1]) + 1 if lut.size else 0 for lut in self._lookup])

    def local_map(self, frame: int) -> np.ndarray:
        seg = np.asarray(self._segments[frame])
        out = np.full(seg.shape, -1, dtype=np.int64)
        valid = seg >= 0
        out[valid] = self._lookup[frame][seg[valid]]
        return out


class PixelUnits(SampleUnits):
    """Single-pixel candidates on a regular grid: rows/cols ``stride//2, stride//2 + stride, ...``."""

    kind = "pixel"
    static_layout = True

    def __init__(self, n_frames: int, height: int, width: int, stride: int = 8):
        if stride < 1:
            raise SelectionError(f"pixel stride must be >= 1, got {stride}")
        self.stride = int(stride)
        # Small images still get candidates: start no further in than the middle row/column.
        self.ys = np.arange(min(stride // 2, (height - 1) // 2), height, stride, dtype=np.int64)
        self.xs = np.arange(min(stride // 2, (width - 1) // 2), width, stride, dtype=np.int64)
        super().__init__(n_frames, height, width, len(self.ys) * len(self.xs))

    def local_map(self, frame: int) -> np.ndarray:
        out = np.full((self.height, self.width), -1, dtype=np.int64)
        out[np.ix_(self.ys, self.xs)] = np.arange(len(self.ys) * len(self.xs)).reshape(len(self.ys), -1)
        return out

    def pixel_of(self, ids) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(frames, ys, xs)`` int64 arrays: where each candidate pixel sits."""
        frames = self.frame_of(ids)
        row, col = np.divmod(np.asarray(ids, dtype=np.int64) - self.offsets[frames], len(self.xs))
        return frames, self.ys[row], self.xs[col]

    def mask(self, sample_id: int) -> tuple[int, np.ndarray]:
        frame, y, x = (int(v) for v in self.pixel_of(sample_id))
        out = np.zeros((self.height, self.width), dtype=bool)
        out[y, x] = True
        return frame, out


def _axis_weights(group_of: np.ndarray, n_low: int) -> np.ndarray:
    """(n_groups, n_low) float32: how many full-res rows (or columns) of each group read each low-res one."""
    out = np.zeros((int(group_of.max()) + 1, n_low), dtype=np.float32)
    np.add.at(out, (group_of, np.arange(len(group_of)) * n_low // len(group_of)), 1.0)
    return out


def _pooling_plan(local: np.ndarray, h: int, w: int):
    """Group the pixels of a (H, W) local map by (sample, low-res pixel) so pooling is a gather + reduce.

    Returns ``(present, starts, low_index, weight, n_pixels)``: local ids present, start of each
    sample's run in the pair arrays, the flat low-res index and pixel count of each pair, and each
    present sample's pixel count.
    """
    H, W = local.shape
    low = ((np.arange(H) * h // H)[:, None] * w + (np.arange(W) * w // W)[None, :]).ravel()
    seg = local.ravel()
    keep = np.flatnonzero(seg >= 0)
    # A stable int32 argsort (radix) groups pixels by sample in raster order; neighbours along a row
    # usually read the same low-res pixel, so run-length encoding shrinks the gather.
    order = keep[np.argsort(seg[keep].astype(np.int32), kind="stable")]
    key = seg[order] * (h * w) + low[order]
    if key.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty, np.zeros(0, np.float32), empty
    runs = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    weight = np.diff(np.r_[runs, key.size])
    pair_seg, low_index = np.divmod(key[runs], h * w)
    starts = np.flatnonzero(np.r_[True, pair_seg[1:] != pair_seg[:-1]])
    return pair_seg[starts], starts, low_index, weight.astype(np.float32), np.add.reduceat(weight, starts)


def pool_per_sample(units: SampleUnits, values: np.ndarray | None = None,
                    frame_values: Callable[[int], np.ndarray] | None = None) -> np.ndarray:
    """Mean of a per-pixel map over each sample's pixels.

    ``values`` is (F, D, h, w) or (F, h, w) at any resolution; alternatively ``frame_values(f)``
    returns one frame's (D, h, w) or (h, w) map, so callers can compute maps lazily frame by frame.
    Full-resolution pixel (y, x) reads low-res pixel (y*h//H, x*w//W) (nearest).
    Returns (N, D) or (N,) float32; a sample with no pixels gets 0.
    """
    if (values is None) == (frame_values is None):
        raise SelectionError("pass exactly one of values (F, D, h, w) or frame_values (a callable)")
    if values is not None:
        if values.ndim not in (3, 4) or len(values) != units.n_frames:
            raise SelectionError(f"values must be (F, D, h, w) or (F, h, w) with F={units.n_frames}, "
                                 f"got shape {values.shape}")

        def frame_values(f: int) -> np.ndarray:
            return values[f]

    grid = units.grid_axes()
    out, plan, plan_shape, squeeze = None, None, None, False
    for f in range(units.n_frames):
        v = np.asarray(frame_values(f))
        if out is None:
            squeeze = v.ndim == 2
            out = np.zeros((units.n_samples, 1 if squeeze else v.shape[0]), dtype=np.float32)
        h, w = v.shape[-2:]
        v = v.reshape(out.shape[1], h, w).astype(np.float32, copy=False)
        lo, hi = units.offsets[f], units.offsets[f + 1]
        if grid is not None:
            # Separable layout: per-sample sums are rows @ v @ cols.T, two small matrix products.
            if plan is None or plan_shape != (h, w):
                rows, cols = _axis_weights(grid[0], h), _axis_weights(grid[1], w)
                plan, plan_shape = (rows, cols.T, np.outer(rows.sum(1), cols.sum(1)).ravel()), (h, w)
            rows, cols_t, n_pixels = plan
            sums = (rows @ v @ cols_t).reshape(len(v), -1)
            out[lo:hi] = (sums / n_pixels).T
            continue
        if plan is None or not units.static_layout or plan_shape != (h, w):
            plan, plan_shape = _pooling_plan(units.local_map(f), h, w), (h, w)
        present, starts, low_index, weight, n_pixels = plan
        if present.size:
            sums = np.add.reduceat(v.reshape(len(v), -1)[:, low_index] * weight, starts, axis=1)
            out[lo + present] = (sums / n_pixels).T
    return out[:, 0] if squeeze else out
