"""The per-video store under MODEL_DIR: what the worker wrote, what the web answers from.

    MODEL_DIR/<project>/<video key>/
        checkpoint.pt      network after the latest round (atomic write)
        flows.npz          optical flow at working resolution (float16), computed once
        predictions.json   per frame: Label Studio result, score, cluster, task id
        status.json        round, frames, labelled frames, timings, queue state, last error
    MODEL_DIR/<project>/frames/   frames fetched from Label Studio, keyed by URL hash

Every file is replaced atomically, so a reader never sees half a round and a crash mid-write
leaves the previous round intact.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import OrderedDict
from pathlib import Path

from vidseg.atomic import atomic_write_json, read_json


def video_key(video: str) -> str:
    """A directory name for any video id: readable slug plus a hash, so distinct ids never collide."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", video).strip(".-")[:60] or "video"
    return f"{slug}-{hashlib.sha1(video.encode()).hexdigest()[:16]}"


class VideoStore:
    def __init__(self, root: Path, project: int, video: str):
        self.project, self.video = int(project), video
        self.dir = Path(root) / str(self.project) / video_key(video)
        self._predictions_cache: tuple[float, dict] | None = None

    @property
    def checkpoint_path(self) -> Path:
        return self.dir / "checkpoint.pt"

    @property
    def flows_path(self) -> Path:
        return self.dir / "flows.npz"

    @property
    def predictions_path(self) -> Path:
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

    def status(self) -> dict:
        return read_json(self.status_path, default={"video": self.video, "project": self.project, "round": 0})

    def update_status(self, **fields) -> dict:
        """Merge fields into status.json. Only the job holding the video's lock writes it."""
        status = self.status()
        status.update(fields, video=self.video, project=self.project, updated_at=time.time())
        atomic_write_json(self.status_path, status)
        return status

    def write_predictions(self, predictions: dict) -> None:
        """predictions: {"round", "model_version", "frames": {str(frame): {"task_id", "result", "score", "cluster"}}}"""
        atomic_write_json(self.predictions_path, predictions)

    def predictions(self) -> dict | None:
        """The latest predictions, re-read only when the file changed (the web answers from this)."""
        try:
            mtime = self.predictions_path.stat().st_mtime_ns
        except FileNotFoundError:
            return None
        if self._predictions_cache is None or self._predictions_cache[0] != mtime:
            self._predictions_cache = (mtime, read_json(self.predictions_path))
        return self._predictions_cache[1]


class Store:
    MAX_CACHED_VIDEOS = 1024
    """Video stores kept in memory (with their parsed predictions); the least recently used go first."""

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
