"""How far can labels carried along the optical flow go, and what stops them?

    .venv/bin/python benchmarks/bench_carry_ceiling.py                  # CamVid val clip
    .venv/bin/python benchmarks/bench_carry_ceiling.py --every 2,5 --bias

With every Kth frame labelled, the frames between get the fused votes carried from both sides
(`propagation.fusion`, the product's defaults; no network: at these distances the votes reach
every pixel). Per K it prints:

- the carried labels' mIoU on the frames between and on the whole video (labelled frames are the
  truth), with the classes that cap it;
- where their wrong pixels are: the share within 1 and 2 px of a ground-truth class boundary (a
  boundary placed a pixel off, not a wrong object);
- the correction ceiling: every frame between corrected by the simulation's correction model
  (`vidseg.simulation.costs`: wrong regions under ``--min-fix-region`` px stay wrong), the whole
  video's mIoU and the clicks (labelled frames drawn, the others corrected) as a share of drawing
  every frame;
- with ``--bias``, an upper bound on re-weighting the classes before the argmax: per-class
  log-offsets fitted *on the ground truth* of the frames between (coordinate ascent on mIoU).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import torch

from propagation import compute_flows
from propagation.fusion import Delivery, carry_votes
from propagation.labels import UNKNOWN
from vidseg.simulation.costs import MIN_FIX_REGION, corrected_labels, correction_map, frame_cost, frame_costs
from vidseg.simulation.dataset import CAMVID_CLASSES, load_video
from vidseg.simulation.metrics import label_quality

CAMVID = Path(__file__).resolve().parents[2] / "shared" / "data" / "camvid"


def offset_labels(votes: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """One frame's votes (C, H, W) -> (H, W) labels with per-class log-offsets ``bias`` added before the
    argmax, UNKNOWN where no vote reaches."""
    votes = votes.astype(np.float32)
    return np.where(votes.sum(axis=0) > 0, (np.log(votes + 1e-4) + bias[:, None, None]).argmax(axis=0), UNKNOWN)


def boundary_distance(truth: np.ndarray) -> np.ndarray:
    """(H, W) float32: each pixel's distance to the nearest pixel whose 4-neighbour has another label."""
    edge = np.zeros(truth.shape, bool)
    across, down = truth[:, 1:] != truth[:, :-1], truth[1:] != truth[:-1]
    edge[:, 1:] |= across
    edge[:, :-1] |= across
    edge[1:] |= down
    edge[:-1] |= down
    return cv2.distanceTransform((~edge).astype(np.uint8), cv2.DIST_L2, 3)


def quality(predictions: dict[int, np.ndarray], truth: np.ndarray, n_classes: int) -> dict:
    """`label_quality` of the frames in ``predictions`` ({frame: (H, W) labels})."""
    frames = sorted(predictions)
    return label_quality(np.stack([predictions[t] for t in frames]), truth[frames], n_classes)


def fitted_bias(votes: np.ndarray, between: list[int], truth: np.ndarray, n_classes: int) -> tuple[np.ndarray, float]:
    """Per-class log-offsets maximising the mIoU of the frames ``between`` against their truth."""
    bias = np.zeros(n_classes)

    def score(b):
        return quality({t: offset_labels(votes[t], b) for t in between}, truth, n_classes)["miou"]

    best = score(bias)
    for step in (0.5, 0.25, 0.1):
        for c in range(n_classes):
            for delta in (step, -step):
                trial = bias.copy()
                trial[c] += delta
                value = score(trial)
                if value > best:
                    best, bias = value, trial
    return bias, best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", default=CAMVID / "val")
    parser.add_argument("--labels", default=CAMVID / "valannot")
    parser.add_argument("--prefix", default="")
    parser.add_argument("--every", default="2,5", help="label every Kth frame, for each K listed")
    parser.add_argument("--min-fix-region", type=int, default=MIN_FIX_REGION)
    parser.add_argument("--bias", action="store_true", help="also fit the per-class upper bound (slow)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    video = load_video(args.frames, args.labels, ignore_index=11, class_names=CAMVID_CLASSES, prefix=args.prefix)
    flows = compute_flows(video.frames)
    scratch = frame_costs(video.labels)
    for k in (int(x) for x in args.every.split(",")):
        report(k, video, flows, scratch, args.min_fix_region, args.bias)


def report(k: int, video, flows, scratch: np.ndarray, min_fix_region: int, fit_bias: bool) -> None:
    """Print the measurements for every ``k``th frame labelled."""
    truth, n, classes = video.labels, video.n_frames, video.n_classes
    labelled = list(range(0, n, k))
    between = [t for t in range(n) if t % k]
    human = np.full(truth.shape, UNKNOWN, np.int16)
    human[labelled] = truth[labelled]
    votes = carry_votes(human, flows, classes)
    delivery = Delivery(human, votes, None, 0.0)  # what the product delivers from the votes alone
    carried = {t: delivery.frame(t).labels for t in between}
    drawn = {t: truth[t] for t in labelled}
    q_between = quality(carried, truth, classes)
    q_all = quality({**carried, **drawn}, truth, classes)
    wrong = near1 = near2 = 0
    corrected, clicks = {}, int(scratch[labelled].sum())
    for t, pred in carried.items():
        miss = (pred != truth[t]) & (truth[t] != UNKNOWN)
        distance = boundary_distance(truth[t])
        wrong += int(miss.sum())
        near1 += int((miss & (distance <= 1)).sum())
        near2 += int((miss & (distance <= 2)).sum())
        fix = correction_map(truth[t], pred, min_fix_region)
        clicks += frame_cost(fix)
        corrected[t] = corrected_labels(truth[t], pred, fix)
    q_fixed = quality({**corrected, **drawn}, truth, classes)
    per_class = q_between["per_class_iou"]
    lowest = ", ".join(f"{video.class_names[c]} {100 * per_class[c]:.1f}"
                       for c in np.argsort(np.where(np.isnan(per_class), 1, per_class))[:3])
    share = 100 * scratch[labelled].sum() / scratch.sum()
    print(f"every {k}th frame labelled ({len(labelled)} frames, {share:.1f}% of the clicks): carried labels "
          f"{100 * q_between['miou']:.1f} mIoU on the frames between (lowest: {lowest}), "
          f"{100 * q_all['miou']:.1f} on the whole video; of their wrong pixels {100 * near1 / max(wrong, 1):.1f}% "
          f"lie within 1 px of a true boundary, {100 * near2 / max(wrong, 1):.1f}% within 2 px", flush=True)
    print(f"  every frame between corrected (regions under {min_fix_region} px left): "
          f"{100 * q_fixed['miou']:.1f} mIoU at {100 * clicks / scratch.sum():.1f}% of the clicks", flush=True)
    if fit_bias:
        bias, best = fitted_bias(votes, between, truth, classes)
        print(f"  class offsets fitted on the truth (upper bound): {100 * best:.1f} mIoU on the frames between "
              f"(offsets {np.round(bias, 2).tolist()})", flush=True)


if __name__ == "__main__":
    main()
