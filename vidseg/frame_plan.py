"""Which source frames become frames to label, and which part of a split video each belongs to.

Pure bookkeeping, no I/O: ``vidseg.video_frames`` reads and writes the images.

    options = import_options(fps="2", image_format="jpg", split_every="10m")
    plan = FramePlan("drive", options, source_fps=30.0)
    plan.place(index=0, time=0.0)      # Place(part=1, video="drive-part001", frame=0)
    plan.place(index=1, time=1 / 30)   # None: not sampled

Sampling: ``every`` N keeps source frames 0, N, 2N, ...; ``fps`` R keeps the first frame at or after each
multiple of 1/R seconds of video time. Splitting: part k (from 1) holds the source frames whose time lies
in [(k-1) L, k L) for ``split_every`` L seconds (or whose index does, for L frames); each part is a video
of its own, ``<video>-part001``, ..., its frame numbers restarting at 0. Not split: one part, the video.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass

FORMATS = ("png", "jpg", "webp")
DEFAULT_QUALITY = {"jpg": 95, "webp": 90}  # png is lossless: it takes no quality
_SPLIT_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0}


class ImportOptionError(ValueError):
    """An import option or source that cannot work; the message says what to give instead."""


@dataclass(frozen=True)
class ImportOptions:
    """How a source becomes frames to label. ``every`` / ``fps``: at most one (neither: every frame);
    ``size``: (height, width) to resize to; ``split_seconds`` / ``split_frames``: at most one."""

    every: int | None = None
    fps: float | None = None
    image_format: str = "png"
    quality: int | None = None
    size: tuple[int, int] | None = None
    split_seconds: float | None = None
    split_frames: int | None = None

    def __post_init__(self):
        if self.every is not None and self.fps is not None:
            raise ImportOptionError("give either --every N or --fps R, not both")
        if self.every is not None and self.every < 1:
            raise ImportOptionError(f"--every {self.every}: give a whole number of frames >= 1, e.g. --every 5")
        if self.fps is not None and not (math.isfinite(self.fps) and self.fps > 0):
            raise ImportOptionError(f"--fps {self.fps}: give frames per second of video > 0, e.g. --fps 2")
        if self.image_format not in FORMATS:
            raise ImportOptionError(f"--format {self.image_format}: choose one of {', '.join(FORMATS)}")
        if self.quality is not None:
            if self.image_format not in DEFAULT_QUALITY:
                raise ImportOptionError(f"--quality is for the lossy formats ({', '.join(DEFAULT_QUALITY)}); "
                                        f"{self.image_format} is lossless: drop --quality")
            if not 1 <= self.quality <= 100:
                raise ImportOptionError(f"--quality {self.quality}: give a whole number from 1 to 100, e.g. 90")
        if self.size is not None and min(self.size) < 1:
            raise ImportOptionError(f"--resize: width and height must be >= 1, not {self.size[1]}x{self.size[0]}")
        if self.split_seconds is not None and self.split_frames is not None:
            raise ImportOptionError("split either by seconds or by frames, not both")
        if self.split_seconds is not None and not (math.isfinite(self.split_seconds) and self.split_seconds > 0):
            raise ImportOptionError(f"--split-every {self.split_seconds}: give a length > 0, e.g. 600 (seconds)")
        if self.split_frames is not None and self.split_frames < 1:
            raise ImportOptionError(f"--split-every {self.split_frames}f: give a number of frames >= 1")

    @property
    def image_quality(self) -> int | None:
        """The quality written: the one given, else the format's default (None for png)."""
        return self.quality if self.quality is not None else DEFAULT_QUALITY.get(self.image_format)

    @property
    def splits(self) -> bool:
        return self.split_seconds is not None or self.split_frames is not None

    def record(self) -> dict:
        """The options as JSON (the manifest compares them when an import resumes)."""
        record = asdict(self)
        record["quality"] = self.image_quality
        record["size"] = list(self.size) if self.size else None
        return record


def import_options(every: str | None = None, fps: str | None = None, image_format: str = "png",
                   quality: str | None = None, resize: str | None = None,
                   split_every: str | None = None) -> ImportOptions:
    """ImportOptions from command-line text; ImportOptionError says what to fix."""
    size = None
    if resize:
        width, _, height = resize.lower().partition("x")
        if not (width.isdigit() and height.isdigit()):
            raise ImportOptionError(f"--resize {resize!r}: write WIDTHxHEIGHT, e.g. 1280x720")
        size = (int(height), int(width))
    split_seconds, split_frames = parse_split(split_every) if split_every else (None, None)
    return ImportOptions(
        every=_whole(every, "--every", "a whole number of frames >= 1, e.g. --every 5"),
        fps=_number(fps, "--fps", "frames per second of video > 0, e.g. --fps 2"),
        image_format=image_format.lower().replace("jpeg", "jpg"),
        quality=_whole(quality, "--quality", "a whole number from 1 to 100, e.g. --quality 90"),
        size=size, split_seconds=split_seconds, split_frames=split_frames,
    )


def parse_split(text: str) -> tuple[float | None, int | None]:
    """``--split-every``: ``600`` or ``600s`` seconds, ``10m`` minutes, ``1h`` hours, ``9000f`` frames."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(s|m|h|f|frames?)?\s*", text.lower())
    if match is None:
        raise ImportOptionError(f"--split-every {text!r}: write a length such as 600 (seconds), 10m, 1h or 9000f "
                                "(frames)")
    value, unit = match[1], match[2] or ""
    if unit.startswith("f"):
        if not value.isdigit():
            raise ImportOptionError(f"--split-every {text!r}: a number of frames is whole, e.g. 9000f")
        return None, int(value)
    return float(value) * _SPLIT_UNITS[unit], None


def _whole(text: str | None, flag: str, wanted: str) -> int | None:
    if text is None:
        return None
    if not text.strip().isdigit():
        raise ImportOptionError(f"{flag} {text!r}: give {wanted}")
    return int(text)


def _number(text: str | None, flag: str, wanted: str) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        raise ImportOptionError(f"{flag} {text!r}: give {wanted}") from None


# --- the plan --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    """Where a kept source frame goes: ``part`` (from 1; 0 when not split), its ``video`` id, its
    ``frame`` number in that video (from 0)."""

    part: int
    video: str
    frame: int


@dataclass
class Part:
    """One part of the source: source frames ``first_frame``..``last_frame`` (inclusive) at times
    ``start``..``end`` seconds (None without a frame rate); ``frames``: how many were kept."""

    part: int
    video: str
    first_frame: int
    last_frame: int
    start: float | None
    end: float | None
    frames: int = 0


class FramePlan:
    """Places source frames one at a time, in order; ``parts`` grows as the source is read."""

    def __init__(self, video: str, options: ImportOptions, source_fps: float | None):
        if source_fps is None and (options.fps is not None or options.split_seconds is not None):
            flag = "--fps" if options.fps is not None else "--split-every SECONDS"
            other = "--every N" if options.fps is not None else "--split-every FRAMESf (e.g. 9000f)"
            raise ImportOptionError(f"{flag} needs a frame rate, which this source does not give (a folder of "
                                    f"images has none): use {other}")
        self.video = video
        self.options = options
        self.source_fps = source_fps
        self.parts: list[Part] = []
        self._slot = -1

    def place(self, index: int, time: float | None) -> Place | None:
        """The place of source frame ``index`` (at ``time`` seconds), or None when it is not sampled."""
        part = self._part_of(index, time)
        if self.options.every is not None:
            kept = index % self.options.every == 0
        elif self.options.fps is not None:
            slot = math.floor(time * self.options.fps + 1e-6)
            kept, self._slot = slot > self._slot, max(slot, self._slot)
        else:
            kept = True
        if not kept:
            return None
        part.frames += 1
        return Place(part.part, part.video, part.frames - 1)

    def estimate(self, frame_count: int | None) -> int | None:
        """Frames to keep out of ``frame_count`` source frames (None when that is unknown)."""
        if not frame_count:
            return None
        if self.options.every is not None:
            return -(-frame_count // self.options.every)
        if self.options.fps is not None:
            return min(frame_count, math.floor((frame_count - 1) / self.source_fps * self.options.fps + 1e-6) + 1)
        return frame_count

    def _part_of(self, index: int, time: float | None) -> Part:
        number = 0
        if self.options.split_frames is not None:
            number = index // self.options.split_frames + 1
        elif self.options.split_seconds is not None:
            number = math.floor(time / self.options.split_seconds + 1e-9) + 1
        if self.parts and self.parts[-1].part == number:
            part = self.parts[-1]
            part.last_frame, part.end = index, time
            return part
        video = f"{self.video}-part{number:03d}" if number else self.video
        self.parts.append(Part(number, video, index, index, time, time))
        return self.parts[-1]
