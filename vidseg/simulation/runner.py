"""The experiment runner: select -> reveal -> fine-tune -> predict -> measure, per strategy and granularity.

Every series (one strategy on one granularity) starts from the same network (scratch or a
pretrained checkpoint) and loops until the target label mIoU, the click cap or the round cap.
Each round is `vidseg.engine.run_round`, the code the RQ worker runs, never a copy of it.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TextIO

import numpy as np

from propagation import DEFAULT_PRESET, NetworkSpec, check_preset, compute_flows, load_checkpoint, starting_network
from propagation.densify import MemoryDensifyCache
from vidseg.atomic import atomic_write_bytes
from vidseg.engine import RoundConfig, RoundResult, run_round
from vidseg.granularities import GRANULARITIES, UnitParams, granularity_named
from vidseg.progress import Progress
from vidseg.simulation.costs import MIN_FIX_REGION, video_cost
from vidseg.simulation.dataset import Video
from vidseg.simulation.metrics import label_quality
from vidseg.simulation.oracle import Oracle, check_cost_model
from vidseg.simulation.plots import plot_quality_vs_clicks
from vidseg.strategies import strategy_named

TARGETS = (80.0, 90.0, 95.0)

Log = Callable[[str], None]


def default_budgets() -> dict[str, int]:
    return {name: granularity.simulation_budget for name, granularity in GRANULARITIES.items()}


@dataclass
class RunConfig:
    strategies: tuple[str, ...] = ("hvsa", "uniform", "warp")
    granularities: tuple[str, ...] = ("frame",)
    budgets: dict[str, int] = field(default_factory=default_budgets)
    max_rounds: int = 10
    target_miou: float = 95.0
    max_clicks_pct: float = 30.0
    epsilon: float = 2.0
    cost_model: str = "scratch"
    """What the oracle reveals and the click cap counts: "scratch" (the paper's) or "correction"
    (fixing the delivered labels); rows report the clicks of both."""
    min_fix_region: int = MIN_FIX_REGION
    units: UnitParams = field(default_factory=UnitParams)
    round: RoundConfig = field(default_factory=RoundConfig)
    """Uncertainty, label carrying and fine-tuning of every round; strategy, budget and seed are set
    per series and round."""
    init_checkpoint: str | None = None
    spec: NetworkSpec | None = None
    seed: int = 0
    flow_preset: str = DEFAULT_PRESET
    """The optical flow's settings (`propagation.PRESETS`), as the worker's FLOW_PRESET."""

    def validate(self) -> None:
        for name in self.strategies:
            strategy_named(name)
        for name in self.granularities:
            granularity_named(name)
            if self.budgets.get(name, 0) <= 0:
                raise ValueError(f"budget per round for {name!r} must be a positive number of samples")
        if self.max_rounds <= 0:
            raise ValueError("rounds must be at least 1")
        check_cost_model(self.cost_model)
        check_preset(self.flow_preset)


def run_experiment(video: Video, config: RunConfig, out_dir: Path, log: Log = print,
                   progress_stream: TextIO | None = None) -> dict:
    """Run every (granularity, strategy) series; results are rewritten after each series.

    Progress: a bar of rounds on a terminal, named after the running series (``log``'s lines print
    above it); else a line every 10 s and at the end of each series, ``series 2/6 uniform/frame:
    13/60 rounds (22%)``. The total counts every series' last round; one that stops early takes its
    rounds left off it."""
    config.validate()
    out_dir.mkdir(parents=True, exist_ok=True)
    spec = _network_spec(video, config)
    full_clicks = video_cost(video.labels, config.epsilon)
    log(f"{len(video.names)} frames, full manual cost {full_clicks} clicks")
    started = time.perf_counter()
    flows = compute_flows(video.frames, preset=config.flow_preset)
    log(f"optical flow: {time.perf_counter() - started:.1f} s")

    results = {"config": _describe(config, spec), "full_clicks": full_clicks, "rows": []}
    plan = [(name, strategy) for name in config.granularities for strategy in config.strategies]
    progress = Progress("rounds", len(plan) * config.max_rounds, stream=progress_stream, unit="rounds")
    log = progress.above(log)
    try:
        for index, (name, strategy) in enumerate(plan, start=1):
            units = granularity_named(name).units(*video.labels.shape, video.frames, config.units)
            progress.rename(f"series {index}/{len(plan)} {strategy}/{name}")
            series = _Series(video, config, spec, units, strategy, full_clicks, flows, log, progress)
            results["rows"].extend(series.run())
            progress.set_total(progress.total - (config.max_rounds - series.rounds))
            if index < len(plan):  # close() writes the last one
                progress.report()
            results["summary"] = summarise(results["rows"])
            write_results(results, out_dir)
    finally:
        progress.close()
    return results


class _Series:
    """One strategy on one granularity, from a fresh copy of the starting network."""

    def __init__(self, video, config, spec, units, strategy, full_clicks, flows, log, progress: Progress):
        self.video, self.config, self.spec, self.units = video, config, spec, units
        self.strategy, self.full_clicks, self.flows, self.log = strategy, full_clicks, flows, log
        self.name = f"{strategy}/{units.kind}"
        self.progress, self.rounds = progress, 0
        self.densified = MemoryDensifyCache()
        """Key-point frames densified in earlier rounds (`propagation.densify`), as the worker keeps them on disk."""
        self.trained_on: tuple[int, ...] | None = () if config.init_checkpoint else None
        """The labelled frames the network has trained on; None while it has learnt nothing."""

    def run(self) -> list[dict]:
        config, video = self.config, self.video
        oracle = Oracle(video.labels, self.units, config.epsilon, config.cost_model, config.min_fix_region)
        model = starting_network(self.spec, base=config.init_checkpoint, seed=config.seed,
                                 device=config.round.finetune.device)
        started = time.perf_counter()
        result = self._round(model, oracle, 0)
        delivered = _all_frames(result)
        rows = []
        if delivered is not None:  # a pretrained start is measured before any click
            rows.append(self._measure(0, oracle, delivered, time.perf_counter() - started))
        for round_index in range(1, config.max_rounds + 1):
            started = time.perf_counter()
            if result.selection.ids.size == 0:
                break
            oracle.reveal(result.selection.ids, delivered)
            selected_by = result.selection.strategy
            result = self._round(model, oracle, round_index)
            delivered = _all_frames(result)
            row = self._measure(round_index, oracle, delivered, time.perf_counter() - started)
            row["selected_by"] = selected_by
            if result.weight_check is not None:
                row["weight_check"] = check = result.weight_check.describe()
                self.log(f"{self.name} round {round_index}: delivered at network weight {check['chosen']} "
                         f"(accuracy on held-out frames {check['frames']}: {check['accuracy']})")
            rows.append(row)
            self.rounds += 1
            self.progress.advance(note=f"mIoU {row['miou']:.1f}")
            spent = row["clicks_pct"] if config.cost_model == "scratch" else row["correction_pct"]
            if row["miou"] >= config.target_miou or spent >= config.max_clicks_pct:
                break
        return rows

    def _round(self, model, oracle: Oracle, round_index: int) -> RoundResult:
        """The engine's round on what the oracle revealed so far; its selection is the next reveal."""
        config = self.config
        seed = config.seed + round_index
        round_config = replace(config.round, strategy=self.strategy, budget=config.budgets[self.units.kind],
                               seed=seed, finetune=replace(config.round.finetune, seed=seed))
        result = run_round(model, self.video.frames, oracle.revealed, self.units, oracle.labelled, self.flows,
                           self.spec, round_config, densify_cache=self.densified,
                           predict_untrained=config.init_checkpoint is not None, trained_on=self.trained_on)
        if result.trained:
            self.trained_on = result.trained_on
        return result

    def _measure(self, round_index: int, oracle: Oracle, delivered: np.ndarray, seconds: float) -> dict:
        quality = label_quality(delivered, self.video.labels, self.video.n_classes)
        row = {
            "series": self.name, "strategy": self.strategy, "granularity": self.units.kind,
            "round": round_index, "samples": int(oracle.labelled.sum()), "clicks": int(oracle.clicks),
            "clicks_pct": round(100.0 * oracle.clicks / self.full_clicks, 3),
            "correction_clicks": int(oracle.correction_clicks),
            "correction_pct": round(100.0 * oracle.correction_clicks / self.full_clicks, 3),
            "miou": round(100.0 * quality["miou"], 2),
            "pixel_accuracy": round(100.0 * quality["pixel_accuracy"], 2),
            "seconds": round(seconds, 2),
            "per_class_iou": {name: None if np.isnan(iou) else round(100.0 * iou, 2)
                              for name, iou in zip(self.video.class_names, quality["per_class_iou"], strict=True)},
        }
        self.log(
            f"{self.name} round {round_index}: {row['samples']} samples, {row['clicks_pct']:.2f}% clicks "
            f"({row['correction_pct']:.2f}% correcting), mIoU {row['miou']:.1f}, acc {row['pixel_accuracy']:.1f} "
            f"({row['seconds']:.1f} s)"
        )
        return row


def _all_frames(result: RoundResult) -> np.ndarray | None:
    """The round's delivered labels, every frame at once: the oracle compares whole videos."""
    return None if result.delivered is None else result.delivered.labels()


def summarise(rows: list[dict]) -> dict:
    """Per series: % of full clicks (from scratch, and correcting) at the first round reaching each
    target (None if never)."""
    summary: dict[str, dict] = {}
    kinds = ("clicks_pct", "correction_pct")
    for row in rows:
        entry = summary.setdefault(row["series"], {f"{kind}_at_{int(t)}": None for kind in kinds for t in TARGETS})
        entry["best_miou"] = max(entry.get("best_miou", 0.0), row["miou"])
        entry["max_clicks_pct"] = row["clicks_pct"]
        for target in TARGETS:
            for kind in kinds:
                key = f"{kind}_at_{int(target)}"
                if entry[key] is None and row["miou"] >= target:
                    entry[key] = row[kind]
    for series, entry in summary.items():
        rounds = [r["seconds"] for r in rows if r["series"] == series and r["round"] > 0]
        entry["seconds_per_round"] = round(float(np.mean(rounds)), 2) if rounds else None
    return summary


def write_results(results: dict, out_dir: Path) -> None:
    """results.json, results.csv and quality_vs_clicks.png, each replaced atomically."""
    atomic_write_bytes(out_dir / "results.json", json.dumps(results, indent=2).encode())
    fields = ["series", "strategy", "granularity", "round", "samples", "clicks", "clicks_pct", "correction_clicks",
              "correction_pct", "miou", "pixel_accuracy", "seconds", "selected_by"]
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(results["rows"])
    atomic_write_bytes(out_dir / "results.csv", table.getvalue().encode())
    plot_quality_vs_clicks(results["rows"], out_dir / "quality_vs_clicks.png")


def _network_spec(video: Video, config: RunConfig) -> NetworkSpec:
    if config.init_checkpoint:
        _, spec, _ = load_checkpoint(config.init_checkpoint)
        if len(spec.classes) != video.n_classes:
            raise ValueError(
                f"checkpoint {config.init_checkpoint} has {len(spec.classes)} classes, "
                f"the video has {video.n_classes}: pretrain on the same classes"
            )
        return spec
    if config.spec is not None:
        return replace(config.spec, classes=tuple(video.class_names))
    return NetworkSpec(classes=tuple(video.class_names))


def _describe(config: RunConfig, spec: NetworkSpec) -> dict:
    described = asdict(config)
    described["spec"] = asdict(spec)
    return described
