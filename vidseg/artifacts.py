"""A video's network checkpoint and flow cache on disk, each replaced atomically (the cores write to files)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import torch

from propagation import DEFAULT_PRESET, Flows, NetworkSpec, compute_flows, on_disk, open_flows, write_checkpoint
from vidseg.atomic import atomic_write, atomic_write_bytes


def save_checkpoint(path: str | os.PathLike, model: torch.nn.Module, spec: NetworkSpec,
                    extra: dict | None = None) -> None:
    """Readers never see a half-written checkpoint, even if the worker is killed mid-write."""
    atomic_write(path, lambda file: write_checkpoint(file, model, spec, extra))


def cached_flows(folder: str | os.PathLike, frames, size: tuple[int, int],
                 progress: Callable[[int, int], None] | None = None, keys: list[str] | None = None,
                 preset: str = DEFAULT_PRESET) -> Flows:
    """The video's optical flow at ``size`` with the settings ``preset``, computed once into ``folder``
    (float16 arrays on disk, read a frame at a time), recomputed when the size or the preset changed
    or the cache is torn.

    keys: one identity per frame (the worker: its frame file's name), kept beside the flows: when
    the video changed (frames added, removed or reordered) the pairs of frames already in the cache
    are copied and only the new pairs computed. Without keys (or a cache written without them), a
    cache of the same length is kept whole.
    The flows are computed into a sibling folder that is renamed into place when complete, so a
    killed job leaves either the old flows or none, never half of them.
    """
    folder = Path(folder)
    keys_file = folder / FRAME_KEYS
    try:
        old = open_flows(folder)
        old_keys = json.loads(keys_file.read_text()) if keys_file.exists() else None
    except (FileNotFoundError, ValueError):
        old, old_keys = None, None
    if old is not None and (old.size != tuple(size) or _preset_of(folder) != preset):
        old = None
    if old is not None and (keys is None or old_keys in (None, keys)) and len(old) == len(frames) - 1:
        if keys is not None and old_keys is None:
            atomic_write_bytes(keys_file, json.dumps(keys).encode())
        return old
    same = {}
    if old is not None and keys is not None and old_keys is not None and len(old_keys) == len(old) + 1:
        cached_pairs = {pair: j for j, pair in enumerate(zip(old_keys, old_keys[1:], strict=False))}
        pairs = enumerate(zip(keys, keys[1:], strict=False))
        same = {t: cached_pairs[pair] for t, pair in pairs if pair in cached_pairs}
    partial = folder.with_name(f".{folder.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    compute_flows(frames, size=size, preset=preset, scratch=on_disk(partial), progress=progress,
                  reuse=(old, same) if same else None)
    (partial / FLOW_PRESET).write_text(preset)
    if keys is not None:
        (partial / FRAME_KEYS).write_text(json.dumps(keys))
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(partial, folder)
    return open_flows(folder)


FRAME_KEYS = "frames.json"
"""Beside the flows: the identity of each frame they were computed on."""
FLOW_PRESET = "preset.txt"
"""Beside the flows: the settings they were computed with (`propagation.PRESETS`)."""


def _preset_of(folder: Path) -> str:
    """The preset cached flows were computed with; caches from before the file existed used "medium"."""
    try:
        return (folder / FLOW_PRESET).read_text().strip()
    except FileNotFoundError:
        return "medium"
