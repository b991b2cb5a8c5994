"""The worker's carried votes kept between rounds, so a round after a new annotation carries labels
again only where they can change (`propagation.carry_votes_again`), not over the whole video.

    <video>/votes/votes.npy    (F, C, h, w) float16 votes at the flows' resolution
    <video>/votes/votes.json   what they were carried from: frames, size, classes, fusion settings,
                               the flows' identity and a hash of every labelled frame's labels

votes.json is removed before the votes are updated and written after, so a job killed halfway
leaves no description, and the next round carries everything again.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np

from propagation import DiskArray, Flows, FusionConfig, SparseLabels, carry_votes, carry_votes_again, on_disk
from vidseg.atomic import atomic_write_json, read_json


class VoteCache:
    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.carried_again: list[range] | None = None
        """The frames the last call carried again; None when it carried the whole video."""

    def votes(self, labels: SparseLabels, flows: Flows, num_classes: int, config: FusionConfig) -> DiskArray:
        """The votes of ``labels`` (at the flows' resolution), reusing the last round's where valid."""
        described = self.folder / "votes.json"
        identity = {"frames": len(labels), "size": list(labels.size), "classes": num_classes,
                    "fusion": asdict(config), "flows": _flows_identity(flows)}
        hashes = {str(t): hashlib.sha1(labels[int(t)].tobytes()).hexdigest() for t in labels.known_frames}
        before = read_json(described, default={})
        votes = self._reusable(identity) if identity["flows"] is not None and before.get("identity") == identity \
            else None
        described.unlink(missing_ok=True)
        if votes is None:
            votes = carry_votes(labels, flows, num_classes, config, scratch=on_disk(self.folder))
            self.carried_again = None
        else:
            old = before.get("labels", {})
            changed = [int(t) for t in set(old) | set(hashes) if old.get(t) != hashes.get(t)]
            self.carried_again = carry_votes_again(labels, flows, num_classes, config, votes, changed)
        atomic_write_json(described, {"identity": identity, "labels": hashes})
        return votes

    def _reusable(self, identity: dict) -> DiskArray | None:
        try:
            votes = DiskArray.open(self.folder / "votes.npy", writable=True)
        except (FileNotFoundError, ValueError):
            return None
        expected = (identity["frames"], identity["classes"], *identity["size"])
        return votes if votes.shape == expected and votes.dtype == np.float16 else None


def _flows_identity(flows: Flows) -> list | None:
    """Flows on disk are identified by their file and its modification time; flows in memory cannot be."""
    path = getattr(flows.forward, "path", None)
    if path is None:
        return None
    stat = os.stat(path)
    return [os.fspath(path), stat.st_mtime_ns, stat.st_size]
