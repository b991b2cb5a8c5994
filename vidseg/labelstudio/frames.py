"""Frames of a video's tasks, fetched through Label Studio once and cached on disk."""

from __future__ import annotations

import hashlib
import io
import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from vidseg.atomic import atomic_write_bytes


class FrameError(ValueError):
    """A frame cannot be used; the message names the task and what is wrong with its image."""


def decode_frame(data: bytes, where: str, max_pixels: int | None = None) -> np.ndarray:
    """(H, W, 3) uint8 RGB from encoded image bytes, refusing more than `max_pixels` pixels
    before decoding them (a small file can declare a huge image: a decompression bomb)."""
    if max_pixels is not None:
        width, height = _declared_size(data, where)
        if width * height > max_pixels:
            raise FrameError(f"{where}: the image is {width}x{height} = {width * height} pixels, more than "
                             f"MAX_IMAGE_PIXELS={max_pixels}; resize the frames or raise MAX_IMAGE_PIXELS")
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise FrameError(f"{where}: the image could not be decoded (truncated or not an image)")
    if max_pixels is not None and image.shape[0] * image.shape[1] > max_pixels:  # a format PIL does not read
        raise FrameError(f"{where}: the image is {image.shape[1]}x{image.shape[0]} pixels, more than "
                         f"MAX_IMAGE_PIXELS={max_pixels}; resize the frames or raise MAX_IMAGE_PIXELS")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _declared_size(data: bytes, where: str) -> tuple[int, int]:
    """(width, height) from the image header (Pillow reads only the header), (0, 0) if unknown."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                return image.size
    except Image.DecompressionBombError as error:  # Pillow's own limit, far above any sane frame
        raise FrameError(f"{where}: the image declares too many pixels ({error})") from None
    except Exception:  # not a format Pillow knows: OpenCV decides (its own limit is 2**30 pixels)
        return 0, 0


class FrameFiles:
    """A video's frames (F, H, W, 3) uint8 RGB, decoded from their cached files one at a time when
    read: ``frames[t]``, ``frames[i:j]``, ``frames[[i, j]]``. A long HD video never sits in memory."""

    dtype = np.dtype(np.uint8)
    ndim = 4

    def __init__(self, paths: list[Path], names: list[str], height: int, width: int):
        self.paths, self.names = paths, names
        self.shape = (len(paths), height, width, 3)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            return self._decode(int(key))
        frames = np.arange(len(self))[key] if isinstance(key, slice) else np.asarray(key).reshape(-1)
        out = np.empty((len(frames), *self.shape[1:]), np.uint8)
        for i, t in enumerate(frames):
            out[i] = self._decode(int(t))
        return out

    def _decode(self, t: int) -> np.ndarray:
        frame = decode_frame(self.paths[t].read_bytes(), self.names[t])
        if frame.shape != self.shape[1:]:
            raise FrameError(f"{self.names[t]}: frame size {frame.shape[1]}x{frame.shape[0]} differs from the "
                             f"video's {self.shape[2]}x{self.shape[1]}; all frames of a video must share one size")
        return frame


def load_frames(download, tasks: list[dict], image_field: str, cache_dir: Path,
                max_pixels: int | None = None) -> FrameFiles:
    """The frames of `tasks` (in order), each fetched once with `download(url) -> bytes` and kept in
    `cache_dir`; read lazily (`FrameFiles`). A fresh download is decoded before it is kept; every
    frame's size is checked (from the image header where the format has one) against the first's
    and against `max_pixels`, so a bad frame fails here with its task named, not mid-round."""
    paths, names, size = [], [], None
    for task in tasks:
        url = task.get("data", {}).get(image_field)
        where = f"task {task.get('id')}"
        if not isinstance(url, str) or not url:
            raise FrameError(f"{where}: no image URL in data[{image_field!r}]; set IMAGE_FIELD to the image's field")
        cached = Path(cache_dir) / (hashlib.sha1(url.encode()).hexdigest() + ".img")
        name = f"{where} ({url})"
        if cached.exists():
            data = cached.read_bytes()
            width, height = _declared_size(data, name)
            if not width:  # a format without a header Pillow reads: decode it
                height, width = decode_frame(data, name, max_pixels).shape[:2]
            elif max_pixels is not None and width * height > max_pixels:
                decode_frame(data, name, max_pixels)  # raises the size error
        else:
            data = download(url)
            height, width = decode_frame(data, name, max_pixels).shape[:2]  # raises first: never cache a bad one
            atomic_write_bytes(cached, data)
        if size is not None and (height, width) != size:
            raise FrameError(
                f"{where}: frame size {width}x{height} differs from the video's first frame "
                f"{size[1]}x{size[0]}; all frames of a video must share one size"
            )
        size = (height, width)
        paths.append(cached)
        names.append(name)
    if size is None:
        raise FrameError("the video has no frames")
    return FrameFiles(paths, names, *size)
