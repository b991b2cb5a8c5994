"""The per-video store under MODEL_DIR: what the worker wrote, what the web answers from.

    MODEL_DIR/<project>/<video key>/
        checkpoint.pt      network after the latest round (atomic write)
        flows/             optical flow at FLOW_MAX_SIDE (float16 .npy arrays), computed once
        votes/             labels carried along the flow, kept between rounds (vidseg/vote_cache.py)
        scratch/           the running round's per-frame arrays (rewritten every round)
        predictions/       per frame: Label Studio result, score, cluster, task id; one round at a
                           time, read frame by frame (vidseg/stored_predictions.py)
        status.json        round, frames, labelled frames, timings, queue state, last error
    MODEL_DIR/<project>/frames/   frames fetched from Label Studio, keyed by URL hash

Every file is replaced atomically, so a reader never sees half a round and a crash mid-write
leaves the previous round intact.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vidseg.atomic import atomic_write_json, read_json
from vidseg.stored_predictions import (
    IndexedRound,
    LegacyRound,
    PredictionsRound,
    PredictionsWriter,
    RoundReplaced,
    current_round_dir,
    remove_rounds_except,
)


def video_key(video: str) -> str:
    """A directory name for any video id: readable slug plus a hash, so distinct ids never collide."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", video).strip(".-")[:60] or "video"
    return f"{slug}-{hashlib.sha1(video.encode()).hexdigest()[:16]}"


class VideoStore:
    def __init__(self, root: Path, project: int, video: str):
        self.project, self.video = int(project), video
        self.dir = Path(root) / str(self.project) / video_key(video)
        self._round_cache: tuple[tuple, PredictionsRound] | None = None

    @property
    def checkpoint_path(self) -> Path:
        return self.dir / "checkpoint.pt"

    @property
    def flows_path(self) -> Path:
        return self.dir / "flows"

    @property
    def votes_dir(self) -> Path:
        """Carried votes kept between rounds (vidseg/vote_cache.py)."""
        return self.dir / "votes"

    @property
    def densified_dir(self) -> Path:
        """Key-point frames densified by the sparse-pixel learner, kept between rounds (vidseg/densify_cache.py)."""
        return self.dir / "densified"

    @property
    def scratch_dir(self) -> Path:
        """The round's per-frame arrays (votes, predictions at working resolution): disk, not memory."""
        return self.dir / "scratch"

    @property
    def predictions_dir(self) -> Path:
        return self.dir / "predictions"

    @property
    def legacy_predictions_path(self) -> Path:
        """predictions.json of the format before: read until the first round in the new format replaces it."""
        return self.dir / "predictions.json"

    @property
    def status_path(self) -> Path:
        return self.dir / "status.json"

    def project_checkpoint(self) -> Path | None:
        """The newest checkpoint of another video of the same project (the project's model), or None."""
        found = []
        for path in self.dir.parent.glob(f"*/{self.checkpoint_path.name}"):
            if path.parent != self.dir:
                try:
                    found.append((path.stat().st_mtime_ns, path))
                except FileNotFoundError:  # replaced or removed meanwhile
                    continue
        return max(found)[1] if found else None

    def remove_stale_temporaries(self) -> None:
        """Temporary files of a write a killed job never finished (only the lock holder writes here)."""
        if self.dir.is_dir():
            for stale in self.dir.glob(".*.tmp"):
                stale.unlink(missing_ok=True)
            current = current_round_dir(self.predictions_dir)
            remove_rounds_except(self.predictions_dir, current.name if current else None, temporaries=True)

    def status(self) -> dict:
        return read_json(self.status_path, default={"video": self.video, "project": self.project, "round": 0})

    def update_status(self, **fields) -> dict:
        """Merge fields into status.json. Only the job holding the video's lock writes it."""
        status = self.status()
        status.update(fields, video=self.video, project=self.project, updated_at=time.time())
        atomic_write_json(self.status_path, status)
        return status

    @contextmanager
    def predictions_writer(self, round_number: int, model_version: str | None = None) -> Iterator[PredictionsWriter]:
        """Write a round frame by frame; it becomes the current round, whole, when the block ends:

            with store.predictions_writer(round_number, model_version) as writer:
                for frame, entry in entries:
                    writer.add(frame, entry)   # on disk now, not kept in memory

        An exception in the block drops the round and leaves the previous one current.
        """
        writer = PredictionsWriter(self.predictions_dir, round_number, model_version, self.legacy_predictions_path)
        try:
            yield writer
        except BaseException:
            writer.abort()
            raise
        try:
            writer.commit()
        except BaseException:
            writer.abort()
            raise

    def write_predictions(self, predictions: dict) -> None:
        """predictions: {"round", "model_version", "frames": {str(frame): {"task_id", "result", "score", "cluster"}}}"""
        with self.predictions_writer(predictions.get("round") or 0, predictions.get("model_version")) as writer:
            for frame, entry in predictions.get("frames", {}).items():
                writer.add(frame, entry)

    def predictions_round(self) -> PredictionsRound | None:
        """The current round (None before the first), its index re-read only when a new round replaced it."""
        for _ in range(8):  # each retry follows a round swapped in meanwhile
            try:
                found = self._current_round()
            except RoundReplaced:
                self._round_cache = None
                continue
            if found is None and (self.predictions_dir / "current").exists():
                continue  # the first round in the new format replaced predictions.json between the two looks
            return found
        raise OSError(f"predictions of {self.video!r} were replaced 8 times while being looked up")

    def _current_round(self) -> PredictionsRound | None:
        for path in (self.predictions_dir / "current", self.legacy_predictions_path):
            try:
                found = path.stat()
            except FileNotFoundError:
                continue
            identity = (path.name, found.st_ino, found.st_mtime_ns, found.st_size)
            if self._round_cache is None or self._round_cache[0] != identity:
                if path == self.legacy_predictions_path:
                    legacy = read_json(path)
                    if legacy is None:
                        raise RoundReplaced(path)  # migrated meanwhile: the new format is there now
                    stored: PredictionsRound = LegacyRound(legacy)
                else:
                    stored = IndexedRound.load(current_round_dir(self.predictions_dir))
                self._round_cache = (identity, stored)
            return self._round_cache[1]
        return None

    def prediction_parts(self, frames) -> list[tuple[dict, bytes | None] | None]:
        """Per frame: (entry without "result", "result" as stored JSON bytes) or None; one round for all."""
        frames = list(frames)
        for _ in range(8):
            stored = self.predictions_round()
            if stored is None:
                return [None] * len(frames)
            try:
                return stored.parts(frames)
            except RoundReplaced:
                self._round_cache = None
        raise OSError(f"predictions of {self.video!r} were replaced 8 times while being read")

    def prediction(self, frame) -> dict | None:
        """One frame's entry {"task_id", "result", "score", "cluster", "confidence"}, or None."""
        (found,) = self.prediction_parts([frame])
        if found is None:
            return None
        entry, result = found
        return entry if result is None else {**entry, "result": json.loads(result)}

    def predictions(self) -> dict | None:
        """The whole current round in one dict ({"round", "model_version", "frames"}), or None. Memory
        grows with the video: for tests and small tools; the web and exports read frame by frame."""
        for _ in range(8):
            stored = self.predictions_round()
            try:
                return None if stored is None else stored.as_dict()
            except RoundReplaced:
                self._round_cache = None
        raise OSError(f"predictions of {self.video!r} were replaced 8 times while being read")


class Store:
    MAX_CACHED_VIDEOS = 1024
    """Video stores kept in memory (with their current round's index); the least recently used go first."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._videos: OrderedDict[tuple[int, str], VideoStore] = OrderedDict()

    def video(self, project: int, video: str) -> VideoStore:
        key = (int(project), video)
        if key in self._videos:
            self._videos.move_to_end(key)
        else:
            self._videos[key] = VideoStore(self.root, project, video)
            if len(self._videos) > self.MAX_CACHED_VIDEOS:
                self._videos.popitem(last=False)
        return self._videos[key]

    def frames_dir(self, project: int) -> Path:
        return self.root / str(int(project)) / "frames"

    def statuses(self, project: int) -> list[dict]:
        """Status of every video of a project that the worker has seen."""
        folder = self.root / str(int(project))
        if not folder.is_dir():
            return []
        found = (read_json(path / "status.json") for path in sorted(folder.iterdir()) if path.is_dir())
        return [status for status in found if status]
