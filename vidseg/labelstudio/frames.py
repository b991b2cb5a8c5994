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


def load_frames(download, tasks: list[dict], image_field: str, cache_dir: Path,
                max_pixels: int | None = None) -> np.ndarray:
    """(F, H, W, 3) uint8 frames of `tasks` (in order); `download(url) -> bytes` fetches a miss.
    Frames over `max_pixels` pixels are refused before they are decoded."""
    frames = []
    for task in tasks:
        url = task.get("data", {}).get(image_field)
        where = f"task {task.get('id')}"
        if not isinstance(url, str) or not url:
            raise FrameError(f"{where}: no image URL in data[{image_field!r}]; set IMAGE_FIELD to the image's field")
        cached = Path(cache_dir) / (hashlib.sha1(url.encode()).hexdigest() + ".img")
        if cached.exists():
            frame = decode_frame(cached.read_bytes(), f"{where} ({url})", max_pixels)
        else:
            data = download(url)
            frame = decode_frame(data, f"{where} ({url})", max_pixels)  # raises first: never cache a bad one
            atomic_write_bytes(cached, data)
        if frames and frame.shape != frames[0].shape:
            raise FrameError(
                f"{where}: frame size {frame.shape[1]}x{frame.shape[0]} differs from the video's first frame "
                f"{frames[0].shape[1]}x{frames[0].shape[0]}; all frames of a video must share one size"
            )
        frames.append(frame)
    return np.stack(frames)
