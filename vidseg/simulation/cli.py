"""Command line of the oracle simulation.

    python -m vidseg.simulation run --frames DIR --labels DIR --ignore-index 11 --out runs/clip
    python -m vidseg.simulation pretrain --frames DIR --labels DIR --ignore-index 11 --out base.pt
    python -m vidseg.simulation pixels --frames DIR --labels DIR --ignore-index 11 --images 10 --out runs/pixels
    python -m vidseg.simulation dataset --frames DIR --labels DIR --val-frames DIR --val-labels DIR --out runs/ds
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from propagation import FinetuneConfig, FusionConfig, NetworkSpec
from propagation.densify import PIXEL_LEARNERS, DensifyConfig
from propagation.flow_presets import DEFAULT_PRESET, PRESETS
from propagation.upsampling import UPSAMPLINGS
from vidseg.capacity import check_simulation_fits
from vidseg.engine import RoundConfig
from vidseg.granularities import GRANULARITIES, UnitParams
from vidseg.simulation.costs import MIN_FIX_REGION
from vidseg.simulation.dataset import CAMVID_CLASSES, DatasetError, load_video
from vidseg.simulation.oracle import COST_MODELS
from vidseg.simulation.pixel_commands import add_pixel_commands, run_pixel_command
from vidseg.simulation.runner import RunConfig, default_budgets, run_experiment
from vidseg.strategies import STRATEGIES


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command in ("pixels", "dataset"):
        return run_pixel_command(args)
    try:
        video = load_video(
            args.frames, args.labels, ignore_index=args.ignore_index, n_classes=args.classes,
            class_names=CAMVID_CLASSES if args.camvid else None, max_frames=args.max_frames,
            prefix=args.prefix,
        )
        finetune = FinetuneConfig(
            steps=args.steps, lr=args.lr, batch_size=args.batch_size, pairs_per_step=args.pairs,
            temporal_weight=args.temporal_weight, seed=args.seed, device=args.device,
        )
        spec = NetworkSpec(
            classes=tuple(video.class_names), arch=args.arch, encoder=args.encoder,
            height=args.height, width=args.width,
        )
        if args.command == "pretrain":
            from vidseg.simulation.pretrain import pretrain

            pretrain(video, spec, finetune, Path(args.out))
            return 0
        config = RunConfig(
            strategies=tuple(args.strategies), granularities=tuple(args.granularities),
            budgets={**default_budgets(), **args.budget}, max_rounds=args.rounds,
            target_miou=args.target, max_clicks_pct=args.max_clicks, epsilon=args.epsilon,
            cost_model=args.cost_model, min_fix_region=args.min_fix_region,
            units=UnitParams(args.rectangle_size, args.superpixels, args.pixel_stride),
            round=RoundConfig(fusion=FusionConfig(half_life=args.half_life, network_weight=args.network_weight,
                                                  upsampling=args.upsampling),
                              pseudo_labels=args.pseudo_labels, finetune=finetune,
                              densify=DensifyConfig(learner=args.pixel_learner)),
            init_checkpoint=args.init, spec=spec, seed=args.seed, flow_preset=args.flow_preset,
        )
        check_simulation_fits(len(video.frames), *video.frames.shape[1:3], video.n_classes)
        results = run_experiment(video, config, Path(args.out))
    except (DatasetError, ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except MemoryError:
        print(f"error: the simulation ran out of memory; the series already finished are in {args.out}/results.json. "
              "Use --max-frames or smaller frames", file=sys.stderr)
        return 2
    _print_summary(results["summary"])
    print(f"results in {args.out}/results.json, results.csv, quality_vs_clicks.png")
    return 0


def _print_summary(summary: dict) -> None:
    """% of clicks to reach each label mIoU, from scratch and correcting the delivered labels."""
    targets = (80, 90, 95)
    header = " ".join(f"{'@' + str(t):>7}" for t in targets)
    print(f"{'series':24} {'from scratch':>23}   {'correcting':>23} {'best':>6} {'s/round':>8}")
    print(f"{'':24} {header}   {header}")
    for series, entry in summary.items():
        shown = "   ".join(" ".join(f"{c:6.2f}%" if c is not None else "      -"
                                    for c in (entry[f"{kind}_at_{t}"] for t in targets))
                           for kind in ("clicks_pct", "correction_pct"))
        print(f"{series:24} {shown} {entry['best_miou']:6.1f} {entry['seconds_per_round'] or 0:8.1f}")


def _csv(choices):
    def parse(text: str) -> list[str]:
        items = [item.strip() for item in text.split(",") if item.strip()]
        for item in items:
            if item not in choices:
                raise argparse.ArgumentTypeError(f"{item!r} is not one of {', '.join(choices)}")
        return items
    return parse


def _budget(text: str) -> dict[str, int]:
    kind, _, number = text.partition("=")
    if kind not in GRANULARITIES or not number.isdigit() or int(number) <= 0:
        raise argparse.ArgumentTypeError(
            f"budget {text!r}: write GRANULARITY=N with N >= 1, e.g. frame=2 or rectangle=250"
        )
    return {kind: int(number)}


class _MergeBudgets(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None):
        merged = dict(getattr(namespace, self.dest) or {})
        merged.update(values)
        setattr(namespace, self.dest, merged)


def _positive(kind):
    def parse(text: str):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text} must be greater than 0")
        return value
    return parse


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m vidseg.simulation", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="clicks versus label quality, several strategies side by side")
    pre = commands.add_parser("pretrain", help="train a base network on a labelled frame set")
    for sub in (run, pre):
        sub.add_argument("--frames", required=True, help="folder of frames (png/jpg), sorted by name")
        sub.add_argument("--labels", required=True, help="folder of label PNGs with the frames' names")
        sub.add_argument("--ignore-index", type=int, default=None, help="void label value (CamVid: 11)")
        sub.add_argument("--classes", type=int, default=None, help="number of classes (default: max label + 1)")
        sub.add_argument("--camvid", action="store_true", help="use CamVid class names")
        sub.add_argument("--max-frames", type=_positive(int), default=None)
        sub.add_argument("--prefix", default="", help="only frames whose name starts with this (one sequence)")
        sub.add_argument("--out", required=True, help="results folder (run) or checkpoint file (pretrain)")
        sub.add_argument("--arch", default="Unet")
        sub.add_argument("--encoder", default=NetworkSpec.encoder)
        sub.add_argument("--height", type=_positive(int), default=NetworkSpec.height, help="working height")
        sub.add_argument("--width", type=_positive(int), default=NetworkSpec.width, help="working width")
        sub.add_argument("--steps", type=_positive(int), default=FinetuneConfig.steps)
        sub.add_argument("--lr", type=_positive(float), default=FinetuneConfig.lr)
        sub.add_argument("--batch-size", type=_positive(int), default=FinetuneConfig.batch_size)
        sub.add_argument("--pairs", type=int, default=FinetuneConfig.pairs_per_step)
        sub.add_argument("--temporal-weight", type=float, default=FinetuneConfig.temporal_weight)
        sub.add_argument("--device", default="cpu")
        sub.add_argument("--seed", type=int, default=0)
    run.add_argument("--strategies", type=_csv(STRATEGIES), default=["hvsa", "uniform", "warp"])
    run.add_argument("--granularities", type=_csv(GRANULARITIES), default=["frame"])
    run.add_argument("--budget", type=_budget, action=_MergeBudgets, default={},
                     help=f"samples per round, GRANULARITY=N, repeatable (defaults: {default_budgets()})")
    run.add_argument("--rounds", type=_positive(int), default=10)
    run.add_argument("--target", type=float, default=95.0, help="stop at this label mIoU (%%)")
    run.add_argument("--max-clicks", type=float, default=30.0, help="stop past this %% of full clicks")
    run.add_argument("--epsilon", type=_positive(float), default=2.0, help="approxPolyDP tolerance (px)")
    run.add_argument("--cost-model", choices=COST_MODELS, default="scratch",
                     help="what the oracle reveals and --max-clicks counts: drawing from scratch or correcting "
                          "the delivered labels (rows report both)")
    run.add_argument("--min-fix-region", type=int, default=MIN_FIX_REGION,
                     help="correcting: wrong regions smaller than this many pixels are left wrong")
    run.add_argument("--rectangle-size", type=_positive(int), default=UnitParams.rectangle_size)
    run.add_argument("--superpixels", type=_positive(int), default=UnitParams.superpixels_per_frame,
                     help="superpixels per frame")
    run.add_argument("--pixel-stride", type=_positive(int), default=UnitParams.pixel_stride)
    run.add_argument("--half-life", type=_positive(float), default=FusionConfig.half_life,
                     help="frames a carried label travels before its weight halves")
    run.add_argument("--network-weight", type=float, default=FusionConfig.network_weight,
                     help="weight of the network beside carried labels (a human label weighs 1)")
    run.add_argument("--upsampling", choices=UPSAMPLINGS, default=FusionConfig.upsampling,
                     help="how delivered labels reach the frames' resolution: bilinear or guided by the frame")
    run.add_argument("--flow-preset", choices=tuple(PRESETS), default=DEFAULT_PRESET,
                     help="optical flow settings (FLOW_PRESET): fine is full resolution, medium about 2.6x faster")
    run.add_argument("--pseudo-labels", action=argparse.BooleanOptionalAction, default=RoundConfig.pseudo_labels,
                     help="train on those carried labels too")
    run.add_argument("--pixel-learner", choices=PIXEL_LEARNERS, default=DensifyConfig.learner,
                     help="sparse: densify frames labelled by a few key points first (PIXEL_LEARNER)")
    run.add_argument("--init", default=None, help="checkpoint to start every series from (see pretrain)")
    add_pixel_commands(commands)
    return parser


if __name__ == "__main__":
    sys.exit(main())
