"""/predict latency from a store of realistic size: 720p brush predictions, 16 concurrent clients.

    .venv/bin/python benchmarks/bench_predict.py [--videos 4] [--frames 300] [--clients 16]

Writes `--videos` videos of `--frames` frames each into a fresh MODEL_DIR through the store's
public `write_predictions` (the worker's call): every frame a brush result of about 250 KB, made
with `label_map_to_results` from a CamVid ground-truth map enlarged to 1280x720 with a network's
ragged edges (random 4x4 blocks of another class). Then starts the backend exactly as
`python -m vidseg serve` does (gunicorn, 2 processes x 4 threads) and measures:

1. the first /predict after a round was written (the web process has not read that round yet);
2. p50/p99 at 16 concurrent clients, one task per request, after warm-up;
3. the same while the worker writes a new round of one video every few seconds (what a
   project in use looks like: each round replaces a video's predictions);
4. one "Retrieve predictions" call with 1,000 tasks (Label Studio gives up after 100 s).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchmarks.bench_backend import CAMVID, CONFIG, percentiles, start_backend  # noqa: E402

HEIGHT, WIDTH = 720, 1280


def frame_results(n_frames: int) -> list[list[dict]]:
    """One 720p brush result per frame (~250 KB of JSON each), from the CamVid clip played in a loop."""
    from vidseg.labelstudio.brush import label_map_to_results
    from vidseg.labelstudio.config import parse_label_config
    from vidseg.simulation.dataset import CAMVID_CLASSES, load_video

    video = load_video(CAMVID / "val", CAMVID / "valannot", ignore_index=11, class_names=CAMVID_CLASSES)
    config = parse_label_config(CONFIG)
    rng = np.random.default_rng(0)
    results = []
    for frame in range(n_frames):
        labels = cv2.resize(video.labels[frame % len(video.labels)].astype(np.int16), (WIDTH, HEIGHT),
                            interpolation=cv2.INTER_NEAREST)
        ragged = np.kron(rng.random((HEIGHT // 4, WIDTH // 4)) < 0.004, np.ones((4, 4), dtype=bool))
        labels = np.where(ragged, rng.integers(0, config.num_classes, labels.shape), np.maximum(labels, 0))
        results.append(label_map_to_results(labels.astype(np.int16), config))
    return results


def write_round(model_dir: Path, video: int, round_number: int, results: list[list[dict]]) -> float:
    from vidseg.store import Store

    started = time.perf_counter()
    frames = {str(f): {"task_id": video * 100_000 + f, "result": result, "score": round(0.001 * f, 3),
                       "cluster": f % 5, "confidence": 0.9} for f, result in enumerate(results)}
    Store(model_dir).video(1, f"clip-{video}").write_predictions(
        {"round": round_number, "model_version": "vidseg", "frames": frames})
    return time.perf_counter() - started


def task(video: int, frame: int) -> dict:
    return {"id": video * 100_000 + frame, "project": 1,
            "data": {"image": f"/data/upload/1/clip-{video}_{frame}.png", "video": f"clip-{video}", "frame": frame}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=50, help="per client and phase")
    parser.add_argument("--rounds", type=int, default=3, help="rounds written during phase 3")
    args = parser.parse_args()
    from vidseg.redis_server import free_port

    work = Path(tempfile.mkdtemp(prefix="vidseg-bench-predict-"))
    model_dir = work / "models"
    started = time.perf_counter()
    results = frame_results(args.frames)
    size = sum(len(json.dumps(r)) for r in results) / len(results)
    print(f"{args.frames} frames of 720p brush results, {size / 1e3:.0f} KB of JSON per frame "
          f"(made in {time.perf_counter() - started:.0f} s)")
    writes = [write_round(model_dir, v, 1, results) for v in range(args.videos)]
    on_disk = sum(p.stat().st_size for p in (model_dir / "1").rglob("*") if p.is_file()) / args.videos
    print(f"write_predictions: {np.mean(writes):.2f} s per video, {on_disk / 1e6:.0f} MB on disk per video")

    port = free_port()
    env = dict(os.environ, MODEL_DIR=str(model_dir))
    env.pop("REDIS_URL", None)
    backend = start_backend(env, port, work / "backend.log")
    url = f"http://127.0.0.1:{port}"
    summary = {"frames": args.frames, "videos": args.videos, "kb_per_frame": round(size / 1e3)}

    resets = []

    def predict_once(client: requests.Session, video: int, frame: int) -> float:
        """Seconds until the answer; a connection the server dropped (gunicorn closes idle keep-alive
        connections) is counted and the request sent again, its time included."""
        started = time.perf_counter()
        for attempt in range(3):
            try:
                answer = client.post(f"{url}/predict", json={"tasks": [task(video, frame)], "project": "1.1"},
                                     timeout=120)
                break
            except requests.ConnectionError:
                resets.append(time.perf_counter() - started)
                if attempt == 2:
                    raise
        seconds = time.perf_counter() - started  # the whole answer received (requests reads it all)
        answer.raise_for_status()
        # not parsed: decoding 270 KB of JSON costs the client more CPU than the server spends answering
        assert b'"result":[]' not in answer.content, "a stored frame answered empty"
        return seconds

    def concurrent_phase(seed: int) -> list[float]:
        def client_run(c: int) -> list[float]:
            own, picks = requests.Session(), random.Random(seed * 1000 + c)
            return [predict_once(own, picks.randrange(args.videos), picks.randrange(args.frames))
                    for _ in range(args.requests)]

        with ThreadPoolExecutor(args.clients) as pool:
            return [s for batch in pool.map(client_run, range(args.clients)) for s in batch]

    try:
        session = requests.Session()
        first = [predict_once(session, v, 0) for v in range(args.videos)]
        print(f"first /predict after a round: {', '.join(f'{1000 * s:.0f}' for s in first)} ms (one per video)")
        summary["first_ms"] = [round(1000 * s) for s in first]
        for i in range(8 * args.videos):  # every gunicorn process has read every video
            predict_once(session, i % args.videos, i)
        samples = concurrent_phase(1)
        print(f"/predict {args.clients} clients, steady: {percentiles(samples)}")
        summary["steady"] = percentiles(samples)

        stop = threading.Event()

        def worker_rounds() -> None:
            for number in range(2, 2 + args.rounds):
                if stop.wait(1.0):
                    return
                write_round(model_dir, number % args.videos, number, results)

        writer = threading.Thread(target=worker_rounds)
        writer.start()
        samples = []
        while writer.is_alive() or not samples:
            samples += concurrent_phase(len(samples) + 2)
        writer.join()
        print(f"/predict {args.clients} clients, while {args.rounds} rounds are written: {percentiles(samples)}")
        summary["during_rounds"] = percentiles(samples)

        tasks = [task(i % args.videos, (i // args.videos) % args.frames) for i in range(1000)]
        started = time.perf_counter()
        answer = session.post(f"{url}/predict", json={"tasks": tasks, "project": "1.1"}, timeout=100)
        answer.raise_for_status()
        seconds = time.perf_counter() - started
        assert all(r["result"] for r in answer.json()["results"])
        print(f"/predict 1,000 tasks in one call: {seconds:.2f} s, {len(answer.content) / 1e6:.0f} MB")
        summary["thousand_tasks_s"] = round(seconds, 2)
        summary["connections_reset"] = len(resets)
        print(f"connections reset by the server and retried: {len(resets)}")
        metrics = dict(line.split() for line in session.get(f"{url}/metrics", timeout=5).text.splitlines()
                       if line.startswith("vidseg_predict_"))  # one gunicorn process's counters
        per_task = float(metrics["vidseg_predict_seconds_total"]) / max(float(metrics["vidseg_predict_tasks_total"]), 1)
        print(f"server time inside predict (one process, all phases): {1000 * per_task:.2f} ms per task")
        summary["server_ms_per_task"] = round(1000 * per_task, 2)
        print(json.dumps(summary))
    finally:
        backend.terminate()
        backend.wait(timeout=60)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
