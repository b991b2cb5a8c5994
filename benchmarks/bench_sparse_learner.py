"""Which sparse-label learner spreads a few revealed pixels best? Same images, same pixels, each idea.

Per image (``--images`` evenly spaced over the folder, as the `pixels` command picks them) the
oracle reveals ``--pixels`` random labelled pixels (seeded); every learner sees exactly those and is
scored at full resolution on pixel accuracy and mIoU (void ignored), revealed pixels delivered as
revealed. Learners (``--learners``, comma separated):

- ``walker``: edge-aware spreading of the seeds alone (random walker, no network);
- ``net``: the per-image network from scratch (the `pixels` loop's network and total steps);
- ``net+walker``: the network's probabilities as the walker's prior, seeds on top;
- ``mlp``: image-adaptive pixel features and a per-image MLP from scratch (no spreading);
- ``mlp+walker``: the sparse learner of ``propagation.sparse_learner`` (MLP prior, then the walker).

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/bench_sparse_learner.py --frames ../shared/data/camvid/train \
        --labels ../shared/data/camvid/trainannot --images 10 --pixels 173 --learners walker,net,net+walker
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace

import numpy as np
import torch

from propagation import UNKNOWN, overlay_known, starting_network
from propagation.edge_aware import SpreadConfig, spread_labels
from propagation.sparse_learner import SparseLearnerConfig, learn_from_pixels
from vidseg.simulation.dataset import CAMVID_CLASSES, load_video
from vidseg.simulation.metrics import label_quality
from vidseg.simulation.pixels import PixelConfig, predict_full, train_on_pixels


def random_seeds(truth: np.ndarray, count: int, seed: int) -> np.ndarray:
    """(H, W) labels: ``count`` uniformly random non-void pixels revealed, UNKNOWN elsewhere."""
    flat = np.flatnonzero(truth.reshape(-1) != UNKNOWN)
    chosen = np.random.default_rng(seed).choice(flat, size=min(count, len(flat)), replace=False)
    seeds = np.full(truth.size, UNKNOWN, dtype=np.int64)
    seeds[chosen] = truth.reshape(-1)[chosen]
    return seeds.reshape(truth.shape)


def network_probs(image, seeds, class_names, config: PixelConfig, steps: int):
    import cv2

    spec = config.spec(class_names)
    small = cv2.resize(image, (spec.width, spec.height), interpolation=cv2.INTER_AREA)
    model = starting_network(spec, seed=config.seed)
    train_on_pixels(model, small, seeds, spec, steps, config, config.seed)
    return predict_full(model, small, spec, seeds.shape)


def score(seeds, probs, truth, n_classes) -> dict:
    delivered = overlay_known(seeds, probs.argmax(0))
    q = label_quality(delivered, truth, n_classes)
    return {"acc": round(100 * q["pixel_accuracy"], 2), "miou": round(100 * q["miou"], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", required=True)
    parser.add_argument("--labels", required=True)
    parser.add_argument("--images", type=int, default=10)
    parser.add_argument("--pixels", type=int, default=173)
    parser.add_argument("--learners", default="walker,net,net+walker")
    parser.add_argument("--steps", type=int, default=260, help="network training steps")
    parser.add_argument("--beta", type=float, default=SpreadConfig().beta)
    parser.add_argument("--prior-weight", type=float, default=SpreadConfig().prior_weight)
    parser.add_argument("--size", default="180x240", help="working size of the sparse learner, HxW")
    parser.add_argument("--mlp-steps", type=int, default=SparseLearnerConfig().steps)
    parser.add_argument("--hidden", type=int, default=SparseLearnerConfig().hidden)
    parser.add_argument("--noise", type=float, default=SparseLearnerConfig().noise)
    parser.add_argument("--scales", default=",".join(map(str, SparseLearnerConfig().scales)),
                        help="blur sigmas of the colour features, comma separated")
    parser.add_argument("--iterations", type=int, default=SpreadConfig().iterations)
    parser.add_argument("--tolerance", type=float, default=SpreadConfig().tolerance)
    parser.add_argument("--out", default=None, help="write per-image rows as JSON here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    video = load_video(args.frames, args.labels, ignore_index=11, class_names=CAMVID_CLASSES)
    indices = np.unique(np.linspace(0, video.n_frames - 1, args.images).round().astype(int))
    config = PixelConfig()
    spread = replace(SpreadConfig(), beta=args.beta, prior_weight=args.prior_weight, iterations=args.iterations,
                     tolerance=args.tolerance)
    learners = args.learners.split(",")
    height, width = (int(v) for v in args.size.split("x"))
    sparse = SparseLearnerConfig(height=height, width=width, steps=args.mlp_steps, hidden=args.hidden,
                                 noise=args.noise, scales=tuple(float(v) for v in args.scales.split(",")),
                                 spread=spread)
    rows = []
    for index in indices:
        image, truth = video.frames[index], video.labels[index]
        seeds = random_seeds(truth, args.pixels, seed=int(index))
        row = {"image": video.names[index]}
        net = None
        for learner in learners:
            started = time.perf_counter()
            if learner == "walker":
                probs = spread_labels(image, seeds, video.n_classes, config=spread)
            elif learner.startswith("net"):
                if net is None:
                    net = network_probs(image, seeds, video.class_names, config, args.steps)
                probs = net
                if learner == "net+walker":
                    probs = spread_labels(image, seeds, video.n_classes, prior=net, confidence=net.max(0),
                                          config=spread)
            elif learner in ("mlp", "mlp+walker"):
                probs = learn_from_pixels(image, seeds, video.n_classes,
                                          replace(sparse, spread=spread if learner == "mlp+walker" else None))
            else:
                raise SystemExit(f"unknown learner {learner}")
            row[learner] = {**score(seeds, probs, truth, video.n_classes),
                            "s": round(time.perf_counter() - started, 1)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    for learner in learners:
        accs = [r[learner]["acc"] for r in rows]
        mious = [r[learner]["miou"] for r in rows]
        print(f"{learner:12} acc {np.mean(accs):6.2f} (worst {min(accs):6.2f})  mIoU {np.mean(mious):6.2f}  "
              f"s/image {np.mean([r[learner]['s'] for r in rows]):5.1f}", flush=True)
    if args.out:
        with open(args.out, "w") as handle:
            json.dump({"args": vars(args), "rows": rows}, handle, indent=1)


if __name__ == "__main__":
    main()
