"""The worker's densified key-point frames kept between rounds (`propagation.densify`), so a later
round does not learn again a frame whose pixels and revealed labels did not change.

    <video>/densified/<frame>-<key>.npz    the frame's densified (H, W) label map, compressed;
                                           key: `propagation.densify.frame_key`, shortened

A frame keeps one file: writing a new one removes the frame's others. Files are written atomically,
so a job killed halfway leaves the old map or none, never half of one.
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np

from vidseg.atomic import atomic_write_bytes

KEY_CHARS = 32
"""Hex characters of the key kept in a file name (128 bits)."""


class DiskDensifyCache:
    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)

    def _path(self, frame: int, key: str) -> Path:
        return self.folder / f"{int(frame):06d}-{key[:KEY_CHARS]}.npz"

    def get(self, frame: int, key: str) -> np.ndarray | None:
        try:
            with np.load(self._path(frame, key)) as stored:
                return stored["labels"]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            return None  # none yet, or unreadable: learn it again

    def put(self, frame: int, key: str, label_map: np.ndarray) -> None:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, labels=np.asarray(label_map))
        path = self._path(frame, key)
        atomic_write_bytes(path, buffer.getvalue())
        for older in self.folder.glob(f"{int(frame):06d}-*.npz"):
            if older != path:
                older.unlink(missing_ok=True)
