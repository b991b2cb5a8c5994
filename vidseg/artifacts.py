"""A video's network checkpoint and flow cache on disk, each replaced atomically (the cores write to files)."""

from __future__ import annotations

import os

import numpy as np
import torch

from propagation import Flows, NetworkSpec, compute_flows, load_flows, write_checkpoint, write_flows
from vidseg.atomic import atomic_write


def save_checkpoint(path: str | os.PathLike, model: torch.nn.Module, spec: NetworkSpec,
                    extra: dict | None = None) -> None:
    """Readers never see a half-written checkpoint, even if the worker is killed mid-write."""
    atomic_write(path, lambda file: write_checkpoint(file, model, spec, extra))


def save_flows(path: str | os.PathLike, flows: Flows) -> None:
    atomic_write(path, lambda file: write_flows(file, flows))


def cached_flows(path: str | os.PathLike, frames: np.ndarray, size: tuple[int, int]) -> Flows:
    """The video's optical flow at ``size``, computed once and kept as float16 (recomputed when the
    frames or the size changed, or the cache is unreadable)."""
    try:
        flows = load_flows(path)
        if len(flows) == len(frames) - 1 and flows.size == tuple(size):
            return flows
    except (FileNotFoundError, ValueError):
        pass
    flows = compute_flows(frames, size=size)
    save_flows(path, flows)
    return flows
