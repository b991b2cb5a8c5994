"""Data-set level pixel annotation (Kigli, Shamir, Avidan 2022, second experiment).

1. Every training frame gets its own network from scratch and the single-image loop of
   ``pixels.py`` (active pixels, ``rounds * per_round`` revealed, about 0.1% of the pixels);
   its delivered labels (revealed pixels + the network's prediction everywhere else) are the
   frame's pseudo-labels.
2. A data-set network is trained from scratch on all pseudo-labelled frames at once, and the
   same network, same steps and seed, on the full ground truth of the same frames.
   Optionally (``sparse_baseline``) a third one on the revealed pixels only, without pseudo-labels.
3. Each is evaluated on a separate labelled video (mIoU over classes present, void ignored,
   probabilities upsampled to full resolution before the argmax).

    python -m vidseg.simulation dataset --frames TRAIN --labels TRAINANNOT --val-frames VAL \
        --val-labels VALANNOT --ignore-index 11 --camvid --images 12 --out runs/dataset
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

from propagation import FinetuneConfig, NetworkSpec, finetune, predict_video, starting_network, upsample_labels
from vidseg.atomic import atomic_write_bytes
from vidseg.simulation.metrics import label_quality
from vidseg.simulation.pixels import PixelConfig, annotate_image

Log = Callable[[str], None]


@dataclass(frozen=True)
class DatasetConfig:
    """pixels: the per-image loop (its first strategy makes the pseudo-labels); network: training of
    each data-set network (seeded and placed like the per-image ones), at their working resolution."""

    pixels: PixelConfig = field(default_factory=lambda: PixelConfig(strategies=("active",)))
    network: FinetuneConfig = field(default_factory=lambda: FinetuneConfig(
        steps=300, batch_size=4, lr=1e-3, pairs_per_step=0, temporal_weight=0.0))
    sparse_baseline: bool = False

    def validate(self) -> None:
        self.pixels.validate()
        if self.network.steps < 1 or self.network.batch_size < 1 or self.network.lr <= 0:
            raise ValueError("data-set network steps, batch size and learning rate must be positive")


def _resize_frames(frames: np.ndarray, spec: NetworkSpec) -> np.ndarray:
    return np.stack([cv2.resize(f, (spec.width, spec.height), interpolation=cv2.INTER_AREA) for f in frames])


def train_dataset_network(frames: np.ndarray, labels: np.ndarray, spec: NetworkSpec, config: DatasetConfig):
    """A network from scratch on (N, H, W, 3) frames and (N, H, W) labels (UNKNOWN = no label)."""
    device = config.pixels.finetune.device
    model = starting_network(spec, seed=config.pixels.seed, device=device)
    settings = replace(config.network, seed=config.pixels.seed, device=device)
    stats = finetune(model, _resize_frames(frames, spec), labels, None, spec,
                     settings)
    return model, stats


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
    spec = config.pixels.spec(train.class_names)
    results: dict = {"config": asdict(config), "torch_threads": torch.get_num_threads(),
                     "images": [train.names[i] for i in indices], "val_frames": val.n_frames, "networks": {}}
    started, cpu_started = time.perf_counter(), time.process_time()
    pseudo, revealed, pcts = [], [], []
    for index in indices:
        outcome = annotate_image(train.frames[index], train.labels[index], train.class_names, config.pixels,
                                 train.names[index], log)
        pseudo.append(outcome["delivered"][strategy])
        last = [r for r in outcome["rows"] if r["series"] == strategy][-1]
        pcts.append(last["pixels_pct"])
        revealed.append(outcome["revealed"][strategy])
    pseudo_labels, truth = np.stack(pseudo), train.labels[indices]
    quality = label_quality(pseudo_labels, truth, train.n_classes)
    pseudo_seconds = time.perf_counter() - started
    results["pseudo_labels"] = {
        "strategy": strategy, "pixels_pct": round(float(np.mean(pcts)), 4),
        "miou": round(100.0 * quality["miou"], 2), "pixel_accuracy": round(100.0 * quality["pixel_accuracy"], 2),
        "seconds": round(pseudo_seconds, 1), "seconds_per_image": round(pseudo_seconds / len(indices), 1),
        "cpu_seconds_per_image": round((time.process_time() - cpu_started) / len(indices), 1),
    }
    log(f"pseudo-labels of {len(indices)} frames: mIoU {results['pseudo_labels']['miou']:.2f} "
        f"({pseudo_seconds:.0f} s)")
    frames = train.frames[indices]
    training_sets = [("pseudo", pseudo_labels, results["pseudo_labels"]["pixels_pct"]), ("full", truth, 100.0)]
    if config.sparse_baseline:
        training_sets.append(("sparse", np.stack(revealed), results["pseudo_labels"]["pixels_pct"]))
    for name, labels, cost in training_sets:
        started, cpu_started = time.perf_counter(), time.process_time()
        model, stats = train_dataset_network(frames, labels, spec, config)
        entry = {"labels_pct_of_pixels": cost, **evaluate(model, val, spec, config.pixels.finetune.device),
                 "final_loss": round(stats["final"]["loss"], 4), "seconds": round(time.perf_counter() - started, 1),
                 "cpu_seconds": round(time.process_time() - cpu_started, 1)}
        results["networks"][name] = entry
        log(f"data-set network on {name} labels: val mIoU {entry['val_miou']:.2f}, "
            f"acc {entry['val_pixel_accuracy']:.2f} ({entry['seconds']:.0f} s)")
        write_results(results, out_dir)
    full = results["networks"]["full"]["val_miou"]
    results["pseudo_vs_full_pct"] = round(100.0 * results["networks"]["pseudo"]["val_miou"] / full, 1) if full else None
    write_results(results, out_dir)
    return results


def write_results(results: dict, out_dir: Path) -> None:
    """results.json and results.csv (one row per data-set network)."""
    atomic_write_bytes(out_dir / "results.json", json.dumps(results, indent=2).encode())
    lines = ["network,labels_pct_of_pixels,val_miou,val_pixel_accuracy,seconds"]
    for name, entry in results["networks"].items():
        lines.append(f"{name},{entry['labels_pct_of_pixels']},{entry['val_miou']},{entry['val_pixel_accuracy']},"
                     f"{entry['seconds']}")
    atomic_write_bytes(out_dir / "results.csv", ("\n".join(lines) + "\n").encode())
