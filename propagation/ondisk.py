"""Per-frame arrays of a video that live on disk, so a round's memory does not grow with the video.

A `DiskArray` is a standard ``.npy`` file (``np.load`` reads it) that is read and written one frame
(first-axis slice) at a time with ``pread``/``pwrite``. It is never memory-mapped: pages of a
mapping count in the process's resident memory until the kernel evicts them, while reads go
through the page cache, which the kernel gives back whenever it needs to.

A round allocates its per-frame arrays through a `Scratch`: `in_memory` (numpy arrays, for short
videos and tests) or `on_disk(folder)` (DiskArrays, for the worker). The cores index both alike:
``a[t]``, ``a[i:j]``, ``a[[i, j]]``, ``a[t] = frame``, ``len(a)``, ``a.shape``, ``a.dtype``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

Scratch = Callable[[str, tuple[int, ...], np.dtype], "np.ndarray | DiskArray"]
"""scratch(name, shape, dtype) -> a zero-filled array (numpy or DiskArray) the caller owns."""


def in_memory(name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
    """The in-memory scratch: plain zero-filled numpy arrays."""
    return np.zeros(shape, dtype)


def on_disk(folder: str | os.PathLike) -> Scratch:
    """A scratch whose arrays are ``folder/<name>.npy`` DiskArrays (replaced if they exist)."""
    folder = Path(folder)

    def allocate(name: str, shape: tuple[int, ...], dtype) -> DiskArray:
        return DiskArray.create(folder / f"{name}.npy", shape, dtype)

    return allocate


class DiskArray:
    """An ``.npy`` file of shape (F, ...) read and written a frame at a time."""

    def __init__(self, path: Path, shape: tuple[int, ...], dtype: np.dtype, offset: int, writable: bool):
        self.path, self.shape, self.dtype, self._offset = Path(path), tuple(shape), np.dtype(dtype), offset
        self.writable = writable
        self._frame_shape = self.shape[1:]
        self._frame_bytes = int(np.prod(self._frame_shape, dtype=np.int64)) * self.dtype.itemsize
        self._fd: int | None = os.open(self.path, os.O_RDWR if writable else os.O_RDONLY)

    @classmethod
    def create(cls, path: str | os.PathLike, shape: Iterable[int], dtype) -> DiskArray:
        """A new zero-filled file (sparse: unwritten frames take no disk space)."""
        path, shape, dtype = Path(path), tuple(int(n) for n in shape), np.dtype(dtype)
        if len(shape) < 1 or min(shape, default=0) < 0:
            raise ValueError(f"a disk array needs a shape (F, ...) of non-negative sizes, got {shape}")
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as file:
            np.lib.format.write_array_header_2_0(file, {"descr": np.lib.format.dtype_to_descr(dtype),
                                                        "fortran_order": False, "shape": shape})
            offset = file.tell()
            file.truncate(offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize)
        return cls(path, shape, dtype, offset, writable=True)

    @classmethod
    def open(cls, path: str | os.PathLike, writable: bool = False) -> DiskArray:
        """An existing ``.npy`` file; ValueError when it is not a complete C-ordered array."""
        path = Path(path)
        with open(path, "rb") as file:
            try:
                version = np.lib.format.read_magic(file)
                shape, fortran, dtype = np.lib.format._read_array_header(file, version)
            except Exception as error:  # a torn or foreign file: the caller recomputes
                raise ValueError(f"{path} is not an .npy array ({error})") from error
            offset = file.tell()
        expected = offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if fortran or dtype.hasobject or not shape or path.stat().st_size != expected:
            raise ValueError(f"{path} is not a complete C-ordered array of plain values")
        return cls(path, shape, dtype, offset, writable)

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def nbytes(self) -> int:
        return self._frame_bytes * len(self)

    def __getitem__(self, key):
        rest = ()
        if isinstance(key, tuple):
            key, rest = key[0], key[1:]
        if isinstance(key, (int, np.integer)):
            out = self._read(self._index(key), 1)[0]
            return out[rest] if rest else out
        if isinstance(key, slice) and key.step in (None, 1):
            start, stop, _ = key.indices(len(self))
            out = self._read(start, max(stop - start, 0))
        else:
            frames = np.arange(len(self))[key] if isinstance(key, slice) else np.asarray(key).reshape(-1)
            out = np.empty((len(frames), *self._frame_shape), self.dtype)
            for i, t in enumerate(frames):
                out[i] = self._read(self._index(t), 1)[0]
        return out[(slice(None), *rest)] if rest else out

    def __setitem__(self, key, value) -> None:
        if not self.writable:
            raise PermissionError(f"{self.path} was opened read-only")
        if isinstance(key, (int, np.integer)):
            start, count = self._index(key), 1
        elif isinstance(key, slice) and key.step in (None, 1):
            start, stop, _ = key.indices(len(self))
            count = max(stop - start, 0)
        else:
            raise TypeError("a disk array is written by frame index or by a contiguous slice")
        data = np.ascontiguousarray(np.broadcast_to(np.asarray(value, self.dtype), (count, *self._frame_shape)))
        os.pwrite(self._fd, memoryview(data).cast("B"), self._offset + start * self._frame_bytes)

    def _index(self, t) -> int:
        t = int(t)
        if not -len(self) <= t < len(self):
            raise IndexError(f"frame {t} is outside a disk array of {len(self)} frames")
        return t % len(self)

    def _read(self, start: int, count: int) -> np.ndarray:
        out = np.empty((count, *self._frame_shape), self.dtype)
        if count and self._frame_bytes:
            done = os.preadv(self._fd, [memoryview(out).cast("B")], self._offset + start * self._frame_bytes)
            if done != out.nbytes:
                raise OSError(f"{self.path}: short read at frame {start} (the file was truncated)")
        return out

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"DiskArray({self.path}, shape={self.shape}, dtype={self.dtype})"
