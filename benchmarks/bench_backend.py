"""Backend latency and retrain-loop benchmark.

    .venv/bin/python benchmarks/bench_backend.py [--skip-label-studio]

1. /predict p50/p99 answering from stored predictions (CamVid-sized brush masks), 1 and 16
   concurrent clients, and one "Retrieve predictions" call with 1,000 tasks;
2. /webhook p50/p99 (validate + coalesced enqueue on a real Redis);
3. with a real Label Studio 1.23.2 (.ls-venv): seconds from an annotation POST to refreshed
   predictions on all 101 frames of the CamVid clip, and the worker's peak memory (largest
   VmHWM among the backend's processes, the RQ work horse included).
The web runs under gunicorn (2 processes x 4 threads) exactly as `python -m vidseg serve` starts it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))
CAMVID = REPO.parent / "shared" / "data" / "camvid"
CONFIG = ('<View><Image name="image" value="$image"/><BrushLabels name="tag" toName="image">'
          + "".join(f'<Label value="{name}"/>' for name in
                    ("Sky", "Building", "Pole", "Road", "Pavement", "Tree", "SignSymbol", "Fence", "Car",
                     "Pedestrian", "Bicyclist"))
          + "</BrushLabels></View>")


def percentiles(samples: list[float]) -> str:
    ms = sorted(1000 * s for s in samples)
    p99 = ms[min(len(ms) - 1, int(round(0.99 * (len(ms) - 1))))]
    return f"p50 {statistics.median(ms):.1f} ms, p99 {p99:.1f} ms (n={len(ms)})"


def start_backend(env: dict, port: int, log: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "vidseg", "serve", "--host", "127.0.0.1", "--port", str(port), "--grace", "30"],
        cwd=REPO, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/health", timeout=1).ok:
                return process
        except requests.RequestException:
            time.sleep(0.2)
    raise RuntimeError(f"backend did not start; see {log}")


def store_camvid_predictions(model_dir: Path, videos: int) -> int:
    """Write predictions of `videos` copies of the CamVid clip (ground truth as the 'prediction')."""
    from vidseg.labelstudio.brush import label_map_to_results
    from vidseg.labelstudio.config import parse_label_config
    from vidseg.simulation.dataset import CAMVID_CLASSES, load_video
    from vidseg.store import Store

    video = load_video(CAMVID / "val", CAMVID / "valannot", ignore_index=11, class_names=CAMVID_CLASSES)
    config = parse_label_config(CONFIG)
    frames = {str(i): {"task_id": i, "result": label_map_to_results(labels, config), "score": 0.5, "cluster": None}
              for i, labels in enumerate(video.labels)}
    for v in range(videos):
        Store(model_dir).video(1, f"clip-{v}").write_predictions({"round": 1, "frames": frames})
    return len(video.labels)


def bench_web(args) -> None:
    from vidseg.redis_server import free_port

    work = Path(tempfile.mkdtemp(prefix="vidseg-bench-"))
    n_frames = store_camvid_predictions(work / "models", videos=10)
    port = free_port()
    env = dict(os.environ, MODEL_DIR=str(work / "models"))
    env.pop("REDIS_URL", None)
    backend = start_backend(env, port, work / "backend.log")
    url = f"http://127.0.0.1:{port}"
    session = requests.Session()

    def task(i: int) -> dict:
        video, frame = f"clip-{i % 10}", i % n_frames
        return {"id": i, "project": 1, "data": {"image": f"/data/upload/1/{video}_{frame}.png", "video": video,
                                                 "frame": frame}}

    def predict_once(i: int, client: requests.Session) -> float:
        started = time.perf_counter()
        answer = client.post(f"{url}/predict", json={"tasks": [task(i)], "project": "1.1"}, timeout=30)
        answer.raise_for_status()
        return time.perf_counter() - started

    try:
        for i in range(20):  # warm the store caches of both gunicorn processes
            predict_once(i, session)
        print("/predict 1 client:   ", percentiles([predict_once(i, session) for i in range(300)]))

        def client_run(c: int) -> list[float]:
            own = requests.Session()
            return [predict_once(c * 100 + i, own) for i in range(50)]

        with ThreadPoolExecutor(16) as pool:
            samples = [s for batch in pool.map(client_run, range(16)) for s in batch]
        print("/predict 16 clients: ", percentiles(samples))
        started = time.perf_counter()
        answer = session.post(f"{url}/predict", json={"tasks": [task(i) for i in range(1000)], "project": "1.1"},
                              timeout=100)
        answer.raise_for_status()
        print(f"/predict 1,000 tasks in one call: {time.perf_counter() - started:.2f} s, "
              f"{len(answer.content) / 1e6:.1f} MB")
        latencies = []
        for i in range(300):
            event = {"action": "ANNOTATION_CREATED", "project": {"id": 1}, "task": task(i), "annotation": {"id": i}}
            started = time.perf_counter()
            session.post(f"{url}/webhook", json=event, timeout=5).raise_for_status()
            latencies.append(time.perf_counter() - started)
        print("/webhook:            ", percentiles(latencies))
    finally:
        backend.terminate()
        backend.wait(timeout=60)


def peak_memory_mb(root_pid: int) -> float:
    """Largest peak RSS (VmHWM) among root_pid's descendants, in MB."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    peak, stack = 0.0, [root_pid]
    while stack:
        pid = stack.pop()
        stack.extend(children.get(pid, []))
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) / 1024)
        except OSError:
            pass
    return peak


def bench_retrain(args) -> None:
    from label_studio_server import free_port, start_label_studio

    from vidseg.admin import import_video
    from vidseg.labelstudio.brush import label_map_to_results
    from vidseg.labelstudio.client import LabelStudioClient
    from vidseg.labelstudio.config import parse_label_config
    from vidseg.settings import Settings
    from vidseg.simulation.dataset import CAMVID_CLASSES, load_video

    work = Path(tempfile.mkdtemp(prefix="vidseg-bench-ls-"))
    video = load_video(CAMVID / "val", CAMVID / "valannot", ignore_index=11, class_names=CAMVID_CLASSES)
    with start_label_studio(work / "ls", free_port(), work / "frames") as ls:
        client = LabelStudioClient(ls.url, ls.token)
        project = client.create_project("bench", CONFIG)["id"]
        port = free_port()
        env = dict(os.environ, MODEL_DIR=str(work / "models"), LABEL_STUDIO_URL=ls.url, LABEL_STUDIO_API_KEY=ls.token)
        env.pop("REDIS_URL", None)
        settings = Settings.from_env(env)
        import_video(client, settings, project, CAMVID / "val", "camvid", ls.frames_root, say=lambda _: None)
        backend = start_backend(env, port, work / "backend.log")
        url = f"http://127.0.0.1:{port}"
        try:
            from vidseg.admin import connect

            connect(client, settings, project, url, say=lambda _: None)
            tasks = client.video_tasks(project, "camvid")
            config = parse_label_config(CONFIG)
            rounds = []
            for frame in (50, 10, 90):
                labels = np.where(video.labels[frame] < 0, 0, video.labels[frame])
                before = requests.get(f"{url}/status/{project}/camvid", timeout=5).json()["videos"][0].get("round", 0)
                started = time.perf_counter()
                client.create_annotation(tasks[frame]["id"], label_map_to_results(labels, config))
                peak = 0.0
                while True:
                    status = requests.get(f"{url}/status/{project}/camvid", timeout=5).json()["videos"][0]
                    peak = max(peak, peak_memory_mb(backend.pid))
                    if status.get("state") == "failed":
                        raise RuntimeError(status.get("last_error"))
                    if status.get("round", 0) > before and status.get("state") == "idle":
                        break
                    time.sleep(0.5)
                seconds = time.perf_counter() - started
                rounds.append(seconds)
                print(f"annotation on frame {frame} -> predictions refreshed on all {len(tasks)} frames: "
                      f"{seconds:.1f} s (job {status.get('last_duration_s')} s), peak process memory {peak:.0f} MB")
            print(json.dumps({"annotation_to_refresh_s": rounds}))
        finally:
            backend.terminate()
            backend.wait(timeout=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-label-studio", action="store_true", help="only the web latency part")
    parser.add_argument("--skip-web", action="store_true", help="only the retrain loop part")
    args = parser.parse_args()
    if not args.skip_web:
        bench_web(args)
    if not args.skip_label_studio:
        bench_retrain(args)


if __name__ == "__main__":
    main()
