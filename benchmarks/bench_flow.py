"""Seconds per frame pair of optical flow for each preset (`propagation.PRESETS`), side by side.

    .venv/bin/python benchmarks/bench_flow.py                            # 30 frames of the CamVid clip at 360x480
    .venv/bin/python benchmarks/bench_flow.py --size 360x640 --frames 30  # what a 720p video's flow runs at

The frames are the CamVid val clip's first ``--frames``, resized to ``--size`` (the worker computes
flow at the frames' size with the long side at most FLOW_MAX_SIDE, 640: 360x640 for 720p video).
Presets run in turns, ``--rounds`` times each, on the same frames; the best of the rounds is kept
(the machine is shared: the least disturbed run is the closest to the cost), and each preset's time
is also printed as a ratio to the first preset's.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

from propagation import PRESETS, compute_flows

CAMVID_VAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "camvid" / "val"


def _size(text: str) -> tuple[int, int]:
    height, width = (int(part) for part in text.lower().split("x"))
    return height, width


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--size", type=_size, default=(360, 480), help="HxW the flow runs at")
    parser.add_argument("--presets", default="medium,fine")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    presets = args.presets.split(",")
    for preset in presets:
        if preset not in PRESETS:
            parser.error(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    names = sorted(CAMVID_VAL.glob("*.png"))[: args.frames]
    if len(names) < 2:
        parser.error(f"need at least 2 frames in {CAMVID_VAL}")
    height, width = args.size
    frames = np.stack([cv2.resize(cv2.imread(str(name))[..., ::-1], (width, height), interpolation=cv2.INTER_AREA)
                       for name in names])
    best = {preset: float("inf") for preset in presets}
    for _ in range(args.rounds):
        for preset in presets:
            started = time.perf_counter()
            compute_flows(frames, preset=preset)
            best[preset] = min(best[preset], time.perf_counter() - started)
    pairs = len(frames) - 1
    print(f"{pairs} frame pairs at {height}x{width}, best of {args.rounds}")
    for preset in presets:
        print(f"{preset:>10}: {best[preset] / pairs * 1000:7.1f} ms per pair (forward + backward + checks), "
              f"{best[preset] / best[presets[0]]:.2f}x {presets[0]}")


if __name__ == "__main__":
    main()
