"""Backend latency and retrain-loop benchmark.

    .venv/bin/python benchmarks/bench_backend.py [--skip-label-studio]

1. /predict p50/p99 answering from stored predictions (CamVid-sized brush masks), 1 and 16
   concurrent clients, and one "Retrieve predictions" call with 1,000 tasks;
2. /webhook p50/p99 (validate + coalesced enqueue on a real Redis);
3. with a real Label Studio 1.23.2 (.ls-venv): seconds from an annotation POST to refreshed
   predictions on all 101 frames of the CamVid clip, and the worker's peak memory (largest
   VmHWM among the backend's processes, the RQ work horse included), with the seconds per job
   stage; `--frames 1000 --size 720x1280` times the same on the clip played back and forth up to
   1,000 frames and imported at 720p. The first annotation comes once the cold start is over.
The web runs under gunicorn exactly as `python -m vidseg serve` starts it (default 4 processes x 2
threads; `--web-configs 4x2,2x4` starts one server per layout and compares them side by side).

How /predict is loaded (benchmarks/load_clients.py): every client is its own process with one keep-alive
connection (http.client), sending one-task requests back to back; a request's time runs from sending it
to having read the whole answer. Clients used to be threads of this process (requests): they shared one
GIL, so a client waiting to parse its answer counted as server latency, and each spent twice the CPU.
The phases of all servers alternate in `--rounds` rounds, so load from other jobs on the machine hits
every layout alike; each line also gives the server's CPU per request (its processes' utime + stime)
and the clients', since both share the machine's cores.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
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


def start_backend(env: dict, port: int, log: Path, serve_args: tuple[str, ...] = ()) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "vidseg", "serve", "--host", "127.0.0.1", "--port", str(port), "--grace", "30",
         *serve_args],
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


def web_config(text: str) -> tuple[str, ...]:
    """ "2x4" -> `serve` arguments for 2 gunicorn processes of 4 threads each (x1: sync workers)."""
    workers, threads = (int(n) for n in text.lower().split("x"))
    return "--web-workers", str(workers), "--web-threads", str(threads)


def tree_cpu_seconds(root_pid: int) -> float:
    """User + system CPU seconds of root_pid and its descendants, now (for `serve`: gunicorn, and an idle RQ
    worker and Redis)."""
    ticks = os.sysconf("SC_CLK_TCK")
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stats[int(entry.name)] = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
    total, stack = 0.0, [root_pid]
    while stack:
        pid = stack.pop()
        stack.extend(child for child, fields in stats.items() if int(fields[1]) == pid)
        if pid in stats:
            total += (int(stats[pid][11]) + int(stats[pid][12])) / ticks  # utime, stime
    return total


def thread_clients(url: str, bodies_per_client: list[list[bytes]]) -> list[float]:
    """The load generator before load_clients: client threads in this process (requests), sharing its GIL.
    Kept to show how much of the latency it measured was its own."""

    def client_run(bodies: list[bytes]) -> list[float]:
        own, latencies = requests.Session(), []
        for body in bodies:
            started = time.perf_counter()
            own.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=120).raise_for_status()
            latencies.append(time.perf_counter() - started)
        return latencies

    with ThreadPoolExecutor(len(bodies_per_client)) as pool:
        return [s for batch in pool.map(client_run, bodies_per_client) for s in batch]


def bench_web(args) -> None:
    from load_clients import run_clients

    from vidseg.redis_server import free_port

    work = Path(tempfile.mkdtemp(prefix="vidseg-bench-"))
    n_frames = store_camvid_predictions(work / "models", videos=10)
    env = dict(os.environ, MODEL_DIR=str(work / "models"))
    env.pop("REDIS_URL", None)
    configs = args.web_configs.split(",")
    backends = {}

    def task(i: int) -> dict:
        video, frame = f"clip-{i % 10}", i % n_frames
        return {"id": i, "project": 1, "data": {"image": f"/data/upload/1/{video}_{frame}.png", "video": video,
                                                 "frame": frame}}

    def body(i: int) -> bytes:
        return json.dumps({"tasks": [task(i)], "project": "1.1"}).encode()

    phases = (1, 16, "threads") if args.thread_clients else (1, 16)
    samples = {(config, clients): [] for config in configs for clients in phases}
    server_cpu = {key: 0.0 for key in samples}
    client_cpu = {key: 0.0 for key in samples}
    try:
        for config in configs:  # all servers up at once: the phases below alternate between them
            port = free_port()
            backends[config] = port, start_backend(env, port, work / f"backend-{config}.log", web_config(config))
            run_clients("127.0.0.1", port, "/predict", [[body(i) for i in range(40)]])  # warm every process
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        for round_number in range(args.rounds):
            for config in configs:  # interleaved, so drifting load from other jobs hits every config alike
                port, backend = backends[config]
                for clients, per_client in ((1, 100), (16, 50)):
                    bodies = [[body(round_number * 10_000 + c * 100 + i) for i in range(per_client)]
                              for c in range(clients)]
                    cpu_before = tree_cpu_seconds(backend.pid)
                    latencies, cpu = run_clients("127.0.0.1", port, "/predict", bodies)
                    server_cpu[config, clients] += tree_cpu_seconds(backend.pid) - cpu_before
                    client_cpu[config, clients] += cpu
                    samples[config, clients] += latencies
                if args.thread_clients:
                    cpu_before, started_cpu = tree_cpu_seconds(backend.pid), time.process_time()
                    latencies = thread_clients(f"http://127.0.0.1:{port}/predict", [
                        [body(round_number * 10_000 + c * 100 + i) for i in range(50)] for c in range(16)])
                    server_cpu[config, "threads"] += tree_cpu_seconds(backend.pid) - cpu_before
                    client_cpu[config, "threads"] += time.process_time() - started_cpu
                    samples[config, "threads"] += latencies
        print(f"load average after:  {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        for config in configs:
            workers, threads = config.split("x")
            kind = "sync" if threads == "1" else "gthread"
            for clients in phases:
                key = config, clients
                n = len(samples[key])
                who = "16 client threads in this process" if clients == "threads" else f"{clients:>2} client(s)"
                print(f"/predict {config} ({workers} {kind} processes x {threads} threads), {who}: "
                      f"{percentiles(samples[key])}; CPU per request: server {1000 * server_cpu[key] / n:.2f} ms, "
                      f"clients {1000 * client_cpu[key] / n:.2f} ms")

        port, _ = backends[configs[0]]
        url = f"http://127.0.0.1:{port}"
        session = requests.Session()
        started = time.perf_counter()
        answer = session.post(f"{url}/predict", json={"tasks": [task(i) for i in range(1000)], "project": "1.1"},
                              timeout=100)
        answer.raise_for_status()
        print(f"/predict 1,000 tasks in one call ({configs[0]}): {time.perf_counter() - started:.2f} s, "
              f"{len(answer.content) / 1e6:.1f} MB")
        latencies = []
        for i in range(300):
            event = {"action": "ANNOTATION_CREATED", "project": {"id": 1}, "task": task(i), "annotation": {"id": i}}
            started = time.perf_counter()
            session.post(f"{url}/webhook", json=event, timeout=5).raise_for_status()
            latencies.append(time.perf_counter() - started)
        print(f"/webhook ({configs[0]}):    ", percentiles(latencies))
    finally:
        for _, backend in backends.values():
            backend.terminate()
        for _, backend in backends.values():
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


def stage_seconds(url: str) -> dict[str, float]:
    """Seconds spent so far in each retrain-job stage, summed over jobs, from the backend's /metrics."""
    sums = {}
    for line in requests.get(f"{url}/metrics", timeout=10).text.splitlines():
        if line.startswith("vidseg_job_stage_duration_seconds_sum{"):
            name, value = line.split("} ")
            sums[name.split('stage="')[1].rstrip('"')] = float(value)
    return sums


def video_status(url: str, project: int, after_round: int | None = None, poll=lambda: None) -> dict:
    """The bench video's /status entry; with ``after_round``, polled (``poll()`` on each look) until
    a later round is over, raising with the job's error if the round fails."""
    while True:
        status = requests.get(f"{url}/status/{project}/camvid", timeout=5).json()["videos"][0]
        if after_round is None:
            return status
        poll()
        if status.get("state") == "failed":
            raise RuntimeError(status.get("last_error"))
        if status.get("round", 0) > after_round and status.get("state") == "idle":
            return status
        time.sleep(0.5)


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
    source, shown = CAMVID / "val", np.arange(len(video.frames))  # frame i of the import is clip frame shown[i]
    if args.frames:  # the clip played back and forth up to --frames frames (links to its files)
        source = work / "long-video"
        source.mkdir()
        files = sorted((CAMVID / "val").glob("*.png"))
        shown = np.resize(np.r_[np.arange(len(files)), np.arange(len(files) - 2, 0, -1)], args.frames)
        for i, clip_frame in enumerate(shown):
            (source / f"{i:06d}.png").symlink_to(files[clip_frame])
    size = tuple(int(side) for side in args.size.split("x")) if args.size else None
    with start_label_studio(work / "ls", free_port(), work / "frames") as ls:
        client = LabelStudioClient(ls.url, ls.token)
        project = client.create_project("bench", CONFIG)["id"]
        port = free_port()
        env = dict(os.environ, MODEL_DIR=str(work / "models"), LABEL_STUDIO_URL=ls.url, LABEL_STUDIO_API_KEY=ls.token)
        env.pop("REDIS_URL", None)
        settings = Settings.from_env(env)
        started = time.perf_counter()
        import_video(client, settings, project, source, "camvid", ls.frames_root, size=size, say=lambda _: None)
        print(f"import-video of {len(shown)} frames{f' at {args.size}' if size else ''}: "
              f"{time.perf_counter() - started:.1f} s")
        backend = start_backend(env, port, work / "backend.log")
        url = f"http://127.0.0.1:{port}"
        try:
            from vidseg.admin import connect

            # connect queues the cold start on the backend's Redis (the private one `serve` started)
            private_redis = re.search(r"started a private Redis at (\S+)", (work / "backend.log").read_text())
            settings = replace(settings, redis_url=private_redis.group(1))
            started = time.perf_counter()
            connect(client, settings, project, url, say=lambda _: None)
            # As in a deployment, the annotators start once the cold start that connect queued is over
            # (its first selection published, the optical flow computed).
            video_status(url, project, after_round=0)
            print(f"cold start (connect to its round over, flow included): {time.perf_counter() - started:.1f} s")
            tasks = client.video_tasks(project, "camvid")
            config = parse_label_config(CONFIG)
            rounds = []
            for frame in [int(len(shown) * part) for part in (0.5, 0.1, 0.9)][:args.annotations]:
                labels = np.where(video.labels[shown[frame]] < 0, 0, video.labels[shown[frame]])
                if size is not None:
                    labels = cv2.resize(labels.astype(np.uint8), size[::-1], interpolation=cv2.INTER_NEAREST)
                before = video_status(url, project).get("round", 0)
                stages_before = stage_seconds(url)
                started = time.perf_counter()
                client.create_annotation(tasks[frame]["id"], label_map_to_results(labels, config))
                peaks = [0.0]
                status = video_status(url, project, after_round=before,
                                      poll=lambda peaks=peaks: peaks.append(peak_memory_mb(backend.pid)))
                peak = max(peaks)
                seconds = time.perf_counter() - started
                rounds.append(seconds)
                print(f"annotation on frame {frame} -> predictions refreshed on all {len(tasks)} frames: "
                      f"{seconds:.1f} s (job {status.get('last_duration_s')} s), peak process memory {peak:.0f} MB")
                for _ in range(20):  # the job adds its stages to the metrics just after it marks the round idle
                    stages = {name: total - stages_before.get(name, 0.0) for name, total in stage_seconds(url).items()}
                    if stages.get("publish", 0.0) > 0:
                        break
                    time.sleep(0.5)
                print("  stages: " + ", ".join(f"{name} {spent:.1f} s" for name, spent in stages.items()
                                               if spent > 0.05))
            print(json.dumps({"annotation_to_refresh_s": rounds}))
        finally:
            backend.terminate()
            backend.wait(timeout=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-label-studio", action="store_true", help="only the web latency part")
    parser.add_argument("--skip-web", action="store_true", help="only the retrain loop part")
    parser.add_argument("--web-configs", default="4x2",
                        help="gunicorn processes x threads to compare, comma-separated (the first also answers the "
                             "1,000-task and /webhook parts), e.g. 4x2,2x4,4x1")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds of the /predict phases")
    parser.add_argument("--frames", type=int, default=None,
                        help="retrain loop on a longer video: the clip played back and forth up to this many frames")
    parser.add_argument("--size", default=None, help="retrain loop: import the frames at HEIGHTxWIDTH, e.g. 720x1280")
    parser.add_argument("--annotations", type=int, default=3, help="retrain loop: annotations (rounds) to time")
    parser.add_argument("--thread-clients", action="store_true",
                        help="also load each layout with 16 client threads in this process (the generator before)")
    args = parser.parse_args()
    if not args.skip_web:
        bench_web(args)
    if not args.skip_label_studio:
        bench_retrain(args)


if __name__ == "__main__":
    main()
