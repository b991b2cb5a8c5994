"""Peak memory and time of one worker round on a long or large video made from the CamVid clip.

    .venv/bin/python benchmarks/bench_scale.py --frames 1000 --height 720 --width 1280

The clip is resized to HEIGHT x WIDTH and played back and forth up to FRAMES frames, written to a
frame file on disk (as the worker reads its frames from the frame cache); every 10th frame gets its
ground truth as human labels. One round runs through the worker's code path: `cached_flows` at
FLOW_MAX_SIDE, `run_round` with the settings' defaults and its arrays on disk (`on_disk`), then
every delivered frame is fused and encoded as Label Studio brush results (`frame_results`), without
Label Studio. Prints seconds per stage and per frame, the process's peak resident memory
(ru_maxrss) and the disk the round used.
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

from propagation import DiskArray, SparseLabels, on_disk, starting_network
from vidseg.artifacts import cached_flows
from vidseg.engine import flow_size, labelled_samples, run_round
from vidseg.granularities import granularity_named
from vidseg.labelstudio.config import parse_label_config
from vidseg.labelstudio.predictions import frame_results
from vidseg.settings import Settings
from vidseg.simulation.dataset import CAMVID_CLASSES, load_video

CAMVID = Path(__file__).resolve().parents[2] / "shared" / "data" / "camvid"
CONFIG = parse_label_config('<View><Image name="image" value="$image"/><BrushLabels name="tag" toName="image">'
                            + "".join(f'<Label value="{name}"/>' for name in CAMVID_CLASSES)
                            + "</BrushLabels></View>")


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def _synthetic(folder: Path, n_frames: int, height: int, width: int) -> tuple[DiskArray, SparseLabels]:
    """The clip resized and played back and forth, frames on disk, every 10th frame labelled."""
    clip = load_video(CAMVID / "val", CAMVID / "valannot", ignore_index=11, class_names=CAMVID_CLASSES)
    order = np.r_[np.arange(len(clip.frames)), np.arange(len(clip.frames) - 2, 0, -1)]  # back and forth
    frames = DiskArray.create(folder / "frames.npy", (n_frames, height, width, 3), np.uint8)
    labels = SparseLabels(n_frames, (height, width))
    for i, source in enumerate(np.resize(order, n_frames)):
        frames[i] = cv2.resize(clip.frames[source], (width, height), interpolation=cv2.INTER_LINEAR)
        if i % 10 == 5:
            labels[i] = cv2.resize(clip.labels[source], (width, height), interpolation=cv2.INTER_NEAREST)
    return DiskArray.open(folder / "frames.npy"), labels


def _disk_gb(folder: Path) -> float:
    return sum(path.stat().st_blocks * 512 for path in folder.rglob("*") if path.is_file()) / 2**30


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=101)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--width", type=int, default=480)
    args = parser.parse_args()
    torch.set_num_threads(2)
    settings = Settings.from_env({})
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        frames, labels = _synthetic(folder / "clip", args.frames, args.height, args.width)
        spec, config, unit_params = settings.round_setup(CAMVID_CLASSES, 1)
        units = granularity_named(settings.granularity).units(*labels.shape, frames, unit_params)
        labelled = labelled_samples(units, labels)
        model = starting_network(spec, seed=0)
        seconds = {}
        started = time.perf_counter()
        flows = cached_flows(folder / "flows", frames, flow_size(args.height, args.width, settings.flow_max_side))
        seconds["flow"] = time.perf_counter() - started
        started = time.perf_counter()
        result = run_round(model, frames, labels, units, labelled, flows, spec, config,
                           scratch=on_disk(folder / "scratch"))
        seconds["round"] = time.perf_counter() - started
        started = time.perf_counter()
        tasks = [{"id": t} for t in range(args.frames)]
        encoded = sum(len(entry["result"]) for entry in frame_results(tasks, CONFIG, units, result.selection, labels,
                                                                      result.delivered))
        seconds["deliver"] = time.perf_counter() - started
        disk = _disk_gb(folder) - _disk_gb(folder / "clip")
    total = sum(seconds.values())
    stages = ", ".join(f"{name} {value:.1f} s" for name, value in seconds.items())
    print(f"{args.frames} frames at {args.width}x{args.height}: {stages}; {total / args.frames:.2f} s/frame; "
          f"peak RSS {_peak_gb():.2f} GB; round's disk {disk:.2f} GB; {encoded} brush regions delivered")


if __name__ == "__main__":
    main()
