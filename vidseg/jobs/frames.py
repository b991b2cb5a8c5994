"""Frames of a video's tasks, fetched through Label Studio once and cached on disk."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np

from vidseg.atomic import atomic_write_bytes


class FrameError(ValueError):
    """A frame cannot be used; the message names the task and what is wrong with its image."""


def decode_frame(data: bytes, where: str) -> np.ndarray:
    """(H, W, 3) uint8 RGB from encoded image bytes."""
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise FrameError(f"{where}: the image could not be decoded (truncated or not an image)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def load_frames(download, tasks: list[dict], image_field: str, cache_dir: Path) -> np.ndarray:
    """(F, H, W, 3) uint8 frames of `tasks` (in order); `download(url) -> bytes` fetches a miss."""
    frames = []
    for task in tasks:
        url = task.get("data", {}).get(image_field)
        where = f"task {task.get('id')}"
        if not isinstance(url, str) or not url:
            raise FrameError(f"{where}: no image URL in data[{image_field!r}]; set IMAGE_FIELD to the image's field")
        cached = Path(cache_dir) / (hashlib.sha1(url.encode()).hexdigest() + ".img")
        if cached.exists():
            frame = decode_frame(cached.read_bytes(), f"{where} ({url})")
        else:
            data = download(url)
            frame = decode_frame(data, f"{where} ({url})")  # raises first: never cache a bad download
            atomic_write_bytes(cached, data)
        if frames and frame.shape != frames[0].shape:
            raise FrameError(
                f"{where}: frame size {frame.shape[1]}x{frame.shape[0]} differs from the video's first frame "
                f"{frames[0].shape[1]}x{frames[0].shape[0]}; all frames of a video must share one size"
            )
        frames.append(frame)
    return np.stack(frames)
