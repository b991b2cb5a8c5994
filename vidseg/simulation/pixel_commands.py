"""The `pixels` and `dataset` subcommands of `python -m vidseg.simulation` (pixel-level annotation).

    python -m vidseg.simulation pixels --frames DIR --labels DIR --ignore-index 11 --camvid \
        --images 10 --out runs/pixels
    python -m vidseg.simulation dataset --frames TRAIN --labels TRAINANNOT --val-frames VAL \
        --val-labels VALANNOT --ignore-index 11 --camvid --images 16 --out runs/dataset
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from selection.errors import SelectionError
from selection.uncertainty import UNCERTAINTY_METHODS
from vidseg.simulation.dataset import CAMVID_CLASSES, DatasetError, load_video
from vidseg.simulation.dataset_level import DatasetConfig, run_dataset_experiment
from vidseg.simulation.pixels import DEFAULT_STRATEGIES, LEARNERS, PIXEL_STRATEGIES, PixelConfig, run_pixel_experiment


def add_pixel_commands(commands) -> None:
    """Add `pixels` and `dataset` to the subparsers of the simulation CLI."""
    pixels = commands.add_parser("pixels", help="single-image pixel annotation: active versus random pixels")
    _add_loop_arguments(pixels)
    pixels.add_argument("--strategies", type=_strategies, default=DEFAULT_STRATEGIES,
                        help=f"comma separated, from {', '.join(PIXEL_STRATEGIES)} (default: active,random)")
    dataset = commands.add_parser("dataset", help="pseudo-labels from per-image networks, then a data-set network")
    _add_loop_arguments(dataset, images=16)
    dataset.add_argument("--val-frames", required=True, help="folder of evaluation frames (e.g. the CamVid clip)")
    dataset.add_argument("--val-labels", required=True, help="their label PNGs")
    dataset_defaults = DatasetConfig()
    dataset.add_argument("--dataset-steps", type=int, default=dataset_defaults.network.steps,
                         help="most training steps of each data-set network (it stops earlier at its plateau)")
    dataset.add_argument("--dataset-batch", type=int, default=dataset_defaults.network.batch_size)
    dataset.add_argument("--dataset-lr", type=float, default=dataset_defaults.network.lr)
    dataset.add_argument("--dataset-encoder", default=dataset_defaults.encoder)
    dataset.add_argument("--dataset-size", default="x".join(map(str, dataset_defaults.size)),
                         help="working size HxW of the data-set networks (multiples of 32)")
    dataset.add_argument("--eval-every", type=int, default=dataset_defaults.eval_every,
                         help="steps per turn; every network is evaluated on the val frames after each")
    dataset.add_argument("--patience", type=int, default=dataset_defaults.patience,
                         help="plateau: this many evaluations in a row without --min-gain over the best")
    dataset.add_argument("--min-gain", type=float, default=dataset_defaults.min_gain, help="mIoU points")
    dataset.add_argument("--sparse-baseline", action="store_true",
                         help="also train a data-set network on the revealed pixels only (no pseudo-labels)")


def run_pixel_command(args) -> int:
    """Run `pixels` or `dataset`; input problems print one line and exit 2."""
    torch.set_num_threads(max(1, args.threads))
    try:
        config = _config(args)
        video, indices = _load_selected(args)
        if args.command == "pixels":
            results = run_pixel_experiment(video, indices, config, Path(args.out))
            _print_pixels(results, args.out)
            return 0
        val = load_video(args.val_frames, args.val_labels, ignore_index=args.ignore_index, n_classes=video.n_classes,
                         class_names=video.class_names)
        network = replace(DatasetConfig().network, steps=args.dataset_steps, batch_size=args.dataset_batch,
                          lr=args.dataset_lr)
        settings = DatasetConfig(pixels=replace(config, strategies=("active",)), network=network,
                                 encoder=args.dataset_encoder, size=_size(args.dataset_size, "--dataset-size"),
                                 eval_every=args.eval_every, patience=args.patience, min_gain=args.min_gain,
                                 sparse_baseline=args.sparse_baseline)
        settings.spec(("check",))
        results = run_dataset_experiment(video, indices, val, settings, Path(args.out))
        _print_dataset(results, args.out)
        return 0
    except (DatasetError, SelectionError, ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def _add_loop_arguments(sub, images: int = 10) -> None:
    defaults = PixelConfig()
    sub.add_argument("--frames", required=True, help="folder of frames (png/jpg)")
    sub.add_argument("--labels", required=True, help="folder of label PNGs with the frames' names")
    sub.add_argument("--ignore-index", type=int, default=None, help="void label value (CamVid: 11)")
    sub.add_argument("--classes", type=int, default=None, help="number of classes (default: max label + 1)")
    sub.add_argument("--camvid", action="store_true", help="use CamVid class names")
    sub.add_argument("--images", type=int, default=images, help="frames, evenly spaced over the sorted folder")
    sub.add_argument("--out", required=True, help="results folder")
    sub.add_argument("--learner", default=defaults.learner, choices=LEARNERS,
                     help="sparse: features + MLP + edge-aware spreading; network: a CNN from scratch")
    sub.add_argument("--sparse-size", default=f"{defaults.sparse.height}x{defaults.sparse.width}",
                     help="working size HxW of the sparse learner")
    sub.add_argument("--height", type=int, default=defaults.height, help="network working height (multiple of 32)")
    sub.add_argument("--width", type=int, default=defaults.width, help="network working width (multiple of 32)")
    sub.add_argument("--encoder", default=defaults.encoder)
    sub.add_argument("--rounds", type=int, default=defaults.rounds)
    sub.add_argument("--per-round", type=int, default=defaults.per_round, help="pixels revealed per round")
    sub.add_argument("--first-steps", type=int, default=defaults.first_steps, help="training steps of round 1")
    sub.add_argument("--steps", type=int, default=defaults.finetune.steps, help="training steps of each later round")
    sub.add_argument("--lr", type=float, default=defaults.finetune.lr)
    sub.add_argument("--min-distance", type=float, default=defaults.min_distance,
                     help="no two actively picked pixels closer than this (px, full resolution)")
    sub.add_argument("--uncertainty", default=defaults.uncertainty, choices=tuple(UNCERTAINTY_METHODS))
    sub.add_argument("--seed", type=int, default=0)
    sub.add_argument("--device", default="cpu")
    sub.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 on a shared 2-core machine)")


def _strategies(text: str) -> tuple[str, ...]:
    items = tuple(item.strip() for item in text.split(",") if item.strip())
    if not items:
        raise argparse.ArgumentTypeError("name at least one strategy")
    for item in items:
        if item not in PIXEL_STRATEGIES:
            raise argparse.ArgumentTypeError(f"{item!r} is not one of {', '.join(PIXEL_STRATEGIES)}")
    return items


def _size(text: str, flag: str) -> tuple[int, int]:
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"{flag} must be HxW, e.g. 180x240, got {text!r}") from None
    return height, width


def _config(args) -> PixelConfig:
    finetune = replace(PixelConfig().finetune, steps=args.steps, lr=args.lr, device=args.device)
    sparse_height, sparse_width = _size(args.sparse_size, "--sparse-size")
    sparse = replace(PixelConfig().sparse, height=sparse_height, width=sparse_width, seed=args.seed)
    config = PixelConfig(learner=args.learner, sparse=sparse, height=args.height, width=args.width,
                         encoder=args.encoder, rounds=args.rounds, per_round=args.per_round,
                         first_steps=args.first_steps, finetune=finetune,
                         min_distance=args.min_distance, uncertainty=args.uncertainty,
                         strategies=tuple(getattr(args, "strategies", None) or DEFAULT_STRATEGIES), seed=args.seed)
    config.validate()
    config.spec(("check",))  # fail fast on a working size that is not a multiple of 32
    return config


def _load_selected(args):
    """The labelled frames of ``--frames/--labels`` and ``--images`` indices evenly spaced over them."""
    if args.images < 1:
        raise ValueError(f"--images must be >= 1, got {args.images}")
    video = load_video(args.frames, args.labels, ignore_index=args.ignore_index, n_classes=args.classes,
                       class_names=CAMVID_CLASSES if args.camvid else None)
    count = min(args.images, video.n_frames)
    return video, np.unique(np.linspace(0, video.n_frames - 1, count).round().astype(int))


def _print_pixels(results: dict, out: str) -> None:
    print(f"{'series':8} {'round':>5} {'pixels':>7} {'% px':>7} {'acc':>6} {'mIoU':>6}")
    for row in results["summary"]:
        print(f"{row['series']:8} {row['round']:5d} {row['pixels']:7.1f} {row['pixels_pct']:7.3f} "
              f"{row['pixel_accuracy']:6.2f} {row['miou']:6.2f}")
    print(f"seconds per image: {results['seconds_per_image']}; resolution ceiling: {results['ceiling']}")
    print(f"98% pixel accuracy: {results['target']}")
    print(f"results in {out}/results.json, results.csv, per_image.csv, accuracy_vs_pixels.png")


def _print_dataset(results: dict, out: str) -> None:
    for name, entry in results["networks"].items():
        print(f"{name:8} {entry['clicks']:8d} clicks  val mIoU {entry['val_miou']:6.2f}  val acc "
              f"{entry['val_pixel_accuracy']:6.2f}  {entry['steps']} steps{' (plateau)' if entry['plateau'] else ''}"
              f"  ({entry['seconds']:.0f} s)")
    pseudo = results["pseudo_labels"]
    print(f"pseudo-labels: {pseudo['pixels_pct']:.3f}% pixels revealed per image, quality on the train frames "
          f"mIoU {pseudo['miou']:.2f}, acc {pseudo['pixel_accuracy']:.2f}")
    print(f"results in {out}/results.json, results.csv, curves.csv")
