"""Human labels of a video as a few labelled frames among many: a long video's label maps are
mostly UNKNOWN, so only the frames that hold a label are kept."""

from __future__ import annotations

import numpy as np

from .flow import resize_nearest
from .labels import UNKNOWN


def shrink_label_map(labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest resize of one label map ``(H, W)`` to ``(h, w)`` (a new array); UNKNOWN stays UNKNOWN.

    No labelled pixel is lost: a cell whose nearest sample is UNKNOWN takes a known label from
    inside it, so sparse labels (single clicked pixels) survive the shrink.
    """
    out = np.array(resize_nearest(labels, size))
    if out.shape == labels.shape:
        return out
    (h, w), (H, W) = size, labels.shape
    rows, cols = np.nonzero(labels != UNKNOWN)
    r, c = rows * h // H, cols * w // W
    lost = out[r, c] == UNKNOWN
    out[r[lost], c[lost]] = labels[rows[lost], cols[lost]]
    return out


class SparseLabels:
    """Label maps (F, H, W) of which only ``maps`` (frame -> (H, W)) hold labels; every other frame
    reads as UNKNOWN. Indexes like an array: ``labels[t]``, ``labels[i:j]``, ``labels[[i, j]]``."""

    def __init__(self, n_frames: int, size: tuple[int, int], maps: dict[int, np.ndarray] | None = None,
                 dtype=np.int16):
        self.shape = (int(n_frames), int(size[0]), int(size[1]))
        self.dtype = np.dtype(dtype)
        self.maps: dict[int, np.ndarray] = {}
        for frame, label_map in (maps or {}).items():
            self[frame] = label_map

    @classmethod
    def from_dense(cls, labels) -> SparseLabels:
        """The labelled frames of an (F, H, W) array (or another SparseLabels, returned as is)."""
        if isinstance(labels, SparseLabels):
            return labels
        labels = np.asarray(labels)
        if labels.ndim != 3:
            raise ValueError(f"labels must be (F, H, W), got {labels.shape}")
        sparse = cls(len(labels), labels.shape[1:], dtype=labels.dtype)
        for frame in np.flatnonzero((labels != UNKNOWN).any(axis=(1, 2))):
            sparse.maps[int(frame)] = labels[frame].copy()
        return sparse

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def ndim(self) -> int:
        return 3

    @property
    def size(self) -> tuple[int, int]:
        return self.shape[1:]

    def __setitem__(self, frame: int, label_map: np.ndarray) -> None:
        """Set one frame's map; a map with no label removes the frame."""
        label_map = np.asarray(label_map)
        if label_map.shape != self.size:
            raise ValueError(f"frame {frame}: label map {label_map.shape} does not match the video's {self.size}")
        frame = int(frame)
        if not 0 <= frame < len(self):
            raise IndexError(f"frame {frame} is outside 0..{len(self) - 1}")
        if (label_map != UNKNOWN).any():
            self.maps[frame] = label_map.astype(self.dtype)
        else:
            self.maps.pop(frame, None)

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            frame = int(key) % len(self) if -len(self) <= int(key) < len(self) else None
            if frame is None:
                raise IndexError(f"frame {key} is outside 0..{len(self) - 1}")
            found = self.maps.get(frame)
            return found.copy() if found is not None else np.full(self.size, UNKNOWN, self.dtype)
        frames = np.arange(len(self))[key]
        out = np.full((len(frames), *self.size), UNKNOWN, self.dtype)
        for i, frame in enumerate(frames):
            if int(frame) in self.maps:
                out[i] = self.maps[int(frame)]
        return out

    @property
    def known_frames(self) -> np.ndarray:
        """Sorted indices of the frames that hold a label."""
        return np.array(sorted(self.maps), dtype=np.int64)

    def labelled_frames(self) -> np.ndarray:
        """(F,) bool: frames that hold a label."""
        out = np.zeros(len(self), bool)
        out[self.known_frames] = True
        return out

    def any_known(self) -> bool:
        return bool(self.maps)

    def resized(self, size: tuple[int, int]) -> SparseLabels:
        """The same labels at ``size`` (h, w), no labelled pixel lost (`shrink_label_map`)."""
        if tuple(size) == self.size:
            return self
        return SparseLabels(len(self), size, {t: shrink_label_map(m, size) for t, m in self.maps.items()},
                            self.dtype)

    def dense(self) -> np.ndarray:
        """All frames as one (F, H, W) array (short videos only)."""
        return self[:]
