"""Which sparse-label learner spreads a few revealed pixels best? Same images, same pixels, each idea.

Per image (``--images`` evenly spaced over the folder, as the `pixels` command picks them) the
oracle reveals ``--pixels`` random labelled pixels (seeded); every learner sees exactly those and is
scored at full resolution on pixel accuracy and mIoU (void ignored), revealed pixels delivered as
revealed. Learners (``--learners``, comma separated):

- ``walker``: edge-aware spreading of the seeds alone (random walker, no network);
- ``net``: the per-image network from scratch (the `pixels` loop's network and total steps);
- ``net+walker``: the network's probabilities as the walker's prior, seeds on top;
- ``mlp``: image-adaptive pixel features and a per-image MLP from scratch (no spreading);
- ``mlp+walker``: the sparse learner of ``propagation.sparse_learner`` (MLP prior, then the walker);
- ``ensemble+walker``, ``forest+walker``, ``superpixel+walker``: ideas measured against it and not kept:
  the mean of 5 MLPs (seeds 0-4), a random forest (200 trees, classes balanced) in place of the MLP,
  and the MLP on the features plus their means over SLIC superpixels (600 per image); each then walked.

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
from propagation.sparse_labels import shrink_label_map
from propagation.sparse_learner import (
    SparseLearnerConfig,
    learn_from_pixels,
    mlp_probabilities,
    pixel_features,
    spread_and_enlarge,
)
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


def _walked(image, seeds, n_classes, prior_of, sparse: SparseLearnerConfig):
    """A prior at the sparse learner's working size from ``prior_of`` (a `NOT_KEPT` entry), spread by
    the walker and enlarged: `learn_from_pixels` with another prior in place of its MLP."""
    work = (sparse.height, sparse.width)
    features = pixel_features(image, work, sparse.scales)
    small_seeds = shrink_label_map(seeds, work)
    prior = prior_of(image, features, small_seeds, n_classes, sparse).astype(np.float32)
    return spread_and_enlarge(image, small_seeds, prior, n_classes, sparse)


def _forest_prior(features, seeds, n_classes):
    from sklearn.ensemble import RandomForestClassifier

    known = seeds != UNKNOWN
    forest = RandomForestClassifier(n_estimators=200, class_weight="balanced", random_state=0, n_jobs=1)
    forest.fit(features[:, known].T, seeds[known])
    out = np.zeros((n_classes, features[0].size), np.float32)
    out[forest.classes_] = forest.predict_proba(features.reshape(len(features), -1).T).T
    return out.reshape(n_classes, *features.shape[1:])


def _with_superpixel_means(image, features):
    import cv2
    from skimage.segmentation import slic

    small = cv2.resize(np.ascontiguousarray(image), features.shape[:0:-1], interpolation=cv2.INTER_AREA)
    segments = slic(small, n_segments=600, compactness=10, start_label=0).ravel()
    counts = np.maximum(np.bincount(segments), 1)
    means = np.stack([np.bincount(segments, weights=f) / counts for f in features.reshape(len(features), -1)])
    both = np.concatenate([features, means[:, segments].reshape(features.shape)])
    return ((both - both.mean((1, 2), keepdims=True)) / (both.std((1, 2), keepdims=True) + 1e-6)).astype(np.float32)


NOT_KEPT = {
    "ensemble+walker": lambda image, f, s, n, c: np.mean([mlp_probabilities(f, s, n, replace(c, seed=seed))
                                                          for seed in range(5)], axis=0),
    "forest+walker": lambda image, f, s, n, c: _forest_prior(f, s, n),
    "superpixel+walker": lambda image, f, s, n, c: mlp_probabilities(_with_superpixel_means(image, f), s, n, c),
}
"""Priors tried in place of the MLP (image, features, small seeds, n_classes, config) -> (C, h, w)."""


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
            elif learner in NOT_KEPT:
                probs = _walked(image, seeds, video.n_classes, NOT_KEPT[learner], sparse)
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
