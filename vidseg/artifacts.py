"""A video's network checkpoint and flow cache on disk, each replaced atomically (the cores write to files)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import torch

from propagation import Flows, NetworkSpec, compute_flows, on_disk, open_flows, write_checkpoint
from vidseg.atomic import atomic_write


def save_checkpoint(path: str | os.PathLike, model: torch.nn.Module, spec: NetworkSpec,
                    extra: dict | None = None) -> None:
    """Readers never see a half-written checkpoint, even if the worker is killed mid-write."""
    atomic_write(path, lambda file: write_checkpoint(file, model, spec, extra))


def cached_flows(folder: str | os.PathLike, frames, size: tuple[int, int],
                 progress: Callable[[int, int], None] | None = None) -> Flows:
    """The video's optical flow at ``size``, computed once into ``folder`` (float16 arrays on disk,
    read a frame at a time) and recomputed when the frames or the size changed or the cache is torn.

    The flows are computed into a sibling folder that is renamed into place when complete, so a
    killed job leaves either the old flows or none, never half of them.
    """
    folder = Path(folder)
    try:
        flows = open_flows(folder)
        if len(flows) == len(frames) - 1 and flows.size == tuple(size):
            return flows
    except (FileNotFoundError, ValueError):
        pass
    partial = folder.with_name(f".{folder.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    compute_flows(frames, size=size, scratch=on_disk(partial), progress=progress)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(partial, folder)
    return open_flows(folder)
