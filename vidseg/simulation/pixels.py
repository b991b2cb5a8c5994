"""Pixel-level active annotation on single images (Kigli, Shamir, Avidan 2022, "How low can we go?").

Per image, a network is trained from scratch on single revealed pixels. Round 1 reveals
``per_round`` random pixels (spread by the diversity rule); every later round the oracle reveals
``per_round`` more, trains on, warm-started, and predicts the whole image again:

- ``active``: the most uncertain pixels of the current prediction (``uncertainty``, default margin),
  no two picks closer than ``min_distance`` px (``selection.pixel_picking.pick_pixels``);
- ``random``: uniformly random pixels, the baseline;
- ``error`` (optional): like ``active`` but only among the pixels the network gets wrong, which is
  what an annotator correcting a pre-annotation does (the simulated one reads the ground truth).

Two learners (``learner``): ``sparse`` (default; ``propagation.sparse_learner``: image features, a
per-image MLP from scratch and edge-aware spreading, refitted from scratch every round, a second or
two on one core) and ``network`` (a segmentation network from scratch, warm-started every round).
Both series share round 1 (same pixels, same learner) so they differ only in what they pick.
Quality is measured at full resolution on what the process delivers: the revealed pixels where
revealed, the network's prediction (probabilities upsampled bilinearly, then argmax) elsewhere;
pixel accuracy and mIoU over the classes present, void ignored. Void pixels are never offered to
the oracle (a label there could not be measured; a human would give it some class).

    python -m vidseg.simulation pixels --frames DIR --labels DIR --ignore-index 11 --camvid \
        --images 10 --out runs/pixels
"""

from __future__ import annotations

import copy
import csv
import io
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from propagation import UNKNOWN, FinetuneConfig, NetworkSpec, finetune, overlay_known, predict_video, starting_network
from propagation.sparse_learner import SparseLearnerConfig, learn_from_pixels
from selection.pixel_picking import check_points, pick_pixels
from selection.uncertainty import UNCERTAINTY_METHODS, pixel_uncertainty
from vidseg.atomic import atomic_write_bytes
from vidseg.simulation.metrics import label_quality

PIXEL_STRATEGIES = ("active", "random", "error")
LEARNERS = ("sparse", "network")
DEFAULT_STRATEGIES = ("active", "random")
ACCURACY_TARGET = 98.0
"""The paper's headline: > 98% pixel accuracy from < 0.1% of the pixels."""

Log = Callable[[str], None]


@dataclass(frozen=True)
class PixelConfig:
    """One per-image annotation run. learner: ``sparse`` (settings in ``sparse``) or ``network``.
    The network's: height, width: working resolution (multiples of 32); first_steps: training steps
    of round 1 (from scratch); finetune: the training of every later round (warm start; its steps,
    learning rate, batch size and device), single images so no temporal term. The default 10 rounds
    of 17 pixels pass 0.03%, 0.05% and 0.1% of a 360x480 image (rounds 3, 5, 10)."""

    learner: str = "sparse"
    sparse: SparseLearnerConfig = field(default_factory=SparseLearnerConfig)
    height: int = 96
    width: int = 128
    encoder: str = "resnet18"
    rounds: int = 10
    per_round: int = 17
    first_steps: int = 60
    finetune: FinetuneConfig = field(default_factory=lambda: FinetuneConfig(
        steps=25, lr=3e-3, batch_size=1, pairs_per_step=0, temporal_weight=0.0))
    min_distance: float = 12.0
    uncertainty: str = "margin"
    strategies: tuple[str, ...] = DEFAULT_STRATEGIES
    seed: int = 0

    def validate(self) -> None:
        if self.learner not in LEARNERS:
            raise ValueError(f"unknown learner {self.learner!r}: use one of {', '.join(LEARNERS)}")
        self.sparse.validate()
        for name, value in (("rounds", self.rounds), ("per_round", self.per_round), ("first_steps", self.first_steps),
                            ("steps", self.finetune.steps), ("batch_size", self.finetune.batch_size)):
            if int(value) < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if self.min_distance < 0:
            raise ValueError(f"min_distance must be >= 0 px, got {self.min_distance}")
        if self.uncertainty not in UNCERTAINTY_METHODS:
            raise ValueError(f"unknown uncertainty {self.uncertainty!r}: use one of {', '.join(UNCERTAINTY_METHODS)}")
        unknown = [s for s in self.strategies if s not in PIXEL_STRATEGIES]
        if unknown or not self.strategies:
            raise ValueError(f"strategies must be some of {', '.join(PIXEL_STRATEGIES)}, got {self.strategies}")

    def spec(self, class_names) -> NetworkSpec:
        return NetworkSpec(classes=tuple(class_names), encoder=self.encoder, height=self.height, width=self.width)


class PixelOracle:
    """Reveals the ground truth of single pixels and remembers which. truth: (H, W) int, UNKNOWN = void."""

    def __init__(self, truth: np.ndarray, n_classes: int):
        truth = np.asarray(truth)
        if truth.ndim != 2 or not np.issubdtype(truth.dtype, np.integer):
            raise ValueError(f"ground truth must be an integer (H, W) label map, got {truth.dtype} {truth.shape}")
        bad = (truth != UNKNOWN) & ((truth < 0) | (truth >= n_classes))
        if bad.any():
            raise ValueError(f"ground truth holds labels {np.unique(truth[bad]).tolist()} that are not classes "
                             f"0..{n_classes - 1} (void must be {UNKNOWN})")
        self.truth = truth
        self.revealed = np.full(truth.shape, UNKNOWN, dtype=np.int64)
        self.points = np.zeros((0, 2), dtype=np.int64)

    @property
    def candidates(self) -> np.ndarray:
        """(H, W) bool: pixels the oracle may still be asked about (labelled, not yet revealed)."""
        return (self.truth != UNKNOWN) & (self.revealed == UNKNOWN)

    def reveal(self, points) -> int:
        """Reveal (n, 2) ``(y, x)`` pixels; raises SelectionError for a pixel outside the image."""
        points = check_points(points, self.truth.shape, "revealed pixels")
        if len(points):
            points = points[np.sort(np.unique(points, axis=0, return_index=True)[1])]  # once each, in order
        new = points[self.revealed[points[:, 0], points[:, 1]] == UNKNOWN]
        self.revealed[new[:, 0], new[:, 1]] = self.truth[new[:, 0], new[:, 1]]
        self.points = np.concatenate([self.points, new])
        return len(new)

    def copy(self) -> PixelOracle:
        return copy.deepcopy(self)


def train_on_pixels(model, image: np.ndarray, revealed: np.ndarray, spec: NetworkSpec, steps: int,
                    config: PixelConfig, seed: int) -> dict:
    """Train ``model`` (in place, warm) on the revealed pixels of one image.

    image: (h, w, 3) uint8 at the working resolution; revealed: (H, W) full-resolution labels,
    UNKNOWN where not revealed (``finetune`` shrinks them to the working resolution, keeping every
    revealed pixel).
    """
    settings = replace(config.finetune, steps=steps, seed=seed)
    return finetune(model, image[None], np.asarray(revealed)[None], None, spec, settings)


def predict_full(model, image: np.ndarray, spec: NetworkSpec, size: tuple[int, int], device: str = "cpu"):
    """(C, H, W) float32 probabilities at full resolution ``size``, upsampled bilinearly."""
    probs = predict_video(model, image[None], spec, device=device, with_embeddings=False).probs
    full = F.interpolate(torch.from_numpy(probs.astype(np.float32)), size=size, mode="bilinear", align_corners=False)
    return full[0].numpy()


class _NetworkLearner:
    """The segmentation network from scratch on one image, warm-started every round."""

    def __init__(self, image: np.ndarray, spec: NetworkSpec, config: PixelConfig):
        self.small = cv2.resize(image, (spec.width, spec.height), interpolation=cv2.INTER_AREA)
        self.spec, self.config, self.size = spec, config, image.shape[:2]
        self.model = starting_network(spec, seed=config.seed, device=config.finetune.device)

    def learn(self, revealed: np.ndarray, round_index: int) -> np.ndarray:
        steps = self.config.first_steps if round_index == 1 else self.config.finetune.steps
        train_on_pixels(self.model, self.small, revealed, self.spec, steps, self.config,
                        self.config.seed + (round_index if round_index > 1 else 0))
        return predict_full(self.model, self.small, self.spec, self.size, self.config.finetune.device)


class _SparseLearner:
    """``learn_from_pixels``: refitted from scratch on all revealed pixels every round (a second or two)."""

    def __init__(self, image: np.ndarray, n_classes: int, config: PixelConfig):
        self.image, self.n_classes, self.config = image, n_classes, config

    def learn(self, revealed: np.ndarray, round_index: int) -> np.ndarray:
        return learn_from_pixels(self.image, revealed, self.n_classes, self.config.sparse)


def _measure(oracle: PixelOracle, probs: np.ndarray, n_classes: int) -> tuple[dict, np.ndarray]:
    delivered = overlay_known(oracle.revealed, probs.argmax(axis=0))
    quality = label_quality(delivered, oracle.truth, n_classes)
    pixels = len(oracle.points)
    return {
        "pixels": pixels, "pixels_pct": round(100.0 * pixels / oracle.truth.size, 4),
        "pixel_accuracy": round(100.0 * quality["pixel_accuracy"], 2), "miou": round(100.0 * quality["miou"], 2),
    }, delivered


def annotate_image(image: np.ndarray, truth: np.ndarray, class_names, config: PixelConfig,
                   name: str = "image", log: Log | None = None) -> dict:
    """Run every strategy of ``config`` on one image; see the module docstring.

    image (H, W, 3) uint8, truth (H, W) int with UNKNOWN for void. Returns ``{"rows": [...],
    "delivered": {strategy: (H, W) labels after the last round}, "revealed": {strategy: (H, W) the
    revealed pixels, UNKNOWN elsewhere}, "seconds": {strategy: s}}``; a strategy's seconds include
    the shared round 1.
    """
    config.validate()
    n_classes, size = len(class_names), tuple(np.asarray(truth).shape)
    if np.shape(image) != (*size, 3) or np.asarray(image).dtype != np.uint8:
        raise ValueError(f"image must be uint8 {(*size, 3)} to match its labels, got "
                         f"{np.asarray(image).dtype} {np.shape(image)}")
    rng = np.random.default_rng(config.seed)
    oracle = PixelOracle(truth, n_classes)
    started = time.perf_counter()
    oracle.reveal(pick_pixels(rng.random(size), config.per_round, config.min_distance,
                              candidates=oracle.candidates))
    if config.learner == "network":
        learner = _NetworkLearner(image, config.spec(class_names), config)
    else:
        learner = _SparseLearner(image, n_classes, config)
    probs = learner.learn(oracle.revealed, 1)
    first, delivered = _measure(oracle, probs, n_classes)
    shared = time.perf_counter() - started
    out: dict = {"rows": [], "delivered": {}, "revealed": {}, "seconds": {}}
    for strategy in config.strategies:
        series_learner, series_oracle, series_probs = copy.deepcopy(learner), oracle.copy(), probs
        series_rng = np.random.default_rng([config.seed, PIXEL_STRATEGIES.index(strategy)])
        rows = [{"image": name, "series": strategy, "round": 1, **first, "seconds": round(shared, 2)}]
        started, series_delivered = time.perf_counter(), delivered
        for round_index in range(2, config.rounds + 1):
            candidates, distance = series_oracle.candidates, config.min_distance
            if strategy == "random":
                scores, distance = series_rng.random(size), 0.0
            else:
                scores = pixel_uncertainty(series_probs[None], config.uncertainty)[0]
                if strategy == "error":
                    candidates = candidates & (series_probs.argmax(axis=0) != series_oracle.truth)
            points = pick_pixels(scores, config.per_round, distance, taken=series_oracle.points,
                                 candidates=candidates)
            if len(points) == 0:
                break
            series_oracle.reveal(points)
            series_probs = series_learner.learn(series_oracle.revealed, round_index)
            row, series_delivered = _measure(series_oracle, series_probs, n_classes)
            seconds = shared + time.perf_counter() - started
            rows.append({"image": name, "series": strategy, "round": round_index, **row, "seconds": round(seconds, 2)})
        out["rows"].extend(rows)
        out["delivered"][strategy] = series_delivered.astype(np.int16)
        out["revealed"][strategy] = series_oracle.revealed.astype(np.int16)
        out["seconds"][strategy] = round(shared + time.perf_counter() - started, 2)
        if log:
            last = rows[-1]
            log(f"{name} {strategy}: {last['pixels']} px ({last['pixels_pct']:.3f}%), "
                f"acc {last['pixel_accuracy']:.1f}, mIoU {last['miou']:.1f} ({out['seconds'][strategy]:.1f} s)")
    return out


def resolution_ceiling(truth: np.ndarray, n_classes: int, size: tuple[int, int]) -> dict:
    """Best quality a network at working resolution ``size`` can deliver: the one-hot ground truth
    area-averaged down to ``size``, upsampled bilinearly, argmax. Returns pixel_accuracy, miou in %."""
    truth = np.asarray(truth).astype(np.int64)
    onehot = torch.from_numpy((truth[None] == np.arange(n_classes)[:, None, None]).astype(np.float32))[None]
    low = F.interpolate(onehot, size=size, mode="area")
    back = F.interpolate(low, size=truth.shape, mode="bilinear", align_corners=False)[0].argmax(0).numpy()
    quality = label_quality(back, truth, n_classes)
    return {"pixel_accuracy": 100.0 * quality["pixel_accuracy"], "miou": 100.0 * quality["miou"]}


def summarise(rows: list[dict]) -> list[dict]:
    """Mean over images per (series, round): pixels, % pixels, pixel accuracy, mIoU, seconds."""
    groups: dict[tuple[str, int], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["series"], row["round"]), []).append(row)
    table = []
    for (series, round_index), group in sorted(groups.items()):
        entry = {"series": series, "round": round_index, "images": len(group)}
        for key, digits in (("pixels", 1), ("pixels_pct", 4), ("pixel_accuracy", 2), ("miou", 2), ("seconds", 1)):
            entry[key] = round(float(np.mean([r[key] for r in group])), digits)
        entry["min_pixel_accuracy"] = round(float(min(r["pixel_accuracy"] for r in group)), 2)
        table.append(entry)
    return table


def target_reached(rows: list[dict], target: float = ACCURACY_TARGET) -> dict:
    """Per series: the first round whose *mean* accuracy reaches ``target`` (and its % pixels), and how
    many images reach it on their own (with the mean % pixels they needed)."""
    out = {}
    for series in dict.fromkeys(r["series"] for r in rows):
        mean_rows = [r for r in summarise(rows) if r["series"] == series]
        first = next((r for r in mean_rows if r["pixel_accuracy"] >= target), None)
        per_image = {}
        for row in sorted((r for r in rows if r["series"] == series), key=lambda r: r["round"]):
            if row["pixel_accuracy"] >= target and row["image"] not in per_image:
                per_image[row["image"]] = row["pixels_pct"]
        out[series] = {
            "mean_reaches_at_pixels_pct": None if first is None else first["pixels_pct"],
            "images_reaching": len(per_image),
            "images": len({r["image"] for r in rows if r["series"] == series}),
            "mean_pixels_pct_of_those": round(float(np.mean(list(per_image.values()))), 4) if per_image else None,
        }
    return out


def run_pixel_experiment(video, indices, config: PixelConfig, out_dir: Path, log: Log = print) -> dict:
    """Annotate the frames ``indices`` of a ``Video`` one by one; results are rewritten after each image."""
    config.validate()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    size = (config.sparse.height, config.sparse.width) if config.learner == "sparse" else (config.height, config.width)
    results = {"config": asdict(config), "torch_threads": torch.get_num_threads(), "images": [], "rows": [],
               "seconds_per_image": {}, "ceiling": {}}
    seconds: dict[str, list[float]] = {s: [] for s in config.strategies}
    ceilings, cpu = [], []
    for index in indices:
        name = video.names[index]
        cpu_started = time.process_time()
        outcome = annotate_image(video.frames[index], video.labels[index], video.class_names, config, name, log)
        results["images"].append(name)
        results["rows"].extend(outcome["rows"])
        for strategy, value in outcome["seconds"].items():
            seconds[strategy].append(value)
        cpu.append(time.process_time() - cpu_started)
        ceilings.append(resolution_ceiling(video.labels[index], video.n_classes, size))
        results["cpu_seconds_per_image_all_series"] = round(float(np.mean(cpu)), 1)
        results["seconds_per_image"] = {s: round(float(np.mean(v)), 1) for s, v in seconds.items() if v}
        results["ceiling"] = {k: round(float(np.mean([c[k] for c in ceilings])), 2) for k in ceilings[0]}
        results["summary"] = summarise(results["rows"])
        results["target"] = target_reached(results["rows"])
        write_results(results, out_dir)
    return results


def write_results(results: dict, out_dir: Path) -> None:
    """results.json (everything), results.csv (mean per series and round), per_image.csv, and the plot."""
    atomic_write_bytes(out_dir / "results.json", json.dumps(results, indent=2).encode())
    _write_csv(out_dir / "results.csv", results["summary"])
    _write_csv(out_dir / "per_image.csv", results["rows"])
    plot_pixels(results["summary"], out_dir / "accuracy_vs_pixels.png", ceiling=results.get("ceiling"))


def _write_csv(path: Path, rows: list[dict]) -> None:
    table = io.StringIO()
    if rows:
        writer = csv.DictWriter(table, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    atomic_write_bytes(path, table.getvalue().encode())


def plot_pixels(summary: list[dict], path: Path, ceiling: dict | None = None) -> Path:
    """Two panels, pixel accuracy and mIoU (%) against % of pixels revealed, one line per series."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 4.2), dpi=110)
    FigureCanvasAgg(figure)
    for column, (key, title) in enumerate((("pixel_accuracy", "pixel accuracy (%)"), ("miou", "mIoU (%)"))):
        axes = figure.add_subplot(1, 2, column + 1)
        for series in dict.fromkeys(r["series"] for r in summary):
            points = [(r["pixels_pct"], r[key]) for r in summary if r["series"] == series]
            axes.plot([p[0] for p in points], [p[1] for p in points], marker="o", markersize=3, label=series)
        if key == "pixel_accuracy":
            axes.axhline(ACCURACY_TARGET, linestyle=":", color="grey", linewidth=1, label="98% (paper)")
        if ceiling and key in ceiling:
            axes.axhline(ceiling[key], linestyle="--", color="black", linewidth=0.8, label="resolution ceiling")
        axes.set_xlabel("pixels revealed (% of the image)")
        axes.set_ylabel(title)
        axes.grid(True, alpha=0.3)
        axes.legend(fontsize=8, loc="lower right")
    figure.suptitle("Single-image pixel annotation: network from scratch, mean over images")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", bbox_inches="tight")
    return path
