"""Small JPEG thumbnails of a video's frames, for the admin page's frame strip.

The worker keeps each frame's image in MODEL_DIR/<project>/frames/ (fetched once from Label Studio)
and notes the file in the frame's stored prediction entry (`frame_file`). A thumbnail is that image
shrunk to at most THUMBNAIL_HEIGHT x THUMBNAIL_MAX_WIDTH, made on first request and kept in
MODEL_DIR/<project>/thumbnails/ under the frame file's name: frame files are named by their URL's
hash, so a kept thumbnail never goes stale and browsers may cache it for good.

    jpeg, name = thumbnail(store, project, "clip-1", 12)     # ThumbnailError (-> 404) says what is missing
"""

from __future__ import annotations

import io
import re

from PIL import Image

from vidseg.atomic import atomic_write_bytes
from vidseg.store import Store

THUMBNAIL_HEIGHT = 54
THUMBNAIL_MAX_WIDTH = 128
JPEG_QUALITY = 75
_FRAME_FILE = re.compile(r"[0-9a-f]{40}\.img")  # vidseg.labelstudio.frames names files so


class ThumbnailError(LookupError):
    """No thumbnail for this project, video or frame; the message says which and why."""


def frame_file(entry: dict | None) -> str | None:
    """The stored entry's frame file name, when it has a well-formed one (older rounds have none)."""
    name = None if entry is None else entry.get("frame_file")
    return name if isinstance(name, str) and _FRAME_FILE.fullmatch(name) else None


def thumbnail(store: Store, project: int, video: str, frame: int) -> tuple[bytes, str]:
    """(JPEG bytes, frame file name) of one frame's thumbnail, made once and then read from disk."""
    project_dir = store.root / str(int(project))
    if not project_dir.is_dir():
        raise ThumbnailError(f"project {project} is unknown: no round has run for it")
    videos = store.video(project, video)
    if not videos.status_path.is_file():
        raise ThumbnailError(f"video {video!r} of project {project} is unknown: no round has run for it")
    (entry,) = videos.prediction_parts([frame])
    if entry is None:
        raise ThumbnailError(f"frame {frame} of video {video!r} is not in its current round")
    name = frame_file(entry[0])
    if name is None:
        raise ThumbnailError(f"frame {frame} of video {video!r} has no stored image yet: rounds record it "
                             "from this version on, so the next round of the video adds it")
    kept = project_dir / "thumbnails" / (name[:-len(".img")] + ".jpg")
    if kept.is_file():
        return kept.read_bytes(), name
    source = store.frames_dir(project) / name
    try:
        data = source.read_bytes()
    except FileNotFoundError:
        raise ThumbnailError(f"frame {frame} of video {video!r}: its image {source} is gone "
                             "(the next round fetches it again)") from None
    jpeg = shrink(data)
    if jpeg is None:
        raise ThumbnailError(f"frame {frame} of video {video!r}: its image {source} cannot be decoded")
    atomic_write_bytes(kept, jpeg)
    return jpeg, name


def shrink(data: bytes) -> bytes | None:
    """Encoded image bytes as a small JPEG (aspect kept), or None when they are not an image.

    Pillow, not OpenCV: the web face stays free of cv2. `draft` lets a JPEG decoder skip most of a big
    frame's pixels; frames were checked against MAX_IMAGE_PIXELS when the worker fetched them."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.draft("RGB", (THUMBNAIL_MAX_WIDTH * 2, THUMBNAIL_HEIGHT * 2))
            image = image.convert("RGB")
            image.thumbnail((THUMBNAIL_MAX_WIDTH, THUMBNAIL_HEIGHT), Image.Resampling.BOX)
            out = io.BytesIO()
            image.save(out, "JPEG", quality=JPEG_QUALITY)
            return out.getvalue()
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
