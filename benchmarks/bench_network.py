"""Time candidate default networks: one training step (batch 4) and one inference frame at 192x256.

Run: ``.venv/bin/python benchmarks/bench_network.py [--threads N] [--steps N]``.

Results (2-core shared CPU, torch 2.x CPU, 2 threads, median of 5 steps after 1 warm-up):
    FILLED IN BELOW
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from vidseg.propagation.network import NetworkSpec, build_network

SMP_DECODER = (256, 128, 64, 32, 16)
HALF_DECODER = (128, 64, 32, 16, 16)
CANDIDATES = [
    ("Unet", "resnet18", SMP_DECODER),
    ("Unet", "resnet18", HALF_DECODER),
    ("Unet", "mobilenet_v2", SMP_DECODER),
    ("Unet", "mobilenet_v2", HALF_DECODER),
    ("Unet", "efficientnet-b0", HALF_DECODER),
    ("Unet", "timm-mobilenetv3_large_100", HALF_DECODER),
]


def time_candidate(arch: str, encoder: str, decoder, steps: int, batch: int = 4) -> tuple[float, float, int]:
    """Return (ms per training step, ms per inference frame, parameter count)."""
    spec = NetworkSpec(classes=("a", "b", "c", "d", "e"), arch=arch, encoder=encoder, decoder_channels=decoder)
    model = build_network(spec)
    optim = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randn(batch, 3, spec.height, spec.width)
    y = torch.randint(0, len(spec.classes), (batch, spec.height, spec.width))
    train_ms = []
    model.train()
    for i in range(steps + 2):
        t0 = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optim.zero_grad()
        loss.backward()
        optim.step()
        if i >= 2:  # the first steps pay for allocator and oneDNN warm-up
            train_ms.append((time.perf_counter() - t0) * 1e3)
    model.eval()
    infer_ms = []
    with torch.inference_mode():
        xb = torch.randn(8, 3, spec.height, spec.width)
        for i in range(3):
            t0 = time.perf_counter()
            model(xb)
            if i:
                infer_ms.append((time.perf_counter() - t0) * 1e3 / len(xb))
    params = sum(p.numel() for p in model.parameters())
    return statistics.median(train_ms), statistics.median(infer_ms), params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"{'arch':6} {'encoder':28} {'decoder':22} {'train ms/step':>14} {'infer ms/frame':>15} {'params':>10}")
    for arch, encoder, decoder in CANDIDATES:
        try:
            train, infer, params = time_candidate(arch, encoder, decoder, args.steps)
        except Exception as exc:  # an encoder missing from this smp/timm build is reported, not fatal
            print(f"{arch:6} {encoder:28} {decoder!s:22} failed: {exc}")
            continue
        print(f"{arch:6} {encoder:28} {decoder!s:22} {train:14.0f} {infer:15.1f} {params / 1e6:9.2f}M")


if __name__ == "__main__":
    main()
