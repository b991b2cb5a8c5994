"""Train a base network on a labelled frame set (e.g. CamVid train) for runs that start pretrained."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TextIO

from propagation import (
    FinetuneConfig,
    NetworkSpec,
    finetune,
    starting_network,
)
from vidseg.artifacts import save_checkpoint
from vidseg.progress import Progress
from vidseg.simulation.dataset import Video


def pretrain(video: Video, spec: NetworkSpec, config: FinetuneConfig, out: Path, log=print,
             progress_stream: TextIO | None = None) -> dict:
    """Train from scratch on every frame's labels (no temporal term: the frames are not a video).
    Progress: a bar of steps on a terminal, else a line every 10 s (``pretrain: 120/400 steps (30%), loss 0.412``)."""
    model = starting_network(spec, seed=config.seed, device=config.device)
    started = time.perf_counter()
    progress = Progress("pretrain", config.steps, stream=progress_stream, unit="steps")

    def step_done(step: int, total: int, stats: dict) -> None:
        loss = stats.get("loss")
        progress.advance(note=f"loss {loss:.3f}" if loss is not None else None)

    try:
        stats = finetune(model, video.frames, video.labels, None, spec, config, progress=step_done)
    finally:
        progress.close()
    extra = {"source_frames": len(video.names), "steps": config.steps, "seconds": time.perf_counter() - started}
    save_checkpoint(out, model, spec, extra)
    log(f"saved {out} ({extra['seconds']:.0f} s)")
    return {**stats, **extra}
