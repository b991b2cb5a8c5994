"""Checkpoints: a writer for any binary file (the caller makes it atomic), safe load
(``weights_only=True``), warm start from a user's file, and the one way to pick a round's starting network."""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import BinaryIO

import numpy as np
import torch

from .network import NetworkSpec, build_network

log = logging.getLogger(__name__)

FORMAT = "vidseg-checkpoint"
VERSION = 1
HEAD_PREFIX = "segmentation_head."


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable, or does not fit the network."""

    def __init__(self, path: str | os.PathLike, reason: str):
        super().__init__(f"checkpoint {os.fspath(path)}: {reason}")
        self.path = os.fspath(path)
        self.reason = reason


def _plain(value):
    """numpy scalars/arrays and tuples -> Python types that ``torch.load(weights_only=True)`` accepts."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    return value


def write_checkpoint(
    file: BinaryIO, model: torch.nn.Module, spec: NetworkSpec, extra: dict | None = None
) -> None:
    """Write ``{state_dict (CPU tensors), spec (plain dict), extra (round, steps, ...)}`` to ``file``."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save(
        {"format": FORMAT, "version": VERSION, "state_dict": state, "spec": spec.to_dict(),
         "extra": _plain(dict(extra or {}))},
        file,
    )


def _read(path: str | os.PathLike):
    if not os.path.isfile(path):
        raise CheckpointError(path, "file not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for truncated/corrupt/unsafe files
        raise CheckpointError(path, f"unreadable ({type(exc).__name__}: {exc})") from exc


def _offline(spec: NetworkSpec) -> NetworkSpec:
    # The state dict replaces every weight, so never download encoder weights just to overwrite them.
    return dataclasses.replace(spec, encoder_weights=None)


def _read_ours(path: str | os.PathLike) -> dict:
    data = _read(path)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(path, f"not a {FORMAT} file (use load_user_checkpoint for other formats)")
    return data


def checkpoint_info(path: str | os.PathLike) -> tuple[dict, dict]:
    """``(spec as a plain dict, extra)`` of a file written by :func:`write_checkpoint`, without
    building its network (export and status read this)."""
    data = _read_ours(path)
    if not isinstance(data.get("spec"), dict):
        raise CheckpointError(path, "holds no network spec")
    return dict(data["spec"]), dict(data.get("extra") or {})


def load_checkpoint(
    path: str | os.PathLike, device: str | torch.device = "cpu"
) -> tuple[torch.nn.Module, NetworkSpec, dict]:
    """Load a file written by :func:`write_checkpoint`; returns ``(model in eval mode, spec, extra)``."""
    data = _read_ours(path)
    try:
        spec = NetworkSpec.from_dict(data["spec"])
        model = build_network(_offline(spec))
        model.load_state_dict(data["state_dict"], strict=True)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(path, f"does not rebuild ({type(exc).__name__}: {exc})") from exc
    return model.to(device).eval(), spec, dict(data.get("extra") or {})


def _state_dict_of(data) -> dict:
    """Find the state dict in our format, a bare state dict, or common wrappers (Lightning, DDP)."""
    if isinstance(data, dict) and data.get("format") == FORMAT:
        data = data["state_dict"]
    elif isinstance(data, dict):
        for key in ("state_dict", "model", "model_state_dict"):
            if isinstance(data.get(key), dict):
                data = data[key]
                break
    if not isinstance(data, dict) or not any(isinstance(v, torch.Tensor) for v in data.values()):
        raise ValueError("no state dict (name -> tensor) found")
    state = {k: v for k, v in data.items() if isinstance(v, torch.Tensor)}
    for prefix in ("module.", "model."):  # DataParallel / Lightning wrappers
        if all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
    return state


def load_user_checkpoint(
    path: str | os.PathLike, spec: NetworkSpec, device: str | torch.device = "cpu"
) -> tuple[torch.nn.Module, list[str]]:
    """Build ``spec`` and warm start it from a user's checkpoint (our format or a bare state dict).

    Returns ``(model, skipped)``: ``skipped`` lists the segmentation-head parameters left at their
    fresh initialisation because their shape differs (other classes). Any other missing or
    mismatched parameter means a different network and raises :class:`CheckpointError`.
    ``spec.encoder_weights`` is ignored here: the checkpoint supersedes it.
    """
    try:
        state = _state_dict_of(_read(path))
    except ValueError as exc:
        raise CheckpointError(path, str(exc)) from exc
    model = build_network(_offline(spec))
    own = model.state_dict()
    usable, skipped, broken = {}, [], []
    for name, tensor in own.items():
        theirs = state.get(name)
        if theirs is not None and theirs.shape == tensor.shape:
            usable[name] = theirs
        elif name.startswith(HEAD_PREFIX):
            skipped.append(name)
        else:
            why = "missing" if theirs is None else f"shape {tuple(theirs.shape)} != {tuple(tensor.shape)}"
            broken.append(f"{name} ({why})")
    if broken:
        shown = ", ".join(broken[:5]) + (f" and {len(broken) - 5} more" if len(broken) > 5 else "")
        raise CheckpointError(path, f"does not fit {spec.arch}/{spec.encoder}: {shown}")
    model.load_state_dict(usable, strict=False)
    if skipped:
        log.warning("%s: segmentation head not loaded (other classes): %s", path, ", ".join(skipped))
    return model.to(device), skipped


def starting_network(
    spec: NetworkSpec,
    *,
    warm: str | os.PathLike | None = None,
    base: str | os.PathLike | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> torch.nn.Module:
    """The network a round starts from, in this order:

    - ``warm``: the video's own last checkpoint, when the file exists and has ``spec``'s classes;
    - ``base``: a user's or pretrained checkpoint (a head for other classes starts fresh);
    - fresh weights (``spec.encoder_weights`` for the encoder), seeded with ``seed``.
    """
    if warm is not None and os.path.isfile(warm):
        model, saved, _ = load_checkpoint(warm, device=device)
        if tuple(saved.classes) == tuple(spec.classes):
            return model
        log.warning("%s: classes changed, not warm-starting from it", os.fspath(warm))
    if base is not None:
        model, _skipped_head = load_user_checkpoint(base, spec, device=device)
        return model
    torch.manual_seed(seed)
    return build_network(spec).to(device)
