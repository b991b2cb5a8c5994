"""Reading a video (or a folder of images) one frame at a time, and writing frame images that survive
an interruption.

A video file is decoded with OpenCV ``VideoCapture``: ``grab`` for every frame, ``retrieve`` (the pixels)
only for the frames asked for; a folder's images are read only when asked for. Nothing holds more than
one frame. Images are written atomically (a temporary file, then a rename), so a file that exists is
whole, and an interrupted import resumes by skipping the files already there.

    source = open_source(Path("drive.mp4"))          # .fps, .frame_count (None when unknown)
    for position in source.positions():              # .index, .time (seconds), .image() (RGB)
        write_image(folder / frame_name("drive", position.index, options), position.image(), options)
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from vidseg.frame_plan import ImportOptionError, ImportOptions, Part

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}
_QUALITY_FLAG = {"jpg": cv2.IMWRITE_JPEG_QUALITY, "webp": cv2.IMWRITE_WEBP_QUALITY}
MANIFEST = "import.json"
PARTS_CSV = "parts.csv"


# --- reading ------------------------------------------------------------------------------------


@dataclass
class Position:
    """One source frame: ``index`` from 0, ``time`` in seconds (None without a frame rate); ``image()``
    decodes it (RGB, uint8 ``(H, W, 3)``), valid until the source moves on."""

    index: int
    time: float | None
    image: Callable[[], np.ndarray]


@dataclass
class FrameSource:
    """A video file or a folder of images: ``fps`` and ``frame_count`` when known, ``positions()``."""

    path: Path
    fps: float | None = None
    frame_count: int | None = None
    files: list[Path] = field(default_factory=list)

    def positions(self) -> Iterator[Position]:
        return self._folder_positions() if self.path.is_dir() else self._video_positions()

    def _folder_positions(self) -> Iterator[Position]:
        for index, path in enumerate(self.files):
            yield Position(index, None, lambda path=path: _read_image(path))

    def _video_positions(self) -> Iterator[Position]:
        capture = cv2.VideoCapture(str(self.path))
        if not capture.isOpened():
            raise ImportOptionError(f"{self.path} could not be opened as a video")
        index, first_stamp, last_time = 0, None, 0.0
        try:
            while capture.grab():
                time = None
                if self.fps:  # the container's timestamps when they advance (variable frame rates), else index / fps
                    stamp = capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0  # the grabbed frame's timestamp
                    first_stamp = stamp if first_stamp is None else first_stamp
                    time = stamp - first_stamp if stamp - first_stamp > last_time else index / self.fps
                    time = last_time = max(time, last_time)
                yield Position(index, time, lambda index=index: _retrieved(capture, self.path, index))
                index += 1
        finally:
            capture.release()
        if index == 0:
            raise ImportOptionError(f"{self.path}: no frame could be decoded")


def open_source(path: Path) -> FrameSource:
    """The source behind a path; ImportOptionError when it is missing, empty or not a video."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ImportOptionError(f"{path} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        return FrameSource(path, None, len(files), files)
    if not path.exists():
        raise ImportOptionError(f"{path} does not exist: give a video file or a folder of frames")
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise ImportOptionError(f"{path} could not be opened as a video")
        fps = capture.get(cv2.CAP_PROP_FPS)
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        capture.release()
    return FrameSource(path, fps if math.isfinite(fps) and fps > 0 else None, count if count > 0 else None)


def _read_image(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ImportOptionError(f"{path} is not a readable image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _retrieved(capture: cv2.VideoCapture, path: Path, index: int) -> np.ndarray:
    ok, image = capture.retrieve()
    if not ok:
        raise ImportOptionError(f"{path}: frame {index} could not be decoded")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


# --- writing --------------------------------------------------------------------------------


def frame_name(video: str, frame: int, options: ImportOptions) -> str:
    """``<video>_<frame:06d>.<format>``: the name the backend parses when a task lacks its data fields."""
    return f"{video}_{frame:06d}.{options.image_format}"


def write_image(path: Path, frame: np.ndarray, options: ImportOptions) -> None:
    """Encode an RGB frame (resized to ``options.size`` when set) and write it atomically."""
    if options.size is not None:
        height, width = options.size
        frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
    params = []
    if options.image_format in _QUALITY_FLAG:
        params = [_QUALITY_FLAG[options.image_format], options.image_quality]
    ok, data = cv2.imencode(f".{options.image_format}", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise ImportOptionError(f"OpenCV could not encode {options.image_format} images")
    temporary = path.with_name(path.name + ".partial")
    temporary.write_bytes(data.tobytes())
    os.replace(temporary, path)


def check_manifest(folder: Path, source: Path, options: ImportOptions) -> None:
    """Refuse to resume into ``folder`` when its frames came from another source or other options
    (the same file names would then hold other frames); record them when the folder is new."""
    path = folder / MANIFEST
    wanted = {"source": str(Path(source).resolve()), "options": options.record()}
    if path.is_file():
        try:
            before = json.loads(path.read_text())
        except ValueError:
            before = {}
        was = {"source": before.get("source"), "options": before.get("options")}
        if was != wanted:
            raise ImportOptionError(
                f"{folder} already holds frames imported from {was['source']} with options {was['options']}: "
                "run the same command to resume that import, or give another --video id")
        return
    folder.mkdir(parents=True, exist_ok=True)
    _write_json(path, wanted)


def write_manifest(folder: Path, source: Path, options: ImportOptions, source_fps: float | None,
                   parts: list[Part]) -> None:
    """``import.json`` (source, options, frame rate, parts) and ``parts.csv`` (one row per part)."""
    rows = [asdict(part) for part in parts]
    for row in rows:  # times to the millisecond
        row.update({key: round(row[key], 3) for key in ("start", "end") if row[key] is not None})
    _write_json(folder / MANIFEST, {"source": str(Path(source).resolve()), "options": options.record(),
                                    "source_fps": source_fps, "parts": rows})
    temporary = folder / (PARTS_CSV + ".partial")
    with temporary.open("w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(Part.__dataclass_fields__))
        writer.writeheader()
        writer.writerows(rows)
    os.replace(temporary, folder / PARTS_CSV)


def _write_json(path: Path, value: dict) -> None:
    temporary = path.with_name(path.name + ".partial")
    temporary.write_text(json.dumps(value, indent=1) + "\n")
    os.replace(temporary, path)
