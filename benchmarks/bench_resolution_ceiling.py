"""The resolution ceiling per class: how much of the ground truth survives a trip through a lower
resolution, brought back bilinearly or guided by the frame (`propagation.upsampling`)?

    .venv/bin/python benchmarks/bench_resolution_ceiling.py                 # CamVid val clip
    .venv/bin/python benchmarks/bench_resolution_ceiling.py --split train --every 5 --eps 1e-3 --radius 1
    .venv/bin/python benchmarks/bench_resolution_ceiling.py --timing-only   # ms per 1280x720 frame

Each frame's ground truth, one-hot (void pixels weigh nothing), is shrunk by area averaging to the
network's working size and to the size the product computes optical flow at (and to half the
frame, what an HD video's flow size is to its frames), then brought back to the frame's size and
its argmax compared with the ground truth (void ignored); "nearest" shrinks and enlarges the label
map itself (no class shares survive), for comparison. The delivered labels can never be better than
this ceiling. Then the cost per 1280x720 frame of a `Delivery` (votes at the flow size
640x360, the network's 12 class probabilities at 96x128) bilinear vs guided.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from propagation import UNKNOWN, Delivery, resize_nearest
from propagation.inference import upsampled_argmax
from propagation.upsampling import GuidedFilter, guided_argmax
from vidseg.engine import flow_size
from vidseg.settings import Settings
from vidseg.simulation.dataset import CAMVID_CLASSES, load_video
from vidseg.simulation.metrics import label_quality

CAMVID = Path(__file__).resolve().parents[2] / "shared" / "data" / "camvid"
WORKING = (96, 128)
THIN = ("Pole", "SignSymbol", "Pedestrian", "Bicyclist")


def shrunk_one_hot(labels: np.ndarray, n_classes: int, size: tuple[int, int]) -> np.ndarray:
    """(H, W) labels -> (C, h, w) float32 class shares by area averaging (UNKNOWN weighs nothing)."""
    return np.stack([cv2.resize((labels == c).astype(np.float32), (size[1], size[0]), interpolation=cv2.INTER_AREA)
                     for c in range(n_classes)])


def brought_back(video, size, method: str, config: GuidedFilter) -> np.ndarray:
    out = np.empty(video.labels.shape, np.int32)
    for t, (frame, labels) in enumerate(zip(video.frames, video.labels, strict=True)):
        scores = shrunk_one_hot(labels, video.n_classes, size)
        if method == "nearest":  # label maps shrunk and enlarged: no class shares survive
            out[t] = resize_nearest(resize_nearest(labels, size), labels.shape)
        elif method == "guided":
            out[t] = guided_argmax(scores, frame, UNKNOWN, config)
        else:
            out[t] = upsampled_argmax(scores, labels.shape, UNKNOWN)
    return out


def ceiling(video, sizes: dict[str, tuple[int, int]], config: GuidedFilter) -> None:
    names = video.class_names
    print(f"{'size':>22} {'method':>8} {'mIoU':>5} " + " ".join(f"{n[:10]:>10}" for n in names))
    for label, size in sizes.items():
        for method in ("nearest", "bilinear", "guided"):
            quality = label_quality(brought_back(video, size, method, config), video.labels, video.n_classes)
            cells = " ".join(f"{100 * iou:10.1f}" for iou in quality["per_class_iou"])
            print(f"{label:>22} {method:>8} {100 * quality['miou']:5.1f} {cells}", flush=True)


def timing(video, config: GuidedFilter, repeats: int = 10) -> None:
    """ms per 1280x720 delivered frame: votes (12, 360, 640), network probabilities (12, 96, 128)."""
    size, classes = (720, 1280), 12
    frame = cv2.resize(video.frames[len(video.frames) // 2], (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    truth = cv2.resize(video.labels[len(video.labels) // 2], (size[1], size[0]), interpolation=cv2.INTER_NEAREST)
    votes = shrunk_one_hot(truth, classes, flow_size(*size, Settings.flow_max_side))[None].astype(np.float16)
    network = shrunk_one_hot(truth, classes, WORKING)[None].astype(np.float16)
    human = np.full((1, *size), UNKNOWN, np.int16)
    for name, kwargs in (("votes + network", {"votes": votes, "network": network}),
                         ("network only", {"votes": None, "network": network})):
        for method in ("bilinear", "guided"):
            delivery = Delivery(human, kwargs["votes"], kwargs["network"], 0.1, frame[None], method)
            delivery.frame(0)  # warm up
            started = time.perf_counter()
            for _ in range(repeats):
                delivery.frame(0)
            ms = 1000 * (time.perf_counter() - started) / repeats
            print(f"1280x720 delivered frame, {name:>15}, {method:>8}: {ms:6.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", default="val", help="CamVid split: val (the clip) or train")
    parser.add_argument("--every", type=int, default=1, help="keep every Nth frame")
    parser.add_argument("--radius", type=int, default=GuidedFilter.radius)
    parser.add_argument("--eps", type=float, default=GuidedFilter.eps)
    parser.add_argument("--timing-only", action="store_true")
    args = parser.parse_args()
    config = GuidedFilter(radius=args.radius, eps=args.eps)
    video = load_video(CAMVID / args.split, CAMVID / f"{args.split}annot", ignore_index=11,
                       class_names=CAMVID_CLASSES)
    video = replace(video, names=video.names[::args.every], frames=video.frames[::args.every],
                    labels=video.labels[::args.every])
    height, width = video.labels.shape[1:]
    print(f"CamVid {args.split}: {len(video.names)} frames {height}x{width}; guided radius {config.radius}, "
          f"eps {config.eps}")
    if not args.timing_only:
        flows = flow_size(height, width, Settings.flow_max_side)
        ceiling(video, {f"working {WORKING[0]}x{WORKING[1]}": WORKING,
                        f"flow {flows[0]}x{flows[1]}": flows,
                        f"half {height // 2}x{width // 2}": (height // 2, width // 2)}, config)
    timing(video, config)


if __name__ == "__main__":
    main()
