"""Train a base network on a labelled frame set (e.g. CamVid train) for runs that start pretrained."""

from __future__ import annotations

import time
from pathlib import Path

from propagation import (
    FinetuneConfig,
    NetworkSpec,
    finetune,
    starting_network,
)
from vidseg.artifacts import save_checkpoint
from vidseg.simulation.dataset import Video


def pretrain(video: Video, spec: NetworkSpec, config: FinetuneConfig, out: Path, log=print) -> dict:
    """Train from scratch on every frame's labels (no temporal term: the frames are not a video)."""
    model = starting_network(spec, seed=config.seed, device=config.device)
    started = time.perf_counter()
    every = max(1, config.steps // 20)

    def progress(step: int, total: int, stats: dict) -> None:
        if step % every == 0 or step == total:
            loss = stats.get("loss")
            shown = f", loss {loss:.3f}" if loss is not None else ""
            log(f"pretrain step {step}/{total}{shown} ({time.perf_counter() - started:.0f} s)")

    stats = finetune(model, video.frames, video.labels, None, spec, config, progress=progress)
    extra = {"source_frames": len(video.names), "steps": config.steps, "seconds": time.perf_counter() - started}
    save_checkpoint(out, model, spec, extra)
    log(f"saved {out}")
    return {**stats, **extra}
