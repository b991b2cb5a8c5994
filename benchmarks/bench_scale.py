"""Peak memory and time of one worker round on a long or large video made from the CamVid clip.

    .venv/bin/python benchmarks/bench_scale.py --frames 101 --height 360 --width 480

The clip is resized to HEIGHT x WIDTH and played back and forth up to FRAMES frames; every 10th
frame gets its ground truth as human labels. One round runs through the worker's code path
(`cached_flows` at FLOW_MAX_SIDE, then `run_round` with the settings' defaults), without Label
Studio. Prints frames, resolution, seconds per stage and per frame, and the process's peak resident
memory (ru_maxrss, which includes loading the clip).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from propagation import UNKNOWN, starting_network
from selection import pool_per_sample
from vidseg.artifacts import cached_flows
from vidseg.engine import flow_size, run_round
from vidseg.granularities import granularity_named
from vidseg.settings import Settings
from vidseg.simulation.dataset import CAMVID_CLASSES, load_video

CAMVID = Path(__file__).resolve().parents[2] / "shared" / "data" / "camvid"


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def _synthetic(n_frames: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    clip = load_video(CAMVID / "val", CAMVID / "valannot", ignore_index=11, class_names=CAMVID_CLASSES)
    order = np.r_[np.arange(len(clip.frames)), np.arange(len(clip.frames) - 2, 0, -1)]  # back and forth
    picks = np.resize(order, n_frames)
    frames = np.empty((n_frames, height, width, 3), np.uint8)
    labels = np.full((n_frames, height, width), UNKNOWN, np.int16)
    for i, source in enumerate(picks):
        frames[i] = cv2.resize(clip.frames[source], (width, height), interpolation=cv2.INTER_LINEAR)
        if i % 10 == 5:
            labels[i] = cv2.resize(clip.labels[source], (width, height), interpolation=cv2.INTER_NEAREST)
    return frames, labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=101)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--width", type=int, default=480)
    args = parser.parse_args()
    torch.set_num_threads(2)
    settings = Settings.from_env({})
    frames, labels = _synthetic(args.frames, args.height, args.width)
    spec, config, unit_params = settings.round_setup(CAMVID_CLASSES, 1)
    units = granularity_named(settings.granularity).units(*labels.shape, frames, unit_params)
    labelled = pool_per_sample(units, (labels != UNKNOWN).astype(np.float32)) > 0.5
    model = starting_network(spec, seed=0)
    seconds = {}
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        flows = cached_flows(Path(folder) / "flows.npz", frames, flow_size(args.height, args.width,
                                                                             settings.flow_max_side))
        seconds["flow"] = time.perf_counter() - started
    started = time.perf_counter()
    run_round(model, frames, labels, units, labelled, flows, spec, config)
    seconds["round"] = time.perf_counter() - started
    total = sum(seconds.values())
    stages = ", ".join(f"{name} {value:.1f} s" for name, value in seconds.items())
    print(f"{args.frames} frames at {args.width}x{args.height}: {stages}; {total / args.frames:.2f} s/frame; "
          f"peak RSS {_peak_gb():.2f} GB")


if __name__ == "__main__":
    main()
