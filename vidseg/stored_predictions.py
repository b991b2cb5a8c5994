"""A video's predictions, one round at a time, read frame by frame.

    <video dir>/predictions/
        current                   name of the round directory readers use (replaced atomically)
        round-000003-<token>/
            entries.bin           per frame: the entry without "result" (JSON), then its "result" (JSON)
            index.json            {"round", "model_version", "frames": {frame: [offset, entry bytes, result bytes]}}
        .round-000004-<token>.tmp/   a round being written
    <video dir>/predictions.json  the format before this one (one JSON of every frame): still read until
                                  the first round in the new format replaces it

A round is written into a temporary directory, renamed into place complete, and only then does
`current` name it: a reader sees the previous round or the new one, never part of one. The old
round's directory goes after the swap; a reader that looked it up a moment before finds it gone and
looks again (`RoundReplaced`), one that already opened it reads on (POSIX keeps an open file).

Looking up a frame reads its index entry and its bytes, never the rest of the round, and a
writer writes each entry when it is added: neither side holds a whole round in memory.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from vidseg.atomic import atomic_write_bytes, atomic_write_json

CURRENT, ENTRIES, INDEX = "current", "entries.bin", "index.json"
ROUND_PREFIX = "round-"


class RoundReplaced(FileNotFoundError):
    """The round a reader looked up was replaced and removed meanwhile: look the current one up again."""


def frame_key(frame) -> str:
    """The key a frame is stored under: its index as a string ("17"), as in the format before."""
    if isinstance(frame, bool) or not isinstance(frame, (int, str)):
        raise TypeError(f"a frame is an int index, got {frame!r}")
    return str(int(frame))


def _frame_order(key: str):
    return (0, int(key), "") if key.lstrip("-").isdigit() else (1, 0, key)


class PredictionsRound:
    """One round's predictions. ``parts`` gives an entry with its "result" still as stored JSON bytes,
    so the web can splice it into an answer without parsing it."""

    round: int | None
    model_version: str | None
    _by_frame: dict[str, object]
    """What each subclass keeps per frame key (offsets in the entries file, or the entry itself)."""

    @property
    def frames(self) -> list[str]:
        """Frame keys in frame order."""
        return sorted(self._by_frame, key=_frame_order)

    def __contains__(self, frame) -> bool:
        return frame_key(frame) in self._by_frame

    def parts(self, frames: Iterable) -> list[tuple[dict, bytes | None] | None]:
        """Per frame: (entry without "result", the "result" as JSON bytes or None if it has none), or None
        for a frame this round does not hold."""
        raise NotImplementedError

    def entries(self, frames: Iterable) -> list[dict | None]:
        """Per frame: the whole entry ({"task_id", "result", "score", "cluster", "confidence"}) or None."""
        out = []
        for found in self.parts(frames):
            if found is None:
                out.append(None)
                continue
            entry, result = found
            out.append(entry if result is None else {**entry, "result": json.loads(result)})
        return out

    def entry(self, frame) -> dict | None:
        return self.entries([frame])[0]

    def items(self, batch: int = 16) -> Iterator[tuple[str, dict]]:
        """(frame key, entry) for every frame in frame order, `batch` frames in memory at a time."""
        keys = self.frames
        for start in range(0, len(keys), batch):
            chunk = keys[start:start + batch]
            yield from zip(chunk, self.entries(chunk), strict=True)

    def as_dict(self) -> dict:
        """The whole round in the format before: {"round", "model_version", "frames": {key: entry}}.
        Memory grows with the video: for tests and small tools, never the web."""
        return {"round": self.round, "model_version": self.model_version, "frames": dict(self.items())}


class IndexedRound(PredictionsRound):
    """A round in the per-frame format: its index in memory, entries read from disk on demand."""

    def __init__(self, directory: Path, index: dict):
        self.directory = Path(directory)
        self.round, self.model_version = index.get("round"), index.get("model_version")
        self._by_frame: dict[str, list[int]] = index["frames"]  # offset, entry length, result length

    @classmethod
    def load(cls, directory: Path) -> IndexedRound:
        try:
            return cls(directory, json.loads((Path(directory) / INDEX).read_bytes()))
        except FileNotFoundError:
            raise RoundReplaced(directory) from None

    def parts(self, frames: Iterable) -> list[tuple[dict, bytes | None] | None]:
        located = [self._by_frame.get(frame_key(frame)) for frame in frames]
        if not any(located):
            return [None] * len(located)
        try:
            descriptor = os.open(self.directory / ENTRIES, os.O_RDONLY)
        except FileNotFoundError:
            raise RoundReplaced(self.directory) from None
        try:
            out = []
            for place in located:
                if place is None:
                    out.append(None)
                    continue
                offset, entry_length, result_length = place
                data = os.pread(descriptor, entry_length + result_length, offset)
                if len(data) != entry_length + result_length:
                    raise OSError(f"{self.directory / ENTRIES} is shorter than its index says")
                out.append((json.loads(data[:entry_length]), data[entry_length:] if result_length else None))
            return out
        finally:
            os.close(descriptor)


class LegacyRound(PredictionsRound):
    """A predictions.json of the format before: parsed whole, once per change of the file."""

    def __init__(self, predictions: dict):
        self.round, self.model_version = predictions.get("round"), predictions.get("model_version")
        self._by_frame: dict[str, dict] = predictions.get("frames") or {}

    def parts(self, frames: Iterable) -> list[tuple[dict, bytes | None] | None]:
        out = []
        for frame in frames:
            entry = self._by_frame.get(frame_key(frame))
            if entry is None:
                out.append(None)
            else:
                rest = {k: v for k, v in entry.items() if k != "result"}
                out.append((rest, json.dumps(entry["result"]).encode() if "result" in entry else None))
        return out

    def entries(self, frames: Iterable) -> list[dict | None]:
        return [self._by_frame.get(frame_key(frame)) for frame in frames]


class PredictionsWriter:
    """Writes one round frame by frame; `commit` makes it the current round at once, `abort` drops it.

    Each `add` writes its entry to disk before returning; only the offsets (three ints a frame) stay
    in memory. Use it through ``VideoStore.predictions_writer``, which commits or aborts for you.
    """

    def __init__(self, folder: Path, round_number: int, model_version: str | None = None,
                 legacy_path: Path | None = None):
        self.folder, self.round, self.model_version = Path(folder), int(round_number), model_version
        self._legacy_path = legacy_path
        self.folder.mkdir(parents=True, exist_ok=True)
        self._tmp = Path(tempfile.mkdtemp(dir=self.folder, prefix=f".{ROUND_PREFIX}{self.round:06d}-", suffix=".tmp"))
        self._data = open(self._tmp / ENTRIES, "wb")  # noqa: SIM115 - closed by commit or abort
        self._offsets: dict[str, list[int]] = {}
        self._position = 0

    def add(self, frame, entry: dict) -> None:
        """Write one frame's entry ({"task_id", "result", "score", "cluster", "confidence"})."""
        key = frame_key(frame)
        if key in self._offsets:
            raise ValueError(f"frame {key} was already added to round {self.round}")
        rest = {k: v for k, v in entry.items() if k != "result"}
        head = json.dumps(rest, sort_keys=True).encode()
        result = json.dumps(entry["result"], separators=(",", ":")).encode() if "result" in entry else b""
        self._data.write(head)
        self._data.write(result)
        self._offsets[key] = [self._position, len(head), len(result)]
        self._position += len(head) + len(result)

    def __len__(self) -> int:
        return len(self._offsets)

    def commit(self) -> Path:
        """Make the round current (atomically), then remove the rounds before it. Returns its directory."""
        self._data.flush()
        os.fsync(self._data.fileno())
        self._data.close()
        atomic_write_json(self._tmp / INDEX, {"round": self.round, "model_version": self.model_version,
                                              "frames": self._offsets})
        final = self.folder / f"{ROUND_PREFIX}{self.round:06d}-{secrets.token_hex(4)}"
        os.rename(self._tmp, final)
        try:
            atomic_write_bytes(self.folder / CURRENT, final.name.encode())
        except BaseException:
            shutil.rmtree(final, ignore_errors=True)
            raise
        remove_rounds_except(self.folder, final.name)
        if self._legacy_path is not None:
            self._legacy_path.unlink(missing_ok=True)  # superseded: the new round holds every frame it answers
        return final

    def abort(self) -> None:
        """Drop the round being written; the current one stays as it was."""
        with contextlib.suppress(OSError):
            self._data.close()
        shutil.rmtree(self._tmp, ignore_errors=True)


def current_round_dir(folder: Path) -> Path | None:
    """The directory `current` names, or None before the first round in this format."""
    try:
        name = (Path(folder) / CURRENT).read_text().strip()
    except FileNotFoundError:
        return None
    if not name.startswith(ROUND_PREFIX) or "/" in name:
        raise OSError(f"{Path(folder) / CURRENT} names no round directory: {name[:80]!r}")
    return Path(folder) / name


def remove_rounds_except(folder: Path, keep: str | None, temporaries: bool = False) -> None:
    """Remove round directories other than `keep` (and, with `temporaries`, unfinished ones of a dead writer:
    only the lock holder, the one writer, may ask for that)."""
    if not Path(folder).is_dir():
        return
    for path in Path(folder).iterdir():
        finished = path.name.startswith(ROUND_PREFIX) and path.name != keep
        unfinished = temporaries and path.name.startswith("." + ROUND_PREFIX) and path.name.endswith(".tmp")
        if (finished or unfinished) and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
