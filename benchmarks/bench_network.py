"""Pick the default network: time candidates, optionally check that they still learn (CamVid clip).

Run: ``.venv/bin/python benchmarks/bench_network.py [--threads 2] [--rounds 6] [--quality]``.
Memory layout of the default network: ``--candidates 5 --formats channels_last,contiguous``.

Timing: ms per training step (batch 4, 192x256, AdamW, cross-entropy) and per inference frame
(batch 8). Candidates run interleaved, one step each per round, and the *minimum* over rounds is
reported, because the 2 cores are shared with other jobs (medians moved by 2x between runs).
``--quality`` fine-tunes each candidate from scratch on every 10th frame of the CamVid val clip
(11 frames, full labels) at 96x128 and reports label mIoU over all 101 frames at that resolution.

Chosen default: Unet, encoder ``tu-mobilenetv3_large_100`` (timm MobileNetV3-large), decoder
channels (128, 64, 32, 16, 16): embeddings D = 16.

Timing, 1 thread (2 threads on the shared cores were noisier, not faster), min of 8 rounds,
load average ~3 (a second run at load ~6 was ~1.5x slower everywhere, same ranking):

    encoder           decoder               train ms/step  infer ms/frame  params
    resnet18          (256,128,64,32,16)         1169            98.6      14.33M
    resnet18          (128,64,32,16,16)           837            65.9      12.46M
    mobilenet_v2      (256,128,64,32,16)          920            71.4       6.63M
    mobilenet_v2      (128,64,32,16,16)           568            39.4       4.14M
    efficientnet-b0   (128,64,32,16,16)           665            50.4       4.84M
    mobilenetv3_large (128,64,32,16,16)           534            35.9       4.54M   <- default

Quality (--quality, 96x128, every 10th frame labelled, temporal weight 1, lr 1e-3, label mIoU
over all 101 frames at 96x128; steps chosen for about equal CPU time, ~90 s uncontended):

    resnet18 (256,...) 150 steps: 51.2            resnet18 (128,...) 200 steps: 52.6 / 48.9 (seed 0/1)
    mobilenetv3 (128,...) 360 steps: 55.5 / 58.4 (seed 0/1; the deprecated timm- variant: 57.3)
    at equal *steps* (150): resnet18 (128,...) 46.6, mobilenetv3 43.9, mobilenet_v2 38.3

So per step resnet18 learns slightly more, per second MobileNetV3 learns more and is the cheapest
step; the halved decoder costs nothing in quality at equal time. Single clip, 1-2 seeds: a
difference of a few points is within noise, the speed ranking is not.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from propagation import (
    FinetuneConfig,
    NetworkSpec,
    build_network,
    compute_flows,
    finetune,
    predict_video,
)
from propagation.labels import UNKNOWN

SMP_DECODER = (256, 128, 64, 32, 16)
HALF_DECODER = (128, 64, 32, 16, 16)
CANDIDATES = [
    ("resnet18", SMP_DECODER),
    ("resnet18", HALF_DECODER),
    ("mobilenet_v2", SMP_DECODER),
    ("mobilenet_v2", HALF_DECODER),
    ("efficientnet-b0", HALF_DECODER),
    ("tu-mobilenetv3_large_100", HALF_DECODER),
]
CAMVID = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "camvid"
CAMVID_CLASSES = ("sky", "building", "pole", "road", "pavement", "tree", "sign", "fence", "car",
                  "pedestrian", "bicyclist")


FORMATS = {"channels_last": torch.channels_last, "contiguous": torch.contiguous_format}


def time_candidates(rounds: int, which: list[int], formats: list[str], batch: int = 4) -> None:
    """ms per training step and per inference frame of each candidate in each memory layout
    (build_network lays weights out channels-last; the inputs stay as the engine passes them)."""
    setups = []
    for encoder, decoder in [CANDIDATES[i] for i in which]:
        spec = NetworkSpec(classes=CAMVID_CLASSES, encoder=encoder, decoder_channels=decoder)
        for layout in formats:
            try:
                model = build_network(spec).to(memory_format=FORMATS[layout])
            except Exception as exc:  # an encoder missing from this smp/timm build is reported, not fatal
                print(f"{encoder:28} {decoder!s:22} failed: {exc}")
                break
            setups.append((encoder, decoder, layout, model, torch.optim.AdamW(model.parameters(), lr=1e-3)))
    x = torch.randn(batch, 3, 192, 256)
    y = torch.randint(0, len(CAMVID_CLASSES), (batch, 192, 256))
    xb = torch.randn(8, 3, 192, 256)
    train = {id(s[3]): [] for s in setups}
    infer = {id(s[3]): [] for s in setups}
    for r in range(rounds + 1):
        for _, _, _, model, optim in setups:
            model.train()
            t0 = time.perf_counter()
            loss = torch.nn.functional.cross_entropy(model(x), y)
            optim.zero_grad()
            loss.backward()
            optim.step()
            t1 = time.perf_counter()
            model.eval()
            with torch.inference_mode():
                model(xb)
            t2 = time.perf_counter()
            if r:  # round 0 pays for allocator and oneDNN warm-up
                train[id(model)].append((t1 - t0) * 1e3)
                infer[id(model)].append((t2 - t1) * 1e3 / len(xb))
    print(f"{'encoder':28} {'decoder':22} {'layout':14} {'train ms/step':>14} {'infer ms/frame':>15} {'params':>8}")
    for encoder, decoder, layout, model, _ in setups:
        params = sum(p.numel() for p in model.parameters()) / 1e6
        print(f"{encoder:28} {decoder!s:22} {layout:14} {min(train[id(model)]):14.0f} "
              f"{min(infer[id(model)]):15.1f} {params:7.2f}M")


def load_camvid():
    import cv2

    names = sorted(p.name for p in (CAMVID / "val").glob("*.png"))
    frames = np.stack([cv2.cvtColor(cv2.imread(str(CAMVID / "val" / n)), cv2.COLOR_BGR2RGB) for n in names])
    labels = np.stack([cv2.imread(str(CAMVID / "valannot" / n), cv2.IMREAD_GRAYSCALE) for n in names])
    labels = labels.astype(np.int64)
    labels[labels == 11] = UNKNOWN
    return frames, labels


def label_miou(pred: np.ndarray, truth: np.ndarray, num_classes: int) -> float:
    known = truth != UNKNOWN
    ious = []
    for c in range(num_classes):
        p, t = (pred == c) & known, truth == c
        if t.any():
            ious.append((p & t).sum() / (p | t).sum())
    return 100 * float(np.mean(ious))


def quality(steps: int, lr: float, temporal_weight: float, which: list[int], seed: int, size=(96, 128)) -> None:
    from propagation import downscale_labels, upsample_labels

    frames, truth = load_camvid()
    small_truth = downscale_labels(truth, size)
    sparse = np.full_like(truth, UNKNOWN)
    sparse[::10] = truth[::10]
    flows = compute_flows(frames, size=size) if temporal_weight else None
    for encoder, decoder in [CANDIDATES[i] for i in which]:
        torch.manual_seed(seed)
        spec = NetworkSpec(classes=CAMVID_CLASSES, encoder=encoder, decoder_channels=decoder,
                           height=size[0], width=size[1])
        model = build_network(spec)
        config = FinetuneConfig(steps=steps, lr=lr, temporal_weight=temporal_weight, seed=seed)
        stats = finetune(model, frames, sparse, flows, spec, config)
        pred = upsample_labels(predict_video(model, frames, spec, with_embeddings=False).probs, size)
        score = label_miou(pred, small_truth, len(CAMVID_CLASSES))
        print(f"{encoder:28} {decoder!s:22} {steps} steps lr={lr} tw={temporal_weight}: "
              f"{stats['seconds']:6.0f} s, label mIoU {score:5.1f} (seed {seed})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--quality", action="store_true", help="also fine-tune on the CamVid clip")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--candidates", default=None,
                        help="indices into CANDIDATES (default: all for timing, 0,1,3,5 for --quality)")
    parser.add_argument("--formats", default="channels_last",
                        help="memory layouts to time, comma-separated: channels_last (the product's), contiguous")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--temporal-weight", type=float, default=1.0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.quality:
        quality(args.steps, args.lr, args.temporal_weight, [int(i) for i in (args.candidates or "0,1,3,5").split(",")],
                args.seed)
    else:
        which = range(len(CANDIDATES)) if args.candidates is None else [int(i) for i in args.candidates.split(",")]
        time_candidates(args.rounds, list(which), args.formats.split(","))


if __name__ == "__main__":
    main()
