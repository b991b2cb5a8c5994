"""Data-set level pixel annotation (Kigli, Shamir, Avidan 2022, second experiment).

1. Every training frame gets its own per-image learner and the single-image loop of ``pixels.py``
   (active pixels, ``rounds * per_round`` revealed, about 0.1% of the pixels); its delivered labels
   (revealed pixels + the learner's prediction everywhere else) are the frame's pseudo-labels.
2. Data-set networks are trained from scratch, identical but for their labels: the pseudo-labels,
   the full ground truth of the same frames and (``sparse_baseline``) the revealed pixels only.
   They train in turns of ``eval_every`` steps (constant learning rate, each turn a fresh AdamW
   state, warm weights), each evaluated after every turn, so their curves advance together and a
   run stopped early still compares them at equal steps. A network stops at its plateau: no gain of
   ``min_gain`` mIoU points over its best for ``patience`` evaluations in a row, or at ``steps``.
3. Evaluation on a separate labelled video (mIoU over classes present, void ignored, probabilities
   upsampled to full resolution before the argmax). Annotation cost: one click per revealed pixel;
   full labels cost the from-scratch polygon clicks of ``costs.frame_cost``.

    python -m vidseg.simulation dataset --frames TRAIN --labels TRAINANNOT --val-frames VAL \
        --val-labels VALANNOT --ignore-index 11 --camvid --images 60 --sparse-baseline --out runs/dataset
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
import torch

from propagation import (
    UNKNOWN,
    FinetuneConfig,
    NetworkSpec,
    downscale_labels,
    finetune,
    predict_video,
    starting_network,
    upsample_labels,
)
from vidseg.atomic import atomic_write_bytes
from vidseg.simulation.costs import frame_cost
from vidseg.simulation.metrics import label_quality
from vidseg.simulation.pixels import PixelConfig, annotate_image

Log = Callable[[str], None]


@dataclass(frozen=True)
class DatasetConfig:
    """pixels: the per-image loop (its first strategy makes the pseudo-labels); network: training of
    each data-set network (its ``steps`` the most it may take), ``encoder`` at ``size`` (h, w);
    eval_every, patience, min_gain: the turns and the plateau rule of the module docstring."""

    pixels: PixelConfig = field(default_factory=lambda: PixelConfig(strategies=("active",)))
    network: FinetuneConfig = field(default_factory=lambda: FinetuneConfig(
        steps=3000, batch_size=4, lr=1e-3, pairs_per_step=0, temporal_weight=0.0, final_lr_ratio=1.0))
    encoder: str = "mobilenet_v2"
    size: tuple[int, int] = (96, 128)
    eval_every: int = 150
    patience: int = 3
    min_gain: float = 0.5
    sparse_baseline: bool = False

    def validate(self) -> None:
        self.pixels.validate()
        if self.network.steps < 1 or self.network.batch_size < 1 or self.network.lr <= 0:
            raise ValueError("data-set network steps, batch size and learning rate must be positive")
        if self.eval_every < 1 or self.patience < 1 or self.min_gain < 0:
            raise ValueError("eval_every and patience must be >= 1 and min_gain >= 0")

    def spec(self, class_names) -> NetworkSpec:
        return NetworkSpec(classes=tuple(class_names), encoder=self.encoder, height=self.size[0], width=self.size[1])


def _resize_frames(frames: np.ndarray, spec: NetworkSpec) -> np.ndarray:
    return np.stack([cv2.resize(f, (spec.width, spec.height), interpolation=cv2.INTER_AREA) for f in frames])


def plateaued(curve: list[dict], patience: int, min_gain: float) -> bool:
    """True when the last ``patience`` evaluations of ``curve`` (rows with ``val_miou``) all fail to
    beat the best one before them by ``min_gain`` points."""
    if len(curve) <= patience:
        return False
    best_before = max(row["val_miou"] for row in curve[:-patience])
    return max(row["val_miou"] for row in curve[-patience:]) < best_before + min_gain


def train_dataset_networks(frames: np.ndarray, label_sets: dict, val, config: DatasetConfig,
                           on_turn: Callable[[dict], None] | None = None, log: Log = print) -> dict:
    """Train one network from scratch per entry of ``label_sets`` (name -> (N, H, W) labels, UNKNOWN =
    no label) on the (N, H, W, 3) ``frames``, in turns, each to its plateau (module docstring).

    Returns name -> {"curve": [{"step", "val_miou", "val_pixel_accuracy", "loss"}], "plateau": bool,
    "steps", "seconds", and the last evaluation}. ``on_turn(entries)`` runs after every turn.
    """
    device = config.pixels.finetune.device
    spec = config.spec(val.class_names)
    small = _resize_frames(frames, spec)
    entries, models, labels = {}, {}, {}
    for name, label_maps in label_sets.items():
        models[name] = starting_network(spec, seed=config.pixels.seed, device=device)
        labels[name] = downscale_labels(np.asarray(label_maps), spec.size)
        entries[name] = {"curve": [], "plateau": False, "steps": 0, "seconds": 0.0}
    for turn in range(-(-config.network.steps // config.eval_every)):
        running = [name for name, entry in entries.items() if not entry["plateau"]]
        if not running:
            break
        for name in running:
            entry, started = entries[name], time.perf_counter()
            steps = min(config.eval_every, config.network.steps - entry["steps"])
            settings = replace(config.network, steps=steps, seed=config.pixels.seed + turn, device=device)
            stats = finetune(models[name], small, labels[name], None, spec, settings)
            entry["steps"] += steps
            quality = evaluate(models[name], val, spec, device)
            entry["seconds"] = round(entry["seconds"] + time.perf_counter() - started, 1)
            entry["curve"].append({"step": entry["steps"], "val_miou": quality["val_miou"],
                                   "val_pixel_accuracy": quality["val_pixel_accuracy"],
                                   "loss": round(float(np.mean(stats["loss"])), 4)})
            entry.update(quality)
            entry["plateau"] = plateaued(entry["curve"], config.patience, config.min_gain)
            log(f"{name} step {entry['steps']}: val mIoU {quality['val_miou']:.2f}, acc "
                f"{quality['val_pixel_accuracy']:.2f}, loss {entry['curve'][-1]['loss']:.3f}"
                + (" (plateau)" if entry["plateau"] else ""))
        if on_turn:
            on_turn(entries)
    return entries


def evaluate(model, video, spec: NetworkSpec, device: str = "cpu") -> dict:
    """mIoU, pixel accuracy (%) and per-class IoU of ``model`` on every frame of a labelled ``Video``."""
    probs = predict_video(model, _resize_frames(video.frames, spec), spec, device=device, with_embeddings=False).probs
    predicted = upsample_labels(probs, video.labels.shape[1:])
    quality = label_quality(predicted, video.labels, video.n_classes)
    per_class = {name: (None if np.isnan(iou) else round(100.0 * float(iou), 2))
                 for name, iou in zip(video.class_names, quality["per_class_iou"], strict=True)}
    return {"val_miou": round(100.0 * quality["miou"], 2),
            "val_pixel_accuracy": round(100.0 * quality["pixel_accuracy"], 2), "per_class_iou": per_class}


def run_dataset_experiment(train, indices, val, config: DatasetConfig, out_dir: Path, log: Log = print) -> dict:
    """Pseudo-label ``train`` frames ``indices``, train the data-set networks, evaluate them on ``val``."""
    config.validate()
    if tuple(val.class_names) != tuple(train.class_names):
        raise ValueError(f"train and val classes differ: {train.class_names} vs {val.class_names}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    strategy = config.pixels.strategies[0]
    results: dict = {"config": asdict(config), "torch_threads": torch.get_num_threads(),
                     "images": [train.names[i] for i in indices], "val_frames": val.n_frames, "networks": {}}
    started, cpu_started = time.perf_counter(), time.process_time()
    pseudo, revealed = [], []
    for index in indices:
        outcome = annotate_image(train.frames[index], train.labels[index], train.class_names, config.pixels,
                                 train.names[index], log)
        pseudo.append(outcome["delivered"][strategy])
        revealed.append(outcome["revealed"][strategy])
    pseudo_labels, truth, revealed = np.stack(pseudo), train.labels[indices], np.stack(revealed)
    quality = label_quality(pseudo_labels, truth, train.n_classes)
    pseudo_seconds = time.perf_counter() - started
    clicks = int(np.count_nonzero(revealed != UNKNOWN))
    results["pseudo_labels"] = {
        "strategy": strategy, "pixels_pct": round(100.0 * clicks / truth.size, 4), "clicks": clicks,
        "miou": round(100.0 * quality["miou"], 2), "pixel_accuracy": round(100.0 * quality["pixel_accuracy"], 2),
        "seconds": round(pseudo_seconds, 1), "seconds_per_image": round(pseudo_seconds / len(indices), 1),
        "cpu_seconds_per_image": round((time.process_time() - cpu_started) / len(indices), 1),
    }
    log(f"pseudo-labels of {len(indices)} frames: acc {results['pseudo_labels']['pixel_accuracy']:.2f}, "
        f"mIoU {results['pseudo_labels']['miou']:.2f} ({pseudo_seconds:.0f} s)")
    costs = {"pseudo": clicks, "full": int(sum(frame_cost(t) for t in truth)), "sparse": clicks}
    revealed_pct = results["pseudo_labels"]["pixels_pct"]
    pcts = {"pseudo": revealed_pct, "full": 100.0, "sparse": revealed_pct}
    label_sets = {"pseudo": pseudo_labels, "full": truth}
    if config.sparse_baseline:
        label_sets["sparse"] = revealed

    def record(entries: dict) -> None:
        for name, entry in entries.items():
            results["networks"][name] = {"labels_pct_of_pixels": pcts[name], "clicks": costs[name], **entry}
        full = results["networks"]["full"]["val_miou"]
        results["pseudo_vs_full_pct"] = round(100.0 * results["networks"]["pseudo"]["val_miou"] / full, 1) \
            if full else None
        write_results(results, out_dir)

    train_dataset_networks(train.frames[indices], label_sets, val, config, on_turn=record, log=log)
    return results


def write_results(results: dict, out_dir: Path) -> None:
    """results.json, results.csv (one row per data-set network) and curves.csv (every evaluation)."""
    atomic_write_bytes(out_dir / "results.json", json.dumps(results, indent=2).encode())
    lines = ["network,clicks,labels_pct_of_pixels,steps,plateau,val_miou,val_pixel_accuracy,seconds"]
    curves = ["network,step,val_miou,val_pixel_accuracy,loss"]
    for name, entry in results["networks"].items():
        lines.append(f"{name},{entry['clicks']},{entry['labels_pct_of_pixels']},{entry['steps']},{entry['plateau']},"
                     f"{entry['val_miou']},{entry['val_pixel_accuracy']},{entry['seconds']}")
        curves += [f"{name},{r['step']},{r['val_miou']},{r['val_pixel_accuracy']},{r['loss']}" for r in entry["curve"]]
    atomic_write_bytes(out_dir / "results.csv", ("\n".join(lines) + "\n").encode())
    atomic_write_bytes(out_dir / "curves.csv", ("\n".join(curves) + "\n").encode())
