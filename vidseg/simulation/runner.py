"""The experiment runner: select -> reveal -> fine-tune -> predict -> measure, per strategy and granularity.

Every series (one strategy on one granularity) starts from the same network (scratch or a
pretrained checkpoint) and loops until the target label mIoU, the click cap or the round cap.
It drives `vidseg.engine`, the code the RQ worker runs, never a copy of it.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from vidseg.atomic import atomic_write_bytes
from vidseg.engine import SelectionConfig, deliver, fit_and_predict, propagated_labels, select_next
from vidseg.propagation import (
    FinetuneConfig,
    NetworkSpec,
    build_network,
    compute_flows,
    load_checkpoint,
    predict_video,
    propagate_labels,
    resize_flows,
    upsample_labels,
)
from vidseg.selection import make_units
from vidseg.simulation.costs import video_cost
from vidseg.simulation.dataset import Video
from vidseg.simulation.metrics import deliver_labels, label_quality
from vidseg.simulation.oracle import Oracle
from vidseg.simulation.plots import plot_quality_vs_clicks

STRATEGIES = ("hvsa", "uncertainty", "random", "uniform", "warp")
"""`warp` is the no-learning baseline: uniform frames, labels carried along the optical flow."""
GRANULARITIES = ("frame", "rectangle", "superpixel", "pixel")
TARGETS = (80.0, 90.0, 95.0)
DEFAULT_BUDGETS = {"frame": 2, "rectangle": 250, "superpixel": 300, "pixel": 500}

Log = Callable[[str], None]


@dataclass
class RunConfig:
    strategies: tuple[str, ...] = ("hvsa", "uniform", "warp")
    granularities: tuple[str, ...] = ("frame",)
    budgets: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_BUDGETS))
    max_rounds: int = 10
    target_miou: float = 95.0
    max_clicks_pct: float = 30.0
    epsilon: float = 2.0
    rectangle_size: int = 16
    superpixels_per_frame: int = 600
    pixel_stride: int = 8
    uncertainty: str = "entropy"
    uncertain_fraction: float = 0.5
    warp_trust: int = 100
    """Labels carried along reliable flow up to this many frames win over the network's (0: off)."""
    pseudo_labels: bool = True
    """Train on those carried labels too, not only on revealed ones."""
    init_checkpoint: str | None = None
    spec: NetworkSpec | None = None
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    seed: int = 0

    def validate(self) -> None:
        for name in self.strategies:
            if name not in STRATEGIES:
                raise ValueError(f"unknown strategy {name!r}: choose from {', '.join(STRATEGIES)}")
        for name in self.granularities:
            if name not in GRANULARITIES:
                raise ValueError(f"unknown granularity {name!r}: choose from {', '.join(GRANULARITIES)}")
            if self.budgets.get(name, 0) <= 0:
                raise ValueError(f"budget per round for {name!r} must be a positive number of samples")
        if self.max_rounds <= 0:
            raise ValueError("rounds must be at least 1")


def run_experiment(video: Video, config: RunConfig, out_dir: Path, log: Log = print) -> dict:
    """Run every (granularity, strategy) series; results are rewritten after each series."""
    config.validate()
    out_dir.mkdir(parents=True, exist_ok=True)
    spec = _network_spec(video, config)
    full_clicks = video_cost(video.labels, config.epsilon)
    log(f"{len(video.names)} frames, full manual cost {full_clicks} clicks")
    started = time.perf_counter()
    full_flows = compute_flows(video.frames)
    work_flows = resize_flows(full_flows, (spec.height, spec.width))
    log(f"optical flow: {time.perf_counter() - started:.1f} s")

    results = {"config": _describe(config, spec), "full_clicks": full_clicks, "rows": []}
    for granularity in config.granularities:
        units = make_units(
            granularity, *video.labels.shape, size=config.rectangle_size, stride=config.pixel_stride,
            frames=video.frames, n_superpixels=config.superpixels_per_frame,
        )
        for strategy in config.strategies:
            series = _Series(video, config, spec, units, strategy, full_clicks, work_flows, full_flows, log)
            results["rows"].extend(series.run())
            results["summary"] = summarise(results["rows"])
            write_results(results, out_dir)
    return results


class _Series:
    """One strategy on one granularity, from a fresh copy of the starting network."""

    def __init__(self, video, config, spec, units, strategy, full_clicks, work_flows, full_flows, log):
        self.video, self.config, self.spec, self.units = video, config, spec, units
        self.strategy, self.full_clicks, self.log = strategy, full_clicks, log
        self.work_flows, self.full_flows = work_flows, full_flows
        self.name = f"{strategy}/{units.kind}"

    def run(self) -> list[dict]:
        config, video = self.config, self.video
        oracle = Oracle(video.labels, self.units, config.epsilon)
        model = self._starting_network()
        prediction, propagated, rows = None, None, []
        if config.init_checkpoint and self.strategy != "warp":
            started = time.perf_counter()
            prediction = predict_video(model, video.frames, self.spec, device=config.finetune.device)
            fallback = upsample_labels(prediction.probs, video.labels.shape[1:])
            rows.append(self._measure(0, oracle, fallback, time.perf_counter() - started))
        selection_strategy = "uniform" if self.strategy == "warp" else self.strategy
        for round_index in range(1, config.max_rounds + 1):
            started = time.perf_counter()
            selection = select_next(
                self.units, oracle.labelled,
                SelectionConfig(selection_strategy, config.budgets[self.units.kind], config.uncertainty,
                                config.uncertain_fraction, config.seed + round_index),
                prediction, video.frames, carried=propagated,
            )
            if selection.ids.size == 0:
                break
            oracle.reveal(selection.ids)
            if self.strategy == "warp":
                fallback = propagate_labels(oracle.revealed, self.full_flows)[0]
            else:
                propagated = propagated_labels(oracle.revealed, self.full_flows, config.warp_trust)
                prediction, _ = fit_and_predict(
                    model, video.frames, propagated if config.pseudo_labels else oracle.revealed,
                    self.work_flows, self.spec, replace(config.finetune, seed=config.seed + round_index),
                )
                fallback = deliver(propagated, upsample_labels(prediction.probs, video.labels.shape[1:]))
            row = self._measure(round_index, oracle, fallback, time.perf_counter() - started)
            row["selected_by"] = selection.strategy
            rows.append(row)
            if row["miou"] >= config.target_miou or row["clicks_pct"] >= config.max_clicks_pct:
                break
        return rows

    def _starting_network(self) -> torch.nn.Module:
        if self.config.init_checkpoint:
            model, _, _ = load_checkpoint(self.config.init_checkpoint, device=self.config.finetune.device)
            return model
        torch.manual_seed(self.config.seed)
        return build_network(self.spec).to(self.config.finetune.device)

    def _measure(self, round_index: int, oracle: Oracle, fallback: np.ndarray, seconds: float) -> dict:
        delivered = deliver_labels(oracle.revealed, fallback)
        quality = label_quality(delivered, self.video.labels, self.video.n_classes)
        row = {
            "series": self.name, "strategy": self.strategy, "granularity": self.units.kind,
            "round": round_index, "samples": int(oracle.labelled.sum()), "clicks": int(oracle.clicks),
            "clicks_pct": round(100.0 * oracle.clicks / self.full_clicks, 3),
            "miou": round(100.0 * quality["miou"], 2),
            "pixel_accuracy": round(100.0 * quality["pixel_accuracy"], 2),
            "seconds": round(seconds, 2),
        }
        self.log(
            f"{self.name} round {round_index}: {row['samples']} samples, {row['clicks_pct']:.2f}% clicks, "
            f"mIoU {row['miou']:.1f}, acc {row['pixel_accuracy']:.1f} ({row['seconds']:.1f} s)"
        )
        return row


def summarise(rows: list[dict]) -> dict:
    """Per series: % of full clicks at the first round reaching each target (None if never)."""
    summary: dict[str, dict] = {}
    for row in rows:
        entry = summary.setdefault(row["series"], {f"clicks_pct_at_{int(t)}": None for t in TARGETS})
        entry["best_miou"] = max(entry.get("best_miou", 0.0), row["miou"])
        entry["max_clicks_pct"] = row["clicks_pct"]
        for target in TARGETS:
            key = f"clicks_pct_at_{int(target)}"
            if entry[key] is None and row["miou"] >= target:
                entry[key] = row["clicks_pct"]
    for series, entry in summary.items():
        rounds = [r["seconds"] for r in rows if r["series"] == series and r["round"] > 0]
        entry["seconds_per_round"] = round(float(np.mean(rounds)), 2) if rounds else None
    return summary


def write_results(results: dict, out_dir: Path) -> None:
    """results.json, results.csv and quality_vs_clicks.png, each replaced atomically."""
    atomic_write_bytes(out_dir / "results.json", json.dumps(results, indent=2).encode())
    fields = ["series", "strategy", "granularity", "round", "samples", "clicks", "clicks_pct", "miou",
              "pixel_accuracy", "seconds", "selected_by"]
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
